import { ProviderConfigError, type UpstreamFailure, UpstreamUnavailableError } from './errors.js';
import type { PreparedUpstreamRequest, Provider, ProviderCallInit } from './provider.js';

export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface RequestTransformContext {
  provider: string;
  endpoint: 'chat/completions' | 'completions';
  /** The upstream model id for this call, when one was given. */
  model: string | undefined;
}

export interface ResponseTransformContext {
  provider: string;
  endpoint: 'chat/completions' | 'completions' | 'models';
}

export interface OpenAICompatibleProviderSettings {
  name: string;
  /** Base URL including the version prefix, e.g. `http://localhost:9090/v1`. */
  baseURL: string;
  /** Sent as `Authorization: Bearer <apiKey>`; omit for keyless upstreams. */
  apiKey?: string | null;
  /** Headers sent with every call (after the caller's, so they win). */
  headers?: Record<string, string>;
  /** Builds the body sent upstream. Default: the caller's body with `model` replaced, nothing else. */
  transformRequest?: (
    body: Record<string, unknown>,
    context: RequestTransformContext,
  ) => Record<string, unknown>;
  /** Post-processes the upstream response. Default: none, the raw Response is returned. */
  transformResponse?: (response: Response, context: ResponseTransformContext) => Response | Promise<Response>;
  /** Time allowed until the upstream's response headers arrive; the body may stream longer. */
  timeoutMs?: number;
  fetch?: FetchFunction;
}

/**
 * Headers a caller cannot pass upstream: credentials (the provider owns them), hop-by-hop headers
 * of the caller's own connection, and framing this provider sets itself for the body it sends.
 */
const CALLER_HEADERS_NOT_FORWARDED = new Set([
  'authorization',
  'proxy-authorization',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'content-length',
  'content-encoding',
  'accept-encoding',
]);

/** The default request transform: replace `model` (keeping its position), touch nothing else. */
export function replaceModel(
  body: Record<string, unknown>,
  context: RequestTransformContext,
): Record<string, unknown> {
  if (context.model === undefined) return body;
  return { ...body, model: context.model };
}

