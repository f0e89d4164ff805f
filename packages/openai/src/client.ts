import OpenAI from 'openai';
import { OpenAICompatibleError } from './errors.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  Completion,
  CompletionChunk,
  CompletionRequest,
  ModelList,
} from './types.js';

export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Base URL including the version prefix, e.g. `http://127.0.0.1:9090/v1`. */
  baseURL: string;
  /** Bearer token. Omit (or pass null / '') for keyless servers: no Authorization header is sent. */
  apiKey?: string | null;
  /** A fetch implementation; defaults to the global fetch. */
  fetch?: FetchFunction;
  /** Headers sent with every request. */
  defaultHeaders?: Record<string, string>;
  /** Time allowed until the response headers arrive (a stream may then run longer). Default 10 min. */
  timeoutMs?: number;
  /** Retries on 408/409/429/5xx and connection errors, with backoff. Default 0: a relay decides itself. */
  maxRetries?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Extra headers for this call (e.g. `x-request-id`). */
  headers?: Record<string, string>;
}

export interface OpenAICompatibleClient {
  readonly baseURL: string;
  chat: {
    /** Non-streamed chat completion; the parsed response keeps every field the server sent. */
    create(request: ChatCompletionRequest, options?: CallOptions): Promise<ChatCompletion>;
    /** Same as the client's `stream`. */
    stream(request: ChatCompletionRequest, options?: CallOptions): AsyncIterable<ChatCompletionChunk>;
  };
  /** Streamed chat completion (`stream: true` is set); yields each chunk as the server sent it. */
  stream(request: ChatCompletionRequest, options?: CallOptions): AsyncIterable<ChatCompletionChunk>;
  completions: {
    create(request: CompletionRequest, options?: CallOptions): Promise<Completion>;
    stream(request: CompletionRequest, options?: CallOptions): AsyncIterable<CompletionChunk>;
  };
  /** `GET /models` as the server answered it. */
  models(options?: CallOptions): Promise<ModelList>;
}

/**
 * The SDK refuses to start without credentials; keyless servers get this placeholder, and the fetch
 * wrapper removes the Authorization header it produces before anything leaves the process.
 */
const KEYLESS_PLACEHOLDER = 'keyless';

/** Statuses whose responses cannot carry a body (the Response constructor rejects one). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** Creates a client for any OpenAI-compatible base URL, built on the official `openai` package. */
export function createClient(options: ClientOptions): OpenAICompatibleClient {
  const keyless = !options.apiKey;
  const baseFetch: FetchFunction = options.fetch ?? ((input, init) => fetch(input, init));
  // The SDK keeps only `error` of a JSON error body and drops non-JSON bodies into its message; the
  // raw text is recorded here, keyed by the response's Headers object the SDK hands to its error.
  const rawErrorBodies = new WeakMap<Headers, string>();

  const transport: FetchFunction = async (input, init) => {
    let requestInit = init;
    if (keyless) {
      const headers = new Headers(init?.headers);
      headers.delete('authorization');
      requestInit = { ...init, headers };
    }
    const response = await baseFetch(input, requestInit);
    if (response.ok || NULL_BODY_STATUSES.has(response.status)) return response;
    const text = await response.text();
    const copy = new Response(text, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    rawErrorBodies.set(copy.headers, text);
    return copy;
  };

  const sdk = new OpenAI({
    baseURL: options.baseURL,
    apiKey: keyless ? KEYLESS_PLACEHOLDER : options.apiKey,
    // Explicit nulls: the SDK would otherwise pick these up from OPENAI_* environment variables and
    // send them to whatever server this client talks to.
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    fetch: transport,
    defaultHeaders: { ...withoutEnvHeaders(), ...options.defaultHeaders },
    // The SDK would log through console at OPENAI_LOG's level (debug includes prompts); failures
    // reach the caller as thrown errors instead.
    logLevel: 'off',
    timeout: options.timeoutMs,
    maxRetries: options.maxRetries ?? 0,
    // With no key there is no secret to protect, so browser use is fine.
    dangerouslyAllowBrowser: keyless,
  });

  const mapError = (error: unknown, signal: AbortSignal | undefined): unknown => {
    if (signal?.aborted) return abortReason(signal);
    return toClientError(error, rawErrorBodies);
  };

  const requestOptions = (call: CallOptions | undefined) => ({
    signal: call?.signal,
    headers: call?.headers,
  });

  async function createChat(request: ChatCompletionRequest, call?: CallOptions): Promise<ChatCompletion> {
    try {
      const body = nonStreaming(request) as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;
      return (await sdk.chat.completions.create(body, requestOptions(call))) as unknown as ChatCompletion;
    } catch (error) {
      throw mapError(error, call?.signal);
    }
  }

  async function* streamChat(
    request: ChatCompletionRequest,
    call?: CallOptions,
  ): AsyncGenerator<ChatCompletionChunk, void, undefined> {
    const body = { ...request, stream: true } as unknown as OpenAI.ChatCompletionCreateParamsStreaming;
    yield* relay<ChatCompletionChunk>(
      () => sdk.chat.completions.create(body, requestOptions(call)),
      call,
      mapError,
    );
  }

  async function createCompletion(request: CompletionRequest, call?: CallOptions): Promise<Completion> {
    try {
      const body = nonStreaming(request) as unknown as OpenAI.CompletionCreateParamsNonStreaming;
      return (await sdk.completions.create(body, requestOptions(call))) as unknown as Completion;
    } catch (error) {
      throw mapError(error, call?.signal);
    }
  }

  async function* streamCompletion(
    request: CompletionRequest,
    call?: CallOptions,
  ): AsyncGenerator<CompletionChunk, void, undefined> {
    const body = { ...request, stream: true } as unknown as OpenAI.CompletionCreateParamsStreaming;
    yield* relay<CompletionChunk>(() => sdk.completions.create(body, requestOptions(call)), call, mapError);
  }

  async function models(call?: CallOptions): Promise<ModelList> {
    try {
      return await sdk.get<ModelList>('/models', requestOptions(call));
    } catch (error) {
      throw mapError(error, call?.signal);
    }
  }

  return {
    baseURL: options.baseURL,
    chat: { create: createChat, stream: streamChat },
    stream: streamChat,
    completions: { create: createCompletion, stream: streamCompletion },
    models,
  };
}

/**
 * Runs an SDK stream and re-yields its items. The SDK ends a stream quietly when its signal fires;
 * a caller's abort is turned into a thrown AbortError here so it cannot be mistaken for a finished
 * stream.
 */
async function* relay<T>(
  start: () => PromiseLike<AsyncIterable<unknown>>,
  call: CallOptions | undefined,
  mapError: (error: unknown, signal: AbortSignal | undefined) => unknown,
): AsyncGenerator<T, void, undefined> {
  const signal = call?.signal;
  try {
    const stream = await start();
    for await (const item of stream) {
      if (signal?.aborted) break;
      yield item as T;
    }
  } catch (error) {
    throw mapError(error, signal);
  }
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * The SDK adds the headers listed in OPENAI_CUSTOM_HEADERS to every request; they are meant for
 * api.openai.com, so each is cancelled here (a null default header removes it).
 */
function withoutEnvHeaders(): Record<string, null> {
  const listed = typeof process === 'undefined' ? undefined : process.env?.OPENAI_CUSTOM_HEADERS;
  const out: Record<string, null> = {};
  for (const line of listed?.split('\n') ?? []) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon).trim()] = null;
  }
  return out;
}

