import type { OpenAIErrorBody } from './types.js';

/**
 * Where the failure happened:
 * - `http`: the server answered with a non-2xx status (status, body and the error fields are set);
 * - `stream`: a 2xx stream carried an error event in place of a chunk;
 * - `connection`: no HTTP response at all (refused, reset, DNS) — status is 0;
 * - `timeout`: no response within the client's timeout — status is 0.
 */
export type OpenAICompatibleErrorKind = 'http' | 'stream' | 'connection' | 'timeout';

export interface OpenAICompatibleErrorInit {
  kind: OpenAICompatibleErrorKind;
  status: number;
  message: string;
  code?: string | null;
  type?: string | null;
  param?: string | null;
  body?: unknown;
  rawBody?: string | null;
  headers?: Record<string, string>;
  cause?: unknown;
}

/** Every failure of an OpenAI-compatible call (other than a caller's abort) surfaces as this error. */
export class OpenAICompatibleError extends Error {
  override readonly name = 'OpenAICompatibleError';
  readonly kind: OpenAICompatibleErrorKind;
  /** HTTP status of the failed response; 0 when there was none (connection, timeout). */
  readonly status: number;
  /** `error.code` of the OpenAI error body (e.g. `insufficient_quota`), when present. */
  readonly code: string | null;
  /** `error.type` of the OpenAI error body (e.g. `invalid_request_error`), when present. */
  readonly type: string | null;
  readonly param: string | null;
  /** The response body: parsed JSON when it was JSON, else the text; null when there was none. */
  readonly body: unknown;
  /** The response body exactly as received, when there was one. */
  readonly rawBody: string | null;
  /** Response headers (lower-case names), empty when there was no response. */
  readonly headers: Record<string, string>;

  constructor(init: OpenAICompatibleErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.status = init.status;
    this.code = init.code ?? null;
    this.type = init.type ?? null;
    this.param = init.param ?? null;
    this.body = init.body ?? null;
    this.rawBody = init.rawBody ?? null;
    this.headers = init.headers ?? {};
  }

  /** The `x-request-id` the server answered with, if any. */
  get requestId(): string | null {
    return this.headers['x-request-id'] ?? null;
  }
}

/** True for a well-formed OpenAI error body (`{ error: { message, ... } }`). */
export function isOpenAIErrorBody(value: unknown): value is OpenAIErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

/** Builds an OpenAI error body, for servers answering in the API's own error shape. */
export function openAIErrorBody(
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** True when an error means the caller aborted (an AbortSignal fired), in any runtime's spelling. */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'APIUserAbortError');
}
