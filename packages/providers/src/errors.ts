// Type-only: importing @cascadia/openai at run time loads its client and the `openai` SDK (about 7 MB
// of heap in every process that routes calls), for an error body that is one object literal.
import type { OpenAIErrorBody } from '@cascadia/openai';

/**
 * Errors of this package. Each carries a stable `code`, the HTTP status a server should answer
 * with, and the matching OpenAI error body: unknown model → 404, invalid model string → 400,
 * provider configuration → 500, upstream unavailable → 502 (504 on timeout).
 */
export class ProviderError extends Error {
  readonly code: string;
  readonly httpStatus: number;
  /** The OpenAI error `type` of the body. */
  readonly errorType: string;
  /** The request field at fault, if any (`model`). */
  readonly param: string | null;

  constructor(
    code: string,
    message: string,
    answer: { httpStatus: number; errorType: string; param?: string | null },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.httpStatus = answer.httpStatus;
    this.errorType = answer.errorType;
    this.param = answer.param ?? null;
  }

  /** The body to answer with, in the API's own error shape. */
  toErrorBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.errorType, param: this.param, code: this.code } };
  }
}

/** The model string names no route and no registered provider. */
export class UnknownModelError extends ProviderError {
  override readonly name: string = 'UnknownModelError';
  readonly model: string;

  constructor(model: string, message?: string, code = 'unknown_model', httpStatus = 404) {
    super(code, message ?? `Unknown model '${model}': no route and no provider matches it`, {
      httpStatus,
      errorType: 'invalid_request_error',
      param: 'model',
    });
    this.model = model;
  }
}

/**
 * The model string is not `provider:model` or `provider/model` (and no alias matches it). A subclass
 * of UnknownModelError, so a caller that only cares whether the model resolved catches both.
 */
export class InvalidModelStringError extends UnknownModelError {
  override readonly name: string = 'InvalidModelStringError';
  readonly reason: string;

  constructor(model: string, reason: string) {
    super(
      model,
      `Invalid model string '${model}': ${reason}; expected 'provider:model' or 'provider/model'`,
      'invalid_model_string',
      400,
    );
    this.reason = reason;
  }
}

/** A provider or route is misconfigured (bad config file, missing environment variable, ...). */
export class ProviderConfigError extends ProviderError {
  override readonly name: string = 'ProviderConfigError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('provider_config_error', message, { httpStatus: 500, errorType: 'server_error' }, options);
  }
}

export type UpstreamFailure = 'connection_refused' | 'dns' | 'timeout' | 'connection_reset' | 'network';

/**
 * No HTTP response came back from the upstream. `httpStatus` is what a gateway should answer:
 * 504 for a timeout, 502 otherwise.
 */
export class UpstreamUnavailableError extends ProviderError {
  override readonly name: string = 'UpstreamUnavailableError';
  readonly provider: string;
  readonly reason: UpstreamFailure;
  declare readonly httpStatus: 502 | 504;

  constructor(provider: string, reason: UpstreamFailure, detail: string, options?: { cause?: unknown }) {
    super(
      reason === 'timeout' ? 'upstream_timeout' : 'upstream_unavailable',
      `Upstream of provider '${provider}' unavailable (${reason}): ${detail}`,
      { httpStatus: reason === 'timeout' ? 504 : 502, errorType: 'upstream_error' },
      options,
    );
    this.provider = provider;
    this.reason = reason;
  }
}
