// Every error the gateway answers has OpenAI's shape: { error: { message, type, param, code } }.
import type { FastifyReply } from 'fastify';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class GatewayError extends Error {
  constructor(
    readonly statusCode: number,
    readonly type: string,
    readonly code: string | null,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const errors = {
  invalidRequest: (message: string, param: string | null = null, code: string | null = 'invalid_request') =>
    new GatewayError(400, 'invalid_request_error', code, message, param),
  missingKey: () =>
    new GatewayError(
      401,
      'authentication_error',
      'missing_api_key',
      'No API key provided. Send your virtual key as "Authorization: Bearer sk-cas-…".',
    ),
  invalidKey: (reason: 'unknown' | 'revoked' | 'expired') =>
    new GatewayError(
      401,
      'authentication_error',
      reason === 'unknown' ? 'invalid_api_key' : `key_${reason}`,
      reason === 'unknown'
        ? 'Invalid API key: no active virtual key matches the one provided.'
        : `Invalid API key: this virtual key has been ${reason}.`,
    ),
  budgetExceeded: (message: string) =>
    new GatewayError(402, 'insufficient_quota', 'budget_exceeded', message),
  modelUnpriced: (model: string) =>
    new GatewayError(
      402,
      'insufficient_quota',
      'model_unpriced',
      `Model '${model}' has no price configured, and this gateway does not serve unpriced models. Ask the operator to add a price for it.`,
      'model',
    ),
  modelNotAllowed: (model: string) =>
    new GatewayError(
      403,
      'permission_error',
      'model_not_allowed',
      `This key is not allowed to use model '${model}'.`,
      'model',
    ),
  modelNotFound: (model: string, detail?: string) =>
    new GatewayError(
      404,
      'invalid_request_error',
      'model_not_found',
      `The model '${model}' does not exist or is not routed by this gateway${detail ? ` (${detail})` : ''}.`,
      'model',
    ),
  notFound: (what: string) =>
    new GatewayError(404, 'invalid_request_error', 'not_found', `${what} not found.`),
  rateLimited: (limit: 'rpm' | 'tpm', max: number, retryAfterSeconds: number) =>
    new GatewayError(
      429,
      'rate_limit_error',
      'rate_limit_exceeded',
      limit === 'rpm'
        ? `Rate limit reached: this key allows ${max} requests per minute. Retry after ${retryAfterSeconds} s.`
        : `Rate limit reached: this key allows ${max} tokens per minute. Retry after ${retryAfterSeconds} s.`,
      null,
      { 'retry-after': String(retryAfterSeconds) },
    ),
  upstream: (message: string, statusCode: 502 | 504 = 502, code = 'upstream_error') =>
    new GatewayError(statusCode, 'upstream_error', code, message),
  adminDisabled: () =>
    new GatewayError(
      401,
      'authentication_error',
      'admin_disabled',
      'The admin API is disabled: GATEWAY_MASTER_KEY is not set on this gateway.',
    ),
  invalidMasterKey: () =>
    new GatewayError(
      401,
      'authentication_error',
      'invalid_master_key',
      'Invalid or missing master key for the admin API.',
    ),
};

export function sendError(reply: FastifyReply, error: GatewayError): FastifyReply {
  reply.code(error.statusCode);
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply.send(error.body());
}
