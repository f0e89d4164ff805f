// Query-string and body parsing shared by the key-holder and admin APIs.
import { z } from 'zod';
import { errors, type GatewayError } from '../errors.js';

/** ISO-8601 date/time or epoch milliseconds. */
export const timeInput = z
  .union([z.number().int().nonnegative(), z.string().min(1)])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const asNumber = Number(value);
    const ms = /^\d+$/.test(value) ? asNumber : Date.parse(value);
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 time or epoch milliseconds' });
      return z.NEVER;
    }
    return ms;
  });

export const limitInput = z.coerce.number().int().min(1).max(1000).default(50);

export function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw invalid(result.error, where);
}

function invalid(error: z.ZodError, where: string): GatewayError {
  const issue = error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  return errors.invalidRequest(
    `Invalid ${where}: '${path || '(root)'}' ${issue?.message ?? 'is invalid'}.`,
    path || null,
  );
}