/** The shared core every OpenAI-compatible provider is a configuration of. */
export function createOpenAICompatibleProvider(settings: OpenAICompatibleProviderSettings): Provider {
  const { name } = settings;
  const base = normalizeBaseURL(name, settings.baseURL);
  const transformRequest = settings.transformRequest ?? replaceModel;
  const doFetch: FetchFunction = settings.fetch ?? ((input, init) => fetch(input, init));

  // The headers every call carries, computed once (they win over the caller's). fetch would otherwise
  // ask for gzip/br and decompress transparently, leaving the Response with decoded bytes under the
  // upstream's content-encoding and content-length: a relay forwarding both would send a broken
  // message. Uncompressed, bytes and headers stay consistent and a stream is not held back by a
  // decompressor. Without a key the call is keyless, unless the configured headers carry a scheme of
  // their own.
  const fixedHeaders = (json: boolean): Record<string, string> => {
    // Lower-case names, as Headers would make them (a plain object: no web Headers per provider).
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(settings.headers ?? {})) headers[key.toLowerCase()] = value;
    if (json) headers['content-type'] = 'application/json';
    headers['accept-encoding'] = 'identity';
    if (settings.apiKey) headers.authorization = `Bearer ${settings.apiKey}`;
    return headers;
  };
  const fixedJsonHeaders = fixedHeaders(true);
  const fixedBodylessHeaders = fixedHeaders(false);

  const headersFor = (init: ProviderCallInit | undefined, json: boolean): Record<string, string> => {
    const headers: Record<string, string> = {};
    if (init?.headers) {
      for (const [key, value] of Object.entries(init.headers)) {
        const lower = key.toLowerCase();
        if (!CALLER_HEADERS_NOT_FORWARDED.has(lower)) headers[lower] = value;
      }
    }
    return Object.assign(headers, json ? fixedJsonHeaders : fixedBodylessHeaders);
  };

  /** What a call that got no response rejects with (the caller's own abort passes through). */
  const noResponse = (error: unknown, timedOut: boolean): unknown => {
    if (timedOut) {
      return new UpstreamUnavailableError(name, 'timeout', `no response within ${settings.timeoutMs} ms`, {
        cause: error,
      });
    }
    const failure = classifyFetchFailure(error);
    if (failure) return new UpstreamUnavailableError(name, failure.reason, failure.detail, { cause: error });
    return error;
  };

  const call = async (
    endpoint: ResponseTransformContext['endpoint'],
    method: 'GET' | 'POST',
    payload: string | undefined,
    init: ProviderCallInit | undefined,
  ): Promise<Response> => {
    const timeout = settings.timeoutMs === undefined ? undefined : new AbortController();
    const timer =
      timeout === undefined
        ? undefined
        : setTimeout(
            () => timeout.abort(new DOMException('upstream response timed out', 'TimeoutError')),
            settings.timeoutMs,
          );
    const signals = [init?.signal, timeout?.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal =
      signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    let response: Response;
    try {
      response = await doFetch(`${base}/${endpoint}`, {
        method,
        headers: headersFor(init, payload !== undefined),
        body: payload,
        signal,
      });
    } catch (error) {
      if (init?.signal?.aborted) throw error;
      throw noResponse(error, timeout?.signal.aborted === true);
    } finally {
      // Headers arrived (or the call failed): the timeout no longer applies, the stream may run on.
      if (timer !== undefined) clearTimeout(timer);
    }
    return settings.transformResponse
      ? settings.transformResponse(response, { provider: name, endpoint })
      : response;
  };

  const payloadFor = (
    endpoint: 'chat/completions' | 'completions',
    body: Record<string, unknown>,
    init: ProviderCallInit | undefined,
  ) => JSON.stringify(transformRequest(body, { provider: name, endpoint, model: init?.model }));

  const post = (
    endpoint: 'chat/completions' | 'completions',
    body: Record<string, unknown>,
    init: ProviderCallInit | undefined,
  ) => call(endpoint, 'POST', payloadFor(endpoint, body, init), init);

  const prepareCall = (
    endpoint: 'chat/completions' | 'completions',
    body: Record<string, unknown>,
    init?: ProviderCallInit,
  ): PreparedUpstreamRequest | null => {
    // A response transform needs the web Response: such providers are called, not prepared.
    if (settings.transformResponse) return null;
    return {
      url: `${base}/${endpoint}`,
      method: 'POST',
      headers: headersFor(init, true),
      body: payloadFor(endpoint, body, init),
      timeoutMs: settings.timeoutMs,
      failure: noResponse,
    };
  };

  return {
    name,
    chatCompletions: (body, init) => post('chat/completions', body, init),
    completions: (body, init) => post('completions', body, init),
    models: (init) => call('models', 'GET', undefined, init),
    prepareCall,
  };
}

function normalizeBaseURL(provider: string, baseURL: string): string {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    throw new ProviderConfigError(`Provider '${provider}': base URL is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProviderConfigError(`Provider '${provider}': base URL must be http(s), got '${url.protocol}'`);
  }
  if (url.username || url.password) {
    throw new ProviderConfigError(
      `Provider '${provider}': base URL must not carry credentials; use the api key setting instead`,
    );
  }
  return baseURL.replace(/\/+$/, '');
}

const NETWORK_CODES: Record<string, UpstreamFailure> = {
  ECONNREFUSED: 'connection_refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  UND_ERR_SOCKET: 'connection_reset',
  EHOSTUNREACH: 'network',
  ENETUNREACH: 'network',
  ECONNABORTED: 'network',
};

/** Recognises fetch's "no response" failures; undici wraps the system error in `cause`. */
function classifyFetchFailure(error: unknown): { reason: UpstreamFailure; detail: string } | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code in NETWORK_CODES) {
      return { reason: NETWORK_CODES[code]!, detail: code };
    }
    if (current instanceof AggregateError && current.errors.length > 0) {
      current = current.errors[0];
    } else {
      current = current.cause;
    }
  }
  if (error instanceof TypeError && error.message === 'fetch failed') {
    return { reason: 'network', detail: error.cause instanceof Error ? error.cause.message : 'fetch failed' };
  }
  return undefined;
}
