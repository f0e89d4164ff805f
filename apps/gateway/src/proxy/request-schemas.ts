// Request bodies: known fields are checked, unknown fields are kept and forwarded as they are.
import { z } from 'zod';
import { errors, type GatewayError } from '../errors.js';

const tokenCap = z.number().int().positive().nullable().optional();

const common = {
  model: z.string().min(1, 'must be a non-empty model string'),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_tokens: tokenCap,
  n: z.number().int().min(1).max(128).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  user: z.string().optional(),
};

const message = z.looseObject({
  role: z.string().min(1),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()]).optional(),
});

export const chatCompletionBody = z.looseObject({
  ...common,
  messages: z.array(message).min(1, 'must contain at least one message'),
  max_completion_tokens: tokenCap,
});

export const completionBody = z.looseObject({
  ...common,
  prompt: z.union([
    z.string(),
    z.array(z.string()),
    z.array(z.number().int()),
    z.array(z.array(z.number().int())),
  ]),
  best_of: z.number().int().min(1).max(128).nullable().optional(),
});

export type CallBody = Record<string, unknown> & { model: string; stream?: boolean | null };

/** Parses a body or returns a 400 naming the first bad field (messages never quote input values). */
export function parseBody(
  schema: z.ZodType<Record<string, unknown>>,
  body: unknown,
): CallBody | GatewayError {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return errors.invalidRequest('The request body must be a JSON object.');
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data as CallBody;
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  const param = path || null;
  const what =
    issue?.code === 'invalid_type' && issue.message.includes('undefined') ? 'is required' : issue?.message;
  return errors.invalidRequest(`Invalid request body: '${path || '(body)'}' ${what ?? 'is invalid'}.`, param);
}
