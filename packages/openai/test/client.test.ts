import { type FakeUpstream, gate, sendJSON, startUpstream } from '@cascadia/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  createClient,
  formatSSE,
  isAbortError,
  OpenAICompatibleError,
  SSE_DONE,
} from '../src/index.js';
import { CASCADIA, COMPLETION, chunk, FINAL_CHUNK } from './fixtures.js';

let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startUpstream();
});

afterAll(async () => {
  await upstream.close();
});

afterEach(() => {
  upstream.requests.length = 0;
});

const REQUEST: ChatCompletionRequest = {
  model: 'smollm2-135m-instruct',
  messages: [{ role: 'user', content: 'Say hello' }],
  temperature: 0,
  max_tokens: 8,
  vendor_option: { keep: ['me', 1, null] },
};

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('chat.create', () => {
  it('returns the response with unknown fields and the cascadia block intact', async () => {
    upstream.handle((_req, res) => sendJSON(res, 200, COMPLETION));
    const client = createClient({ baseURL: upstream.baseURL, apiKey: 'sk-test-123' });
    const completion = await client.chat.create(REQUEST);
    expect(completion).toEqual(COMPLETION);
    expect(completion.cascadia?.receipt.kind).toBe('mesh');
    expect(completion.cascadia?.node_ids).toEqual(CASCADIA.node_ids);
  });

  it('sends the request body with every field, and the bearer key', async () => {
    upstream.handle((_req, res) => sendJSON(res, 200, COMPLETION));
    const client = createClient({ baseURL: upstream.baseURL, apiKey: 'sk-test-123' });
    await client.chat.create(REQUEST);
    const [seen] = upstream.requests;
    expect(seen?.method).toBe('POST');
    expect(seen?.url).toBe('/v1/chat/completions');
    expect(seen?.headers.authorization).toBe('Bearer sk-test-123');
    expect(JSON.parse(seen?.rawBody ?? '')).toEqual(REQUEST);
  });

  it('turns off a stream flag the request carried, since create returns one response', async () => {
    upstream.handle((_req, res) => sendJSON(res, 200, COMPLETION));
    const completion = await createClient({ baseURL: upstream.baseURL }).chat.create({
      ...REQUEST,
      stream: true,
    });
    expect(completion).toEqual(COMPLETION);
    expect(JSON.parse(upstream.requests[0]?.rawBody ?? '')).toEqual({ ...REQUEST, stream: false });
  });

  it('sends default and per-call headers', async () => {
    upstream.handle((_req, res) => sendJSON(res, 200, COMPLETION));
    const client = createClient({ baseURL: upstream.baseURL, defaultHeaders: { 'x-team': 'mesh' } });
    await client.chat.create(REQUEST, { headers: { 'x-request-id': 'abc-123' } });
    expect(upstream.requests[0]?.headers['x-team']).toBe('mesh');
    expect(upstream.requests[0]?.headers['x-request-id']).toBe('abc-123');
  });
});