/** The body for a non-streamed call: untouched unless it asked for a stream. */
function nonStreaming<T extends { stream?: boolean | null }>(request: T): T {
  return request.stream ? { ...request, stream: false } : request;
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}

function headersToRecord(headers: Headers | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  headers?.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

function parseJSON(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function stringOrNull(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

/** Maps what the SDK throws to OpenAICompatibleError; anything else passes unchanged. */
function toClientError(error: unknown, rawErrorBodies: WeakMap<Headers, string>): unknown {
  if (error instanceof OpenAICompatibleError) return error;
  if (error instanceof OpenAI.APIUserAbortError) return new DOMException(error.message, 'AbortError');
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new OpenAICompatibleError({ kind: 'timeout', status: 0, message: error.message, cause: error });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    const cause = error.cause instanceof Error ? error.cause : undefined;
    const detail = cause?.cause instanceof Error ? cause.cause.message : cause?.message;
    return new OpenAICompatibleError({
      kind: 'connection',
      status: 0,
      message: detail ? `${error.message} ${detail}` : error.message,
      cause: error,
    });
  }
  if (error instanceof OpenAI.APIError) {
    const fields = (typeof error.error === 'object' && error.error !== null ? error.error : {}) as Record<
      string,
      unknown
    >;
    if (error.status === undefined) {
      // An error event inside a 2xx stream.
      const message = typeof fields.message === 'string' ? fields.message : error.message;
      return new OpenAICompatibleError({
        kind: 'stream',
        status: 0,
        message,
        code: stringOrNull(fields.code),
        type: stringOrNull(fields.type),
        param: stringOrNull(fields.param),
        body: { error: error.error },
        headers: headersToRecord(error.headers),
        cause: error,
      });
    }
    const rawBody = error.headers ? (rawErrorBodies.get(error.headers) ?? null) : null;
    const parsed = rawBody === null ? undefined : parseJSON(rawBody);
    const body = parsed !== undefined ? parsed : rawBody;
    let message: string;
    if (typeof fields.message === 'string') message = fields.message;
    else if (rawBody) message = `HTTP ${error.status}: ${rawBody.slice(0, 500)}`;
    else message = `HTTP ${error.status}`;
    return new OpenAICompatibleError({
      kind: 'http',
      status: error.status,
      message,
      code: stringOrNull(fields.code),
      type: stringOrNull(fields.type),
      param: stringOrNull(fields.param),
      body,
      rawBody,
      headers: headersToRecord(error.headers),
      cause: error,
    });
  }
  if (error instanceof SyntaxError) {
    return new OpenAICompatibleError({ kind: 'stream', status: 0, message: error.message, cause: error });
  }
  return error;
}
