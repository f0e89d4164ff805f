import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import {
  type FakeUpstream,
  gate,
  readAll,
  refusedBaseURL,
  startUpstream,
  writeRaw,
} from '@cascadia/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createOpenAICompatibleProvider,
  createProviderRegistry,
  type PreparedUpstreamRequest,
  ProviderConfigError,
  UpstreamUnavailableError,
} from '../src/index.js';

let upstream: FakeUpstream;
const encoder = new TextEncoder();

beforeAll(async () => {
  upstream = await startUpstream();
});
afterAll(async () => {
  await upstream.close();
});
afterEach(() => {
  upstream.requests.length = 0;
});

const BODY = {
  model: 'cascadia:smollm2-135m-instruct',
  messages: [{ role: 'user', content: 'héllo 🚀' }],
  temperature: 0.7,
  stream_options: { include_usage: true },
  vendor_extension: { nested: [1, 'two', null, { three: 3.25 }] },
};

/** Response bytes with odd spacing, escapes and unknown fields: any re-serialisation would change them. */
const RAW_COMPLETION =
  '{ "id":"chatcmpl-9",  "object":"chat.completion","created":1,"model":"smollm2-135m-instruct",\n' +
  '  "choices":[{"index":0,"message":{"role":"assistant","content":"h\\u00e9llo \\ud83d\\ude80"},"finish_reason":"stop"}],' +
  '"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5},"unknown_field":1.50,' +
  '"cascadia":{"node_ids":["node-a"],"receipt":{"v":1,"kind":"mesh","signature":"sig"}}}\n';

function provider(
  apiKey?: string,
  extra: Partial<Parameters<typeof createOpenAICompatibleProvider>[0]> = {},
) {
  return createOpenAICompatibleProvider({ name: 'test', baseURL: `${upstream.baseURL}/`, apiKey, ...extra });
}