describe('keyless use', () => {
  it('sends no Authorization header on any call', async () => {
    upstream.handle((req, res) => {
      if (req.url.endsWith('/models')) sendJSON(res, 200, { object: 'list', data: [] });
      else if (JSON.parse(req.rawBody).stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(formatSSE(FINAL_CHUNK) + SSE_DONE);
      } else sendJSON(res, 200, COMPLETION);
    });
    for (const apiKey of [undefined, null, '']) {
      const client = createClient({ baseURL: upstream.baseURL, apiKey });
      await client.chat.create(REQUEST);
      for await (const _ of client.stream(REQUEST)) {
        // drain
      }
      await client.models();
    }
    expect(upstream.requests).toHaveLength(9);
    for (const request of upstream.requests) {
      expect(request.headers).not.toHaveProperty('authorization');
    }
  });

  it('does not pick up OPENAI_* environment settings meant for api.openai.com', async () => {
    upstream.handle((_req, res) => sendJSON(res, 200, COMPLETION));
    const settings: Record<string, string> = {
      OPENAI_API_KEY: 'sk-from-env',
      OPENAI_ORG_ID: 'org-from-env',
      OPENAI_PROJECT_ID: 'proj-from-env',
      OPENAI_BASE_URL: 'http://127.0.0.1:1/v1',
      OPENAI_LOG: 'debug',
      OPENAI_CUSTOM_HEADERS: 'x-openai-only: secret-ish\nx-other: 2',
    };
    const saved = Object.fromEntries(Object.keys(settings).map((name) => [name, process.env[name]]));
    Object.assign(process.env, settings);
    try {
      await createClient({ baseURL: upstream.baseURL, defaultHeaders: { 'x-other': 'mine' } }).chat.create(
        REQUEST,
      );
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    expect(upstream.requests).toHaveLength(1);
    const headers = upstream.requests[0]?.headers ?? {};
    expect(headers).not.toHaveProperty('authorization');
    expect(headers).not.toHaveProperty('openai-organization');
    expect(headers).not.toHaveProperty('openai-project');
    expect(headers).not.toHaveProperty('x-openai-only');
    expect(headers['x-other']).toBe('mine');
  });
});

describe('stream', () => {
  it('yields chunks as they arrive, and the final chunk keeps usage and cascadia', async () => {
    const firstReceived = gate();
    upstream.handle(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(formatSSE(chunk('Hel')));
      // The second chunk is written only once the client has yielded the first: a client that
      // buffered the stream would never see chunk one and the test would not finish.
      await firstReceived.promise;
      res.write(formatSSE(chunk('lo!')));
      res.end(formatSSE(FINAL_CHUNK) + SSE_DONE);
    });
    const client = createClient({ baseURL: upstream.baseURL });
    const received: ChatCompletionChunk[] = [];
    for await (const item of client.stream(REQUEST)) {
      received.push(item);
      if (received.length === 1) firstReceived.open();
    }
    expect(received).toEqual([chunk('Hel'), chunk('lo!'), FINAL_CHUNK]);
    expect(received[2]?.usage?.total_tokens).toBe(7);
    expect(received[2]?.cascadia).toEqual(CASCADIA);
    expect(received[0]?.choices[0]?.x_chunk_field).toBe('kept');
    expect(JSON.parse(upstream.requests[0]?.rawBody ?? '')).toEqual({ ...REQUEST, stream: true });
  });

  it('is also reachable as chat.stream', async () => {
    upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(formatSSE(chunk('x')) + SSE_DONE);
    });
    const items: ChatCompletionChunk[] = [];
    for await (const item of createClient({ baseURL: upstream.baseURL }).chat.stream(REQUEST))
      items.push(item);
    expect(items).toEqual([chunk('x')]);
  });

  it('aborts mid-stream: the iteration throws an AbortError and the connection closes', async () => {
    const upstreamGone = gate();
    upstream.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(formatSSE(chunk('Hel')));
      // Never finishes on its own.
      void req.closed.then(upstreamGone.open);
    });
    const controller = new AbortController();
    const client = createClient({ baseURL: upstream.baseURL });
    const received: ChatCompletionChunk[] = [];
    const error = await caught(
      (async () => {
        for await (const item of client.stream(REQUEST, { signal: controller.signal })) {
          received.push(item);
          controller.abort();
        }
      })(),
    );
    expect(received).toHaveLength(1);
    expect(isAbortError(error)).toBe(true);
    await upstreamGone.promise;
    expect(upstream.requests).toHaveLength(1);
  });

  it('closes the upstream connection when the consumer stops iterating early', async () => {
    const upstreamGone = gate();
    upstream.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(formatSSE(chunk('Hel')));
      void req.closed.then(upstreamGone.open);
    });
    const received: ChatCompletionChunk[] = [];
    for await (const item of createClient({ baseURL: upstream.baseURL }).stream(REQUEST)) {
      received.push(item);
      break;
    }
    expect(received).toEqual([chunk('Hel')]);
    // Resolves only if the client released the connection; a leak would hang here.
    await upstreamGone.promise;
  });

  it('surfaces an error event inside the stream as OpenAICompatibleError of kind stream', async () => {
    upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(formatSSE(chunk('a')));
      res.end(
        formatSSE({
          error: { message: 'node lost', type: 'server_error', code: 'mesh_unavailable', param: null },
        }),
      );
    });
    const received: ChatCompletionChunk[] = [];
    const error = await caught(
      (async () => {
        for await (const item of createClient({ baseURL: upstream.baseURL }).stream(REQUEST))
          received.push(item);
      })(),
    );
    expect(received).toHaveLength(1);
    expect(error).toBeInstanceOf(OpenAICompatibleError);
    const typed = error as OpenAICompatibleError;
    expect(typed.kind).toBe('stream');
    expect(typed.code).toBe('mesh_unavailable');
    expect(typed.message).toBe('node lost');
  });

  it('maps an HTTP error answered to a stream request', async () => {
    const body = {
      error: {
        message: 'budget exhausted',
        type: 'insufficient_quota',
        param: null,
        code: 'budget_exceeded',
      },
    };
    upstream.handle((_req, res) => sendJSON(res, 402, body));
    const error = await caught(
      (async () => {
        for await (const _ of createClient({ baseURL: upstream.baseURL }).stream(REQUEST)) {
          // no chunks expected
        }
      })(),
    );
    expect(error).toBeInstanceOf(OpenAICompatibleError);
    expect((error as OpenAICompatibleError).status).toBe(402);
    expect((error as OpenAICompatibleError).body).toEqual(body);
  });
});

