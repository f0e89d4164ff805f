import { describe, expect, it } from 'vitest';
import { TriageSchema } from '../lib/demos';
import { extractJsonObject, validateJsonOutput } from '../lib/json-output';

describe('extractJsonObject', () => {
  it('finds the object inside prose and code fences, honouring braces in strings', () => {
    expect(extractJsonObject('Sure! ```json\n{"a": {"b": "}"}}\n``` done')).toBe('{"a": {"b": "}"}}');
    expect(extractJsonObject('{"a": "\\"{"} tail')).toBe('{"a": "\\"{"}');
    expect(extractJsonObject('no json here')).toBeUndefined();
    expect(extractJsonObject('{"unterminated": 1')).toBeUndefined();
  });
});

describe('validateJsonOutput', () => {
  it('accepts and normalises a valid triage object', () => {
    const result = validateJsonOutput(
      'Here: {"name": " Dana", "request": "refund the extra charge", "urgent": true}',
      TriageSchema,
    );
    expect(result).toEqual({
      ok: true,
      value: { name: 'Dana', request: 'refund the extra charge', urgent: true },
      json: '{"name":"Dana","request":"refund the extra charge","urgent":true}',
    });
  });

  it('explains what is wrong: no object, unparsable, wrong fields', () => {
    expect(validateJsonOutput('I think it is billing', TriageSchema)).toMatchObject({
      ok: false,
      error: /did not write a JSON object/,
    });
    expect(validateJsonOutput('{"name": Dana}', TriageSchema)).toMatchObject({
      ok: false,
      error: /does not parse/,
    });
    const wrong = validateJsonOutput('{"name": "Dana", "request": "", "urgent": "yes"}', TriageSchema);
    expect(wrong.ok).toBe(false);
    if (!wrong.ok) {
      expect(wrong.error).toMatch(/request/);
      expect(wrong.error).toMatch(/urgent/);
    }
  });
});
