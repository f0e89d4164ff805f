// An upstream's answer as the relay reads it, over either way of calling: the providers' prepared
// request sent on node:http (the hot path: the IncomingMessage as it is), or a provider's own call
// (a web Response, for providers that post-process responses).
import type { IncomingMessage } from 'node:http';
import { readBody } from '../upstream-fetch.js';

export interface UpstreamAnswer {
  readonly status: number;
  /** A response header (lower-case name), or null. */
  header(name: string): string | null;
  /** The whole body; rejects if the upstream breaks it off. */
  bytes(): Promise<Buffer>;
  /** The body as it arrives; leaving the loop early closes the upstream response. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Some of the body arrived with the headers and waits to be read. */
  bodyWaiting(): boolean;
}

export function answerFromMessage(message: IncomingMessage): UpstreamAnswer {
  return {
    status: message.statusCode ?? 502,
    header(name) {
      const value = message.headers[name];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
    bytes: () => readBody(message),
    chunks: () => message,
    bodyWaiting: () => message.readableLength > 0,
  };
}

export function answerFromResponse(response: Response): UpstreamAnswer {
  return {
    status: response.status,
    header: (name) => response.headers.get(name),
    bytes: async () => Buffer.from(await response.arrayBuffer()),
    chunks: () => response.body ?? emptyBody(),
    bodyWaiting: () => false,
  };
}

async function* emptyBody(): AsyncIterable<Uint8Array> {}