describe('request', () => {
  it('sends the caller body unchanged except model, in the same key order', async () => {
    upstream.handle((_req, res) => writeRaw(res, 200, RAW_COMPLETION));
    await readAll(await provider('k').chatCompletions(BODY, { model: 'smollm2-135m-instruct' }));
    const seen = upstream.requests[0];
    expect(seen?.method).toBe('POST');
    expect(seen?.url).toBe('/v1/chat/completions');
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.rawBody).toBe(JSON.stringify({ ...BODY, model: 'smollm2-135m-instruct' }));
    const { model, ...rest } = JSON.parse(seen?.rawBody ?? '{}');
    const { model: _original, ...input } = BODY;
    expect(model).toBe('smollm2-135m-instruct');
    expect(rest).toEqual(input);
  });

  it('sends the body as it is when no upstream model is given', async () => {
    upstream.handle((_req, res) => writeRaw(res, 200, '{}'));
    await readAll(await provider().completions({ model: 'm', prompt: 'x' }));
    expect(upstream.requests[0]?.url).toBe('/v1/completions');
    expect(upstream.requests[0]?.rawBody).toBe('{"model":"m","prompt":"x"}');
  });

  it('sends Bearer auth when keyed, none when keyless, and never the caller authorization', async () => {
    upstream.handle((_req, res) => writeRaw(res, 200, '{}'));
    const init = { headers: { Authorization: 'Bearer caller-virtual-key', 'x-request-id': 'r-1' } };
    await readAll(await provider('partner-token').chatCompletions(BODY, init));
    await readAll(await provider().chatCompletions(BODY, init));
    await readAll(await provider().models(init));
    const [keyed, keyless, models] = upstream.requests;
    expect(keyed?.headers.authorization).toBe('Bearer partner-token');
    expect(keyless?.headers).not.toHaveProperty('authorization');
    expect(models?.headers).not.toHaveProperty('authorization');
    for (const request of upstream.requests) expect(request.headers['x-request-id']).toBe('r-1');
  });

  it("drops the caller's hop-by-hop and framing headers, which would break or mislabel the upstream call", async () => {
    upstream.handle((_req, res) => writeRaw(res, 200, '{}'));
    const headers = {
      host: 'gateway.example',
      connection: 'keep-alive, x-custom',
      'transfer-encoding': 'chunked',
      'content-length': '3',
      'accept-encoding': 'gzip',
      'proxy-authorization': 'Basic c2VjcmV0',
      'x-trace': 't-1',
    };
    await readAll(await provider().chatCompletions(BODY, { headers }));
    const seen = upstream.requests[0];
    expect(seen?.headers.host).toBe(new URL(upstream.baseURL).host);
    expect(seen?.headers['accept-encoding']).toBe('identity');
    expect(seen?.headers).not.toHaveProperty('proxy-authorization');
    expect(seen?.headers).not.toHaveProperty('transfer-encoding');
    expect(seen?.headers['content-length']).toBe(String(Buffer.byteLength(JSON.stringify(BODY))));
    expect(seen?.headers['x-trace']).toBe('t-1');
    expect(seen?.rawBody).toBe(JSON.stringify(BODY));
  });

  it('lets configured headers carry an auth scheme of their own when there is no key', async () => {
    upstream.handle((_req, res) => writeRaw(res, 200, '{}'));
    const basic = provider(undefined, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    await readAll(await basic.chatCompletions(BODY, { headers: { authorization: 'Bearer caller' } }));
    await readAll(
      await provider('k', { headers: { authorization: 'Basic dXNlcjpwYXNz' } }).chatCompletions(BODY),
    );
    expect(upstream.requests.map((r) => r.headers.authorization)).toEqual(['Basic dXNlcjpwYXNz', 'Bearer k']);
  });

  it('sends configured extra headers', async () => {
    upstream.handle((_req, res) => writeRaw(res, 200, '{}'));
    await readAll(await provider(undefined, { headers: { 'x-partner': 'acme' } }).chatCompletions(BODY));
    expect(upstream.requests[0]?.headers['x-partner']).toBe('acme');
  });

  it('applies a custom request transform and response transform', async () => {
    upstream.handle((_req, res) => writeRaw(res, 200, '{"ok":true}'));
    const custom = provider(undefined, {
      transformRequest: (body, context) => ({
        ...body,
        model: `prefix-${context.model}`,
        endpoint: context.endpoint,
      }),
      transformResponse: (response) =>
        new Response(response.body, { status: 299, headers: response.headers }),
    });
    const response = await custom.chatCompletions({ model: 'x' }, { model: 'y' });
    expect(response.status).toBe(299);
    expect(upstream.requests[0]?.rawBody).toBe('{"model":"prefix-y","endpoint":"chat/completions"}');
  });
});

describe('response passthrough', () => {
  it('returns the upstream bytes, status and headers untouched', async () => {
    upstream.handle((_req, res) =>
      writeRaw(res, 200, RAW_COMPLETION, { 'x-request-id': 'up-7', 'x-extra': 'y' }),
    );
    const response = await provider().chatCompletions(BODY, { model: 'smollm2-135m-instruct' });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('up-7');
    expect(response.headers.get('x-extra')).toBe('y');
    expect(await readAll(response)).toEqual(encoder.encode(RAW_COMPLETION));
  });

  it('asks for uncompressed bytes, so a compressing upstream still relays exactly what it stored', async () => {
    upstream.handle((req, res) => {
      const accepts = String(req.headers['accept-encoding'] ?? '');
      if (/gzip/.test(accepts)) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gzipSync(RAW_COMPLETION));
      } else writeRaw(res, 200, RAW_COMPLETION);
    });
    const response = await provider().chatCompletions(BODY);
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(await readAll(response)).toEqual(encoder.encode(RAW_COMPLETION));
  });

  it.each([400, 401, 402, 404, 429, 500, 503])('passes an upstream %i through as-is', async (status) => {
    const raw = `{"error":{"message":"upstream says ${status}","type":"x","param":null,"code":"c${status}"},"more":true}`;
    upstream.handle((_req, res) => writeRaw(res, status, raw));
    const response = await provider().chatCompletions(BODY);
    expect(response.status).toBe(status);
    expect(await readAll(response)).toEqual(encoder.encode(raw));
  });

  it('relays a stream incrementally, byte for byte', async () => {
    const first = 'data: {"id":"c","choices":[{"delta":{"content":"Hel"}}],"x":1}\n\n';
    const rest =
      'data: {"id":"c","choices":[{"delta":{"content":"lo"}}]}\n\n' +
      'data: {"id":"c","choices":[],"usage":{"total_tokens":5},"cascadia":{"node_ids":["n1","n2"],"receipt":{"v":1,"kind":"mesh"}}}\n\n' +
      'data: [DONE]\n\n';
    const firstArrived = gate();
    upstream.handle(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(first);
      // Chunk two is written only after the test has read chunk one through the provider: a
      // provider that buffered the body would deadlock here.
      await firstArrived.promise;
      res.end(rest);
    });
    const response = await provider().chatCompletions({ ...BODY, stream: true });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    const received: number[] = [];
    const firstBytes = encoder.encode(first);
    while (received.length < firstBytes.length) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended before chunk one');
      received.push(...value);
    }
    expect(Uint8Array.from(received)).toEqual(firstBytes);
    firstArrived.open();
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      received.push(...value);
    }
    expect(Uint8Array.from(received)).toEqual(encoder.encode(first + rest));
  });
});

