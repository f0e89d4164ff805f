export interface ProviderCallInit {
  signal?: AbortSignal;
  /**
   * Extra request headers (e.g. `x-request-id`). `authorization` is ignored: the provider owns the
   * upstream credentials, and a caller's own token must never travel upstream.
   */
  headers?: Record<string, string>;
  /** The upstream model id to put in the body's `model`; when absent the body's `model` is sent. */
  model?: string;
}

/**
 * An upstream that speaks the OpenAI API. Calls return the raw fetch Response (status, headers and a
 * body that is not read or buffered) so callers pass the bytes through unchanged. They reject only
 * when no response arrives: UpstreamUnavailableError, or the caller's AbortError.
 */
export interface Provider {
  readonly name: string;
  /** `POST /chat/completions` with the body unchanged except `model`. */
  chatCompletions(body: Record<string, unknown>, init?: ProviderCallInit): Promise<Response>;
  /** `POST /completions` (legacy) with the body unchanged except `model`. */
  completions(body: Record<string, unknown>, init?: ProviderCallInit): Promise<Response>;
  /** `GET /models`. */
  models(init?: ProviderCallInit): Promise<Response>;
}

/** Environment variables as `process.env` holds them. */
export type Env = Record<string, string | undefined>;
