/**
 * Errors of this app's API in the OpenAI error shape, and the translation of upstream failures
 * (gateway, mesh, network) into messages a visitor understands. Upstream text passes through
 * `redact` so the virtual key can never be echoed back.
 */
import type { ApiErrorBody } from '../api-types';

export function errorResponse(status: number, code: string, message: string, type = 'invalid_request_error') {
  const body: ApiErrorBody = { error: { message, type, param: null, code } };
  return Response.json(body, { status, headers: { 'cache-control': 'no-store' } });
}

export function redact(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return text.split(secret).join('[redacted]');
}

/** The message and code of an upstream error body, whatever its shape. */
function upstreamMessage(bodyText: string): { message?: string; code?: string } {
  try {
    const body = JSON.parse(bodyText) as {
      error?: { message?: unknown; code?: unknown } | string;
      message?: unknown;
    };
    if (typeof body.error === 'string') return { message: body.error };
    const message = body.error?.message ?? body.message;
    const code = body.error?.code;
    return {
      message: typeof message === 'string' ? message : undefined,
      code: typeof code === 'string' ? code : undefined,
    };
  } catch {
    return { message: bodyText.trim() ? bodyText.trim() : undefined };
  }
}

export interface UpstreamFailure {
  status: number;
  code: string;
  message: string;
}

/** Maps a non-2xx gateway response to what the visitor sees and the status this app answers with. */
export function describeGatewayFailure(
  status: number,
  bodyText: string,
  secret: string | undefined,
): UpstreamFailure {
  const upstream = upstreamMessage(bodyText);
  const detail = upstream.message
    ? redact(upstream.message, secret).slice(0, 300).replace(/\.$/, '')
    : undefined;
  const suffix = detail ? ` (gateway said: ${detail})` : '';
  if (status === 402) {
    return {
      status: 402,
      code: 'budget_exhausted',
      message: `The demo's budget is used up, so the gateway refuses new calls until it is raised or resets${suffix}.`,
    };
  }
  if (status === 401 || status === 403) {
    return { status: 502, code: 'gateway_auth', message: `The gateway rejected this app's key${suffix}.` };
  }
  if (status === 429) {
    return {
      status: 429,
      code: 'rate_limited',
      message: `Too many requests right now; try again shortly${suffix}.`,
    };
  }
  if (status === 404 || upstream.code === 'model_not_found') {
    return {
      status: 502,
      code: 'model_unavailable',
      message: `The gateway does not offer the demo model${suffix}.`,
    };
  }
  if (status >= 500) {
    return {
      status: 503,
      code: 'mesh_unavailable',
      message: `The inference mesh behind the gateway is not answering (status ${status})${suffix}.`,
    };
  }
  return {
    status: 502,
    code: upstream.code ?? 'gateway_error',
    message: `The gateway refused the call${suffix}.`,
  };
}

export function describeNetworkFailure(err: unknown, what: string): UpstreamFailure {
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  const reason =
    (err as Error).name === 'TimeoutError' ? 'it did not answer in time' : (cause ?? 'connection failed');
  return { status: 503, code: 'gateway_unreachable', message: `The ${what} is unreachable: ${reason}.` };
}