describe('failures without a response', () => {
  it('maps connection refused to UpstreamUnavailableError (502)', async () => {
    const unavailable = createOpenAICompatibleProvider({
      name: 'gone',
      baseURL: await refusedBaseURL(),
      apiKey: 'sk-secret-1',
    });
    const error = await unavailable.chatCompletions(BODY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    const typed = error as UpstreamUnavailableError;
    expect(typed.code).toBe('upstream_unavailable');
    expect(typed.reason).toBe('connection_refused');
    expect(typed.httpStatus).toBe(502);
    expect(typed.provider).toBe('gone');
    expect(typed.message).not.toContain('sk-secret-1');
    expect(typed.toErrorBody().error).toMatchObject({ type: 'upstream_error', code: 'upstream_unavailable' });
  });

  it('maps a connection the upstream drops before answering to UpstreamUnavailableError (connection_reset)', async () => {
    upstream.handle((_req, res) => {
      res.socket?.destroy();
    });
    const error = await provider()
      .chatCompletions(BODY)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as UpstreamUnavailableError).reason).toBe('connection_reset');
    expect((error as UpstreamUnavailableError).httpStatus).toBe(502);
  });

  it('maps an unresolvable host to UpstreamUnavailableError (dns)', async () => {
    const unavailable = createOpenAICompatibleProvider({
      name: 'nx',
      baseURL: 'http://no-such-host.invalid/v1',
    });
    const error = await unavailable.models().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as UpstreamUnavailableError).reason).toBe('dns');
  });

  it('maps a missing response within timeoutMs to UpstreamUnavailableError (504)', async () => {
    upstream.handle(() => {
      // never answers
    });
    const error = await provider(undefined, { timeoutMs: 200 })
      .chatCompletions(BODY)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as UpstreamUnavailableError).code).toBe('upstream_timeout');
    expect((error as UpstreamUnavailableError).httpStatus).toBe(504);
  });

  it('lets a stream that has started run past timeoutMs', async () => {
    upstream.handle(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
      await new Promise((resolve) => setTimeout(resolve, 300));
      res.end('data: 2\n\n');
    });
    const response = await provider(undefined, { timeoutMs: 100 }).chatCompletions(BODY);
    expect(new TextDecoder().decode(await readAll(response))).toBe('data: 1\n\ndata: 2\n\n');
  });

  it("rethrows the caller's abort as an AbortError, and the upstream connection closes", async () => {
    const arrived = gate();
    const upstreamClosed = gate();
    upstream.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
      void req.closed.then(upstreamClosed.open);
      arrived.open();
    });
    const controller = new AbortController();
    const response = await provider().chatCompletions(BODY, { signal: controller.signal });
    await arrived.promise;
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    const error = await reader.read().catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    await upstreamClosed.promise;

    const before = new AbortController();
    before.abort();
    const early = await provider()
      .chatCompletions(BODY, { signal: before.signal })
      .catch((e: unknown) => e);
    expect((early as Error).name).toBe('AbortError');
    expect(early).not.toBeInstanceOf(UpstreamUnavailableError);
  });
});

