/**
 * Errors of this package. Each carries a stable `code` a server can map to its answer:
 * unknown / invalid model → 400 or 404, provider configuration → 500, upstream unavailable → 502/504.
 */
export class ProviderError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The model string names no route and no registered provider. */
export class UnknownModelError extends ProviderError {
  override readonly name: string = 'UnknownModelError';
  readonly model: string;

  constructor(model: string, message?: string, code = 'unknown_model') {
    super(code, message ?? `Unknown model '${model}': no route and no provider matches it`);
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
    );
    this.reason = reason;
  }
}

/** A provider or route is misconfigured (bad config file, missing environment variable, ...). */
export class ProviderConfigError extends ProviderError {
  override readonly name: string = 'ProviderConfigError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('provider_config_error', message, options);
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
  readonly httpStatus: 502 | 504;

  constructor(provider: string, reason: UpstreamFailure, detail: string, options?: { cause?: unknown }) {
    super(
      reason === 'timeout' ? 'upstream_timeout' : 'upstream_unavailable',
      `Upstream of provider '${provider}' unavailable (${reason}): ${detail}`,
      options,
    );
    this.provider = provider;
    this.reason = reason;
    this.httpStatus = reason === 'timeout' ? 504 : 502;
  }
}
