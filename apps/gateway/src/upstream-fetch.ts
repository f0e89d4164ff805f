// How the gateway reaches upstreams: node:http(s) with keep-alive agents. The relay sends the
// providers' prepared requests with `UpstreamClient.send` and reads the raw IncomingMessage (no web
// Response, Headers or stream adapters per call: they were the largest non-database cost in
// profiles). `createUpstreamFetch` wraps the same client in the `fetch` contract for the providers'
// own calls (`GET /models`, providers that post-process responses): a web Response whose body
// streams as bytes arrive; the signal aborts the call (before or after the headers); network errors
// keep their `code` (ECONNREFUSED, …).
import type * as Http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { FetchFunction } from '@cascadia/providers';

// Loaded with require: the ESM facade of `node:http` reads every export, and one of them lazily
// loads undici (fetch, WebSocket), whose heap the gateway would then keep without using it.
const require = createRequire(import.meta.url);
const http = require('node:http') as typeof Http;
const https = require('node:https') as typeof Https;

export interface UpstreamRequest {
  method: string;
  /** Lower-case names; content-length is set here for string bodies. */
  headers: Record<string, string>;
  body?: string | undefined;
  signal?: AbortSignal | undefined;
}

interface Target {
  module: typeof Http | typeof Https;
  agent: Http.Agent;
  options: Http.RequestOptions;
}

export class UpstreamClient {
  private readonly agents: { http: Http.Agent; https: Https.Agent };
  /** Parsed targets by URL: the relay calls the same few URLs all the time. */
  private readonly targets = new Map<string, Target>();

  constructor(options: { maxSockets?: number } = {}) {
    const maxSockets = options.maxSockets ?? 512;
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets }),
      https: new https.Agent({ keepAlive: true, maxSockets }),
    };
  }

  private target(url: string): Target {
    let target = this.targets.get(url);
    if (target) return target;
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`unsupported protocol ${parsed.protocol}`);
    }
    const secure = parsed.protocol === 'https:';
    target = {
      module: secure ? https : http,
      agent: secure ? this.agents.https : this.agents.http,
      options: {
        protocol: parsed.protocol,
        hostname: parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname,
        port: parsed.port || undefined,
        path: `${parsed.pathname}${parsed.search}`,
      },
    };
    if (this.targets.size >= 1000) this.targets.clear();
    this.targets.set(url, target);
    return target;
  }

  /** Resolves with the response once its headers arrive; rejects on network errors or the signal. */
  send(url: string, request: UpstreamRequest): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const { signal, body } = request;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const { module, agent, options } = this.target(url);
      const headers = request.headers;
      if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
      const attempt = (retried: boolean) => {
        const outgoing = module.request(
          { ...options, method: request.method, headers, agent, signal },
          resolve,
        );
        outgoing.on('error', (error: NodeJS.ErrnoException) => {
          if (signal?.aborted) return reject(signal.reason);
          // A kept-alive socket the upstream closed just as it was reused fails before any byte of a
          // response; the request never reached the upstream's handler, so it is sent once more on a
          // fresh connection (the race Node's docs describe for `reusedSocket`).
          if (!retried && outgoing.reusedSocket && error.code === 'ECONNRESET') return attempt(true);
          reject(error);
        });
        outgoing.end(body);
      };
      attempt(false);
    });
  }
}

/**
 * The body of a response, whole; rejects if the upstream breaks it off (an error, or the response
 * closing before its end). With listeners rather than `for await`: the async iterator and its
 * promise per chunk cost about 20 us per call on the relay's hot path.
 */
export function readBody(response: IncomingMessage): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let ended = false;
    const onData = (chunk: Buffer) => chunks.push(chunk);
    const onEnd = () => {
      ended = true;
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      if (ended) return;
      cleanup();
      reject(
        Object.assign(new Error('upstream response closed before its end'), {
          code: 'ERR_STREAM_PREMATURE_CLOSE',
        }),
      );
    };
    const cleanup = () => {
      response.off('data', onData);
      response.off('end', onEnd);
      response.off('error', onError);
      response.off('close', onClose);
    };
    response.on('data', onData);
    response.on('end', onEnd);
    response.on('error', onError);
    response.on('close', onClose);
    if (response.destroyed) onError(response.errored ?? new Error('upstream response destroyed'));
  });
}

export function createUpstreamFetch(client: UpstreamClient = new UpstreamClient()): FetchFunction {
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const body = init.body;
    if (body !== undefined && body !== null && typeof body !== 'string') {
      throw new TypeError('upstream fetch sends string bodies only');
    }
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const method = init.method ?? 'GET';
    const response = await client.send(url, {
      method,
      headers,
      body: body ?? undefined,
      signal: init.signal ?? undefined,
    });
    const responseHeaders = new Headers();
    const raw = response.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
    const status = response.statusCode ?? 502;
    const empty = status === 204 || status === 304 || method === 'HEAD';
    if (empty) response.resume();
    return new Response(empty ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>), {
      status,
      statusText: response.statusMessage,
      headers: responseHeaders,
    });
  };
}
