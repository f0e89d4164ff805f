// The `fetch` the gateway hands to its providers: node:http(s) with keep-alive agents instead of
// the global (undici) fetch, whose per-call overhead showed up as the largest non-database cost in
// profiles. Same contract: a web Response whose body streams as bytes arrive; the signal aborts the
// call (before or after the headers); network errors keep their `code` (ECONNREFUSED, …).
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { FetchFunction } from '@cascadia/providers';

export function createUpstreamFetch(options: { maxSockets?: number } = {}): FetchFunction {
  const maxSockets = options.maxSockets ?? 512;
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets }),
    'https:': new https.Agent({ keepAlive: true, maxSockets }),
  };
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        reject(new TypeError(`unsupported protocol ${url.protocol}`));
        return;
      }
      const body = init.body;
      if (body !== undefined && body !== null && typeof body !== 'string') {
        reject(new TypeError('upstream fetch sends string bodies only'));
        return;
      }
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, name) => {
        headers[name] = value;
      });
      if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const module = url.protocol === 'https:' ? https : http;
      const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];
      const send = (retried: boolean) => {
        const request = module.request(
          url,
          { method: init.method ?? 'GET', headers, agent, signal },
          (response) => {
            const responseHeaders = new Headers();
            const raw = response.rawHeaders;
            for (let i = 0; i + 1 < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
            const status = response.statusCode ?? 502;
            const empty = status === 204 || status === 304 || init.method === 'HEAD';
            if (empty) response.resume();
            resolve(
              new Response(empty ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>), {
                status,
                statusText: response.statusMessage,
                headers: responseHeaders,
              }),
            );
          },
        );
        request.on('error', (error: NodeJS.ErrnoException) => {
          if (signal?.aborted) return reject(signal.reason);
          // A kept-alive socket the upstream closed just as it was reused fails before any byte of a
          // response; the request never reached the upstream's handler, so it is sent once more on a
          // fresh connection (the race Node's docs describe for `reusedSocket`).
          if (!retried && request.reusedSocket && error.code === 'ECONNRESET') return send(true);
          reject(error);
        });
        request.end(body ?? undefined);
      };
      send(false);
    });
}