describe('configuration', () => {
  it.each(['not a url', 'ftp://host/v1', 'http://user:hunter2@host/v1'])('rejects base URL %j', (baseURL) => {
    let caught: unknown;
    try {
      createOpenAICompatibleProvider({ name: 'bad', baseURL });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ProviderConfigError);
    expect((caught as ProviderConfigError).code).toBe('provider_config_error');
    expect((caught as Error).message).not.toContain('hunter2');
  });
});

describe('prepared calls (for callers relaying on their own HTTP client)', () => {
  /** Sends a prepared request with node:http and returns the status and body text. */
  function send(prepared: PreparedUpstreamRequest): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(prepared.url, { method: prepared.method, headers: prepared.headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(prepared.body);
    });
  }

  it('describes exactly the request the provider would send itself', async () => {
    upstream.handle((_req, res) => writeRaw(res, 200, RAW_COMPLETION));
    const keyed = provider('partner-token', { headers: { 'X-Partner': 'acme' } });
    const init = {
      model: 'smollm2-135m-instruct',
      headers: { Authorization: 'Bearer caller-virtual-key', 'X-Request-Id': 'r-9', Connection: 'close' },
    };
    await readAll(await keyed.chatCompletions(BODY, init));
    const prepared = keyed.prepareCall?.('chat/completions', BODY, init);
    expect(prepared).toMatchObject({ method: 'POST', url: `${upstream.baseURL}/chat/completions` });
    expect(prepared?.headers).toEqual({
      'x-request-id': 'r-9',
      'x-partner': 'acme',
      'content-type': 'application/json',
      'accept-encoding': 'identity',
      authorization: 'Bearer partner-token',
    });
    expect(await send(prepared!)).toEqual({ status: 200, text: RAW_COMPLETION });
    const [called, sent] = upstream.requests;
    expect(sent?.rawBody).toBe(called?.rawBody);
    expect(JSON.parse(sent!.rawBody).model).toBe('smollm2-135m-instruct');
    for (const name of ['authorization', 'x-partner', 'x-request-id', 'accept-encoding', 'content-type'])
      expect(sent?.headers[name]).toBe(called?.headers[name]);
  });

  it('binds the routed upstream model, and is absent for providers that transform responses', () => {
    const registry = createProviderRegistry({
      providers: [provider()],
      routes: [{ model: 'alias', provider: 'openai', upstreamModel: 'up-1', apiBase: upstream.baseURL }],
      env: {},
    });
    const routed = registry.resolve('alias').provider.prepareCall?.('completions', { model: 'alias' });
    expect(JSON.parse(routed!.body)).toEqual({ model: 'up-1' });
    expect(routed?.url).toBe(`${upstream.baseURL}/completions`);
    const parsed = registry.resolve('test:m-2').provider.prepareCall?.('chat/completions', { model: 'x' });
    expect(JSON.parse(parsed!.body)).toEqual({ model: 'm-2' });
    const transforming = provider(undefined, { transformResponse: (response) => response });
    expect(transforming.prepareCall?.('chat/completions', BODY)).toBeNull();
  });

  it('maps failures without a response like its own calls do', async () => {
    const gone = createOpenAICompatibleProvider({
      name: 'gone',
      baseURL: await refusedBaseURL(),
      timeoutMs: 50,
    });
    const prepared = gone.prepareCall?.('chat/completions', BODY);
    if (!prepared) throw new Error('an OpenAI-compatible provider prepares its calls');
    expect(prepared.timeoutMs).toBe(50);
    const refused = await send(prepared).catch((e: unknown) => e);
    const mapped = prepared.failure(refused, false);
    expect(mapped).toBeInstanceOf(UpstreamUnavailableError);
    expect((mapped as UpstreamUnavailableError).reason).toBe('connection_refused');
    const timedOut = prepared.failure(new Error('socket hang up'), true) as UpstreamUnavailableError;
    expect(timedOut).toMatchObject({ code: 'upstream_timeout', httpStatus: 504 });
    const other = new Error('not a network failure');
    expect(prepared.failure(other, false)).toBe(other);
  });
});
