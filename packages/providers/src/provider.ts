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
 * The HTTP request a call would make, for a caller that sends it with its own HTTP client and relays
 * the raw response (a gateway on node:http, with no web `Response` and stream adapters per call).
 */
export interface PreparedUpstreamRequest {
  url: string;
  method: 'POST';
  /** Final upstream headers, lower-case names: credentials, configured headers, the caller's allowed ones. */
  headers: Record<string, string>;
  body: string;
  /** Time allowed until the response headers arrive (the body may stream longer); undefined: unbounded. */
  timeoutMs: number | undefined;
  /**
   * What the provider's own call would have rejected with, for a request that got no response:
   * UpstreamUnavailableError for network failures and (with `timedOut`) the header timeout, else
   * the error itself.
   */
  failure(error: unknown, timedOut: boolean): unknown;
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
  /**
   * The request `chatCompletions` / `completions` would send, without sending it. Null (or absent)
   * when the provider post-processes responses (`transformResponse`): then its calls must be used.
   */
  prepareCall?(
    endpoint: 'chat/completions' | 'completions',
    body: Record<string, unknown>,
    init?: ProviderCallInit,
  ): PreparedUpstreamRequest | null;
}

/** Environment variables as `process.env` holds them. */
export type Env = Record<string, string | undefined>;
