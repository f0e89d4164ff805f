/**
 * Validation of a structured-output step: find the JSON object in what a small model wrote
 * (it may wrap it in prose or a code fence), parse it, and check it against the step's schema.
 */
import type { z } from 'zod';

export type JsonOutputResult = { ok: true; value: unknown; json: string } | { ok: false; error: string };

/** The first balanced `{...}` in the text, honouring strings and escapes; undefined when none. */
export function extractJsonObject(text: string): string | undefined {
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}') {
      depth--;
      if (depth === 0) return text.slice(start, i + 1);
    }
  }
  return undefined;
}

export function validateJsonOutput(text: string, schema: z.ZodType): JsonOutputResult {
  const candidate = extractJsonObject(text);
  if (candidate === undefined) return { ok: false, error: 'the model did not write a JSON object' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(candidate);
  } catch (err) {
    return { ok: false, error: `the JSON does not parse (${(err as Error).message})` };
  }
  const checked = schema.safeParse(parsed);
  if (!checked.success) {
    const issues = checked.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.') || 'value'}: ${issue.message}`)
      .join('; ');
    return { ok: false, error: `the JSON does not match the expected fields (${issues})` };
  }
  return { ok: true, value: checked.data, json: JSON.stringify(checked.data) };
}