describe('errors', () => {
  it.each([
    [400, 'invalid_request_error', 'context_length_exceeded', 'messages'],
    [401, 'authentication_error', 'invalid_api_key', null],
    [402, 'insufficient_quota', 'budget_exceeded', null],
    [429, 'rate_limit_error', 'rate_limit_exceeded', null],
    [500, 'server_error', null, null],
  ])('maps HTTP %i with an OpenAI error body', async (status, type, code, param) => {
    const body = { error: { message: `failure ${status}`, type, param, code }, extra_top_level: 'kept' };
    const raw = `${JSON.stringify(body, null, 2)}\n`;
    upstream.handle((_req, res) => sendJSON(res, status, raw));
    const error = await caught(
      createClient({ baseURL: upstream.baseURL, apiKey: 'sk-x' }).chat.create(REQUEST),
    );
    expect(error).toBeInstanceOf(OpenAICompatibleError);
    const typed = error as OpenAICompatibleError;
    expect(typed.kind).toBe('http');
    expect(typed.status).toBe(status);
    expect(typed.type).toBe(type);
    expect(typed.code).toBe(code);
    expect(typed.param).toBe(param);
    expect(typed.message).toBe(`failure ${status}`);
    expect(typed.rawBody).toBe(raw);
    expect(typed.body).toEqual(body);
    expect(typed.requestId).toBe('req-upstream-1');
    // One request: the client does not retry on its own.
    expect(upstream.requests).toHaveLength(1);
  });

  it('maps a non-JSON error body, keeping the text', async () => {
    upstream.handle((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    });
    const error = await caught(createClient({ baseURL: upstream.baseURL }).chat.create(REQUEST));
    expect(error).toBeInstanceOf(OpenAICompatibleError);
    const typed = error as OpenAICompatibleError;
    expect(typed.status).toBe(502);
    expect(typed.code).toBeNull();
    expect(typed.type).toBeNull();
    expect(typed.body).toBe('<html>Bad Gateway</html>');
    expect(typed.rawBody).toBe('<html>Bad Gateway</html>');
    expect(typed.message).toContain('Bad Gateway');
  });

  it('reports a refused connection as kind connection with status 0', async () => {
    const closed = await startUpstream();
    const baseURL = closed.baseURL;
    await closed.close();
    const error = await caught(createClient({ baseURL }).chat.create(REQUEST));
    expect(error).toBeInstanceOf(OpenAICompatibleError);
    expect((error as OpenAICompatibleError).kind).toBe('connection');
    expect((error as OpenAICompatibleError).status).toBe(0);
  });

  it('reports a server that never answers as kind timeout', async () => {
    upstream.handle(() => {
      // hold the request open
    });
    const error = await caught(
      createClient({ baseURL: upstream.baseURL, timeoutMs: 300 }).chat.create(REQUEST),
    );
    expect(error).toBeInstanceOf(OpenAICompatibleError);
    expect((error as OpenAICompatibleError).kind).toBe('timeout');
  });

  it('rejects with an AbortError when aborted before the response', async () => {
    const arrived = gate();
    upstream.handle(() => arrived.open());
    const controller = new AbortController();
    const pending = createClient({ baseURL: upstream.baseURL }).chat.create(REQUEST, {
      signal: controller.signal,
    });
    await arrived.promise;
    controller.abort();
    const error = await caught(pending);
    expect(isAbortError(error)).toBe(true);
    expect(error).not.toBeInstanceOf(OpenAICompatibleError);
  });
});

describe('completions and models', () => {
  const TEXT_COMPLETION = {
    id: 'cmpl-1',
    object: 'text_completion',
    created: 1,
    model: 'smollm2-135m-instruct',
    choices: [{ index: 0, text: ' world', finish_reason: 'length', logprobs: null }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    cascadia: CASCADIA,
  };

  it('creates a legacy completion', async () => {
    upstream.handle((_req, res) => sendJSON(res, 200, TEXT_COMPLETION));
    const result = await createClient({ baseURL: upstream.baseURL }).completions.create({
      model: 'smollm2-135m-instruct',
      prompt: 'Hello',
      max_tokens: 1,
    });
    expect(result).toEqual(TEXT_COMPLETION);
    expect(upstream.requests[0]?.url).toBe('/v1/completions');
  });

  it('streams a legacy completion', async () => {
    upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(formatSSE(TEXT_COMPLETION) + SSE_DONE);
    });
    const items: unknown[] = [];
    for await (const item of createClient({ baseURL: upstream.baseURL }).completions.stream({
      model: 'm',
      prompt: 'Hello',
    }))
      items.push(item);
    expect(items).toEqual([TEXT_COMPLETION]);
    expect(JSON.parse(upstream.requests[0]?.rawBody ?? '').stream).toBe(true);
  });

  it('lists models as the server answered', async () => {
    const list = {
      object: 'list',
      data: [{ id: 'smollm2-135m-instruct', object: 'model', owned_by: 'cascadia', shards: 2 }],
    };
    upstream.handle((_req, res) => sendJSON(res, 200, list));
    expect(await createClient({ baseURL: upstream.baseURL }).models()).toEqual(list);
    expect(upstream.requests[0]?.method).toBe('GET');
    expect(upstream.requests[0]?.url).toBe('/v1/models');
  });
});
