import { createOpenAICompatibleProvider, createProviderRegistry, type Provider } from '@cascadia/providers';
import { canonicalize, sha256Hex } from '@cascadia/receipts';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeGracefully } from '../src/app.js';
import { costNano } from '../src/money.js';
import { type GatewayStore, openStore } from '../src/store/index.js';
import { createUpstreamFetch } from '../src/upstream-fetch.js';
import { type TestDatabase, testDatabase } from './helpers/databases.js';
import { adminHeaders, bearer, priceTestModels, testApp } from './helpers/gateway.js';
import { MOCK_NODE_IDS, type MockUpstream, startMockUpstream } from './helpers/upstream.js';

let upstream: MockUpstream;
let db: TestDatabase;
let app: FastifyInstance;
let store: GatewayStore;
let baseUrl: string;
let secret: string;
let keyId: string;

const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'hello there mesh' }],
  ...extra,
});

async function post(path: string, body: unknown, key = secret) {
  return app.inject({ method: 'POST', url: path, headers: bearer(key), payload: body as object });
}

beforeAll(async () => {
  upstream = await startMockUpstream();
  db = testDatabase('sqlite');
  ({ app, store } = await testApp(db, upstream));
  await priceTestModels(store);
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await closeGracefully(app, 200);
  await upstream.close();
  await db.cleanup();
});

beforeEach(async () => {
  await app.pricing.reload();
  const created = await store.createKey({ alias: 'test', budget: { maxNusd: 1_000_000_000 } });
  secret = created.secret;
  keyId = created.key.id;
});

describe('data plane against a real upstream on loopback', () => {
  it('relays a non-streamed chat completion unchanged (cascadia block, unknown fields) and meters it', async () => {
    const res = await post('/v1/chat/completions', chat('mock:echo', { max_tokens: 5, x_client_field: 7 }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-request-id']).toMatch(/^req_/);
    const body = res.json();
    expect(body.cascadia.node_ids).toEqual(MOCK_NODE_IDS);
    expect(body.x_unknown_field).toEqual({ kept: true });
    expect(body.usage).toEqual({ prompt_tokens: 6, completion_tokens: 5, total_tokens: 11 });
    // The body went upstream with the upstream model id and the client's unknown field.
    const sent = upstream.requests.at(-1)!;
    expect(sent).toMatchObject({ model: 'echo', max_tokens: 5, x_client_field: 7 });
    const { data } = await store.listUsage({ keyId, limit: 10 });
    expect(data).toHaveLength(1);
    expect(data[0]).toMatchObject({
      requestId: res.headers['x-request-id'],
      promptTokens: 6,
      completionTokens: 5,
      costNusd: costNano({ inputPerMillion: 1, outputPerMillion: 1 }, 6, 5),
      status: 'ok',
      meteredBy: 'upstream',
      nodeIds: MOCK_NODE_IDS,
      provider: 'mock',
      upstreamModel: 'echo',
    });
    // receipt_digest is defined as sha256Hex(canonicalize(receipt)) of the receipts package.
    expect(data[0]?.receiptDigest).toBe(sha256Hex(canonicalize(body.cascadia.receipt)));
    const key = await store.getKey(keyId);
    expect(key?.budget).toMatchObject({ spentNusd: 11_000, reservedNusd: 0 });
  });

  it('injects the default completion cap when the client sets none', async () => {
    await post('/v1/chat/completions', chat('mock:echo'));
    expect(upstream.requests.at(-1)?.max_tokens).toBe(16);
  });

  it('routes config-only aliases (provider/model) and legacy completions', async () => {
    const aliased = await post('/v1/chat/completions', chat('alias/echo', { max_tokens: 2 }));
    expect(aliased.statusCode).toBe(200);
    expect(upstream.requests.at(-1)?.model).toBe('echo');
    const completion = await post('/v1/completions', {
      model: 'mock:echo',
      prompt: 'one two',
      max_tokens: 3,
    });
    expect(completion.statusCode).toBe(200);
    expect(completion.json().object).toBe('text_completion');
    const { data } = await store.listUsage({ keyId, limit: 10 });
    expect(data.map((r) => r.endpoint).sort()).toEqual(['chat.completions', 'completions']);
  });

  it('streams SSE chunks as they arrive, forces include_usage upstream and meters from the usage chunk', async () => {
    const res = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...bearer(secret), 'content-type': 'application/json' },
      body: JSON.stringify(chat('mock:echo', { stream: true, max_tokens: 4 })),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(upstream.requests.at(-1)?.stream_options).toEqual({ include_usage: true });
    // Bytes pass through unchanged: the client also receives the usage chunk and the cascadia block.
    expect(text).toContain('"usage":{"prompt_tokens":6,"completion_tokens":4');
    expect(text).toContain('"node_ids":["node-alpha","node-beta"]');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const row = (await store.listUsage({ keyId, limit: 1 })).data[0];
    expect(row).toMatchObject({
      stream: true,
      promptTokens: 6,
      completionTokens: 4,
      meteredBy: 'upstream',
      status: 'ok',
    });
    expect(row?.ttftMs).not.toBeNull();
    expect(row?.receiptDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('streams legacy completions the same way', async () => {
    const res = await fetch(`${baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { ...bearer(secret), 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock:echo', prompt: 'one two three', stream: true, max_tokens: 3 }),
    });
    const text = await res.text();
    expect(text).toContain('"object":"text_completion"');
    expect(upstream.requests.at(-1)?.stream_options).toEqual({ include_usage: true });
    const row = (await store.listUsage({ keyId, limit: 1 })).data[0];
    expect(row).toMatchObject({
      endpoint: 'completions',
      stream: true,
      promptTokens: 6,
      completionTokens: 3,
      meteredBy: 'upstream',
    });
  });

  it('meters a stream that ends without usage by counting what was produced (never zero)', async () => {
    const res = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...bearer(secret), 'content-type': 'application/json' },
      body: JSON.stringify(chat('mock:no-usage', { stream: true, max_tokens: 6 })),
    });
    const text = await res.text();
    expect(text).not.toContain('"usage"');
    const row = (await store.listUsage({ keyId, limit: 1 })).data[0];
    // 6 text events of 5 characters: max(events, ceil(chars / 4)) = max(6, 8).
    expect(row).toMatchObject({ meteredBy: 'counted', completionTokens: 8, status: 'ok' });
    expect(row?.costNusd).toBeGreaterThan(0);
  });

  it('meters a stream the client abandons: upstream aborted, produced tokens charged, reservation released', async () => {
    const controller = new AbortController();
    const res = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...bearer(secret), 'content-type': 'application/json' },
      body: JSON.stringify(chat('mock:slow', { stream: true, max_tokens: 500 })),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    let received = '';
    while ((received.match(/data: /g) ?? []).length < 5) {
      const { value } = await reader.read();
      received += new TextDecoder().decode(value);
    }
    controller.abort();
    await expect
      .poll(async () => (await store.listUsage({ keyId, limit: 1 })).data.length, { timeout: 5000 })
      .toBe(1);
    const row = (await store.listUsage({ keyId, limit: 1 })).data[0];
    expect(row?.status).toBe('client_closed');
    expect(row?.meteredBy).toBe('counted');
    expect(row?.completionTokens).toBeGreaterThanOrEqual(5);
    expect(row?.completionTokens).toBeLessThan(200);
    expect(row?.costNusd).toBeGreaterThan(0);
    await expect.poll(() => upstream.abortedStreams, { timeout: 5000 }).toBeGreaterThan(0);
    const key = await store.getKey(keyId);
    expect(key?.budget.reservedNusd).toBe(0);
    expect(key?.budget.spentNusd).toBe(row?.costNusd);
  });

  it('lists only the models the key may use', async () => {
    const limited = await store.createKey({ alias: 'limited', models: ['mock:echo', 'alias/*'] });
    const res = await app.inject({ method: 'GET', url: '/v1/models', headers: bearer(limited.secret) });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.map((m: { id: string }) => m.id)).toEqual(['alias/echo', 'mock:echo']);
  });
});

describe('errors in the OpenAI shape', () => {
  const shape = (res: { json(): unknown }) =>
    res.json() as { error: { message: string; type: string; param: string | null; code: string | null } };

  it('400 for an invalid body, naming the field', async () => {
    const res = await post('/v1/chat/completions', { model: 'mock:echo', messages: [] });
    expect(res.statusCode).toBe(400);
    expect(shape(res).error).toMatchObject({ type: 'invalid_request_error', param: 'messages' });
    expect(shape(res).error.message).toContain("'messages'");
    const bad = await post('/v1/chat/completions', {
      model: 'mock:echo',
      messages: [{ role: 'user', content: 'x' }],
      max_tokens: -1,
    });
    expect(shape(bad).error.param).toBe('max_tokens');
    const notJson = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { ...bearer(secret), 'content-type': 'application/json' },
      payload: '{"model":',
    });
    expect(notJson.statusCode).toBe(400);
    expect(shape(notJson).error.code).toBe('invalid_json');
  });

  it('401 for a missing, unknown, revoked or expired key', async () => {
    const missing = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: chat('mock:echo'),
    });
    expect(missing.statusCode).toBe(401);
    expect(shape(missing).error.code).toBe('missing_api_key');
    const unknown = await post('/v1/chat/completions', chat('mock:echo'), 'sk-cas-not-a-real-key');
    expect(shape(unknown).error.code).toBe('invalid_api_key');
    await store.revokeKey(keyId);
    expect(shape(await post('/v1/chat/completions', chat('mock:echo'))).error.code).toBe('key_revoked');
    const expired = await store.createKey({ alias: 'old', expiresAt: Date.now() - 1000 });
    expect(shape(await post('/v1/chat/completions', chat('mock:echo'), expired.secret)).error.code).toBe(
      'key_expired',
    );
  });

  it('402 when the budget is exhausted, and 402 for an unpriced model', async () => {
    const poor = await store.createKey({ alias: 'poor', budget: { maxNusd: 10 } });
    const res = await post('/v1/chat/completions', chat('mock:echo'), poor.secret);
    expect(res.statusCode).toBe(402);
    expect(shape(res).error.code).toBe('budget_exceeded');
    expect(shape(res).error.message).toContain("key 'poor'");
    const unpriced = await post('/v1/chat/completions', chat('mock:never-priced'));
    expect(unpriced.statusCode).toBe(402);
    expect(shape(unpriced).error.code).toBe('model_unpriced');
  });

  it('402 when the owner budget is exhausted even if the key has room', async () => {
    const owner = await store.createOwner({ kind: 'team', name: 'broke', budget: { maxNusd: 5 } });
    const k = await store.createKey({ alias: 'rich', ownerId: owner.id, budget: { maxNusd: 1e12 } });
    const res = await post('/v1/chat/completions', chat('mock:echo'), k.secret);
    expect(res.statusCode).toBe(402);
    expect(shape(res).error.message).toContain(`owner '${owner.id}'`);
  });

  it('403 for a model the key may not use, 404 for an unknown model', async () => {
    const limited = await store.createKey({ alias: 'limited', models: ['mock:echo'] });
    const res = await post('/v1/chat/completions', chat('alias/echo'), limited.secret);
    expect(res.statusCode).toBe(403);
    expect(shape(res).error.code).toBe('model_not_allowed');
    const unknown = await post('/v1/chat/completions', chat('nosuchprovider:x'));
    expect(unknown.statusCode).toBe(404);
    expect(shape(unknown).error.code).toBe('model_not_found');
  });

  it('429 with Retry-After when the key exceeds its rpm', async () => {
    const limited = await store.createKey({ alias: 'rpm', rpmLimit: 2 });
    expect((await post('/v1/chat/completions', chat('mock:echo'), limited.secret)).statusCode).toBe(200);
    expect((await post('/v1/chat/completions', chat('mock:echo'), limited.secret)).statusCode).toBe(200);
    const third = await post('/v1/chat/completions', chat('mock:echo'), limited.secret);
    expect(third.statusCode).toBe(429);
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(shape(third).error.code).toBe('rate_limit_exceeded');
  });

  it('429 when the key exceeds its tpm', async () => {
    const limited = await store.createKey({ alias: 'tpm', tpmLimit: 10 });
    expect(
      (await post('/v1/chat/completions', chat('mock:echo', { max_tokens: 8 }), limited.secret)).statusCode,
    ).toBe(200);
    const next = await post('/v1/chat/completions', chat('mock:echo'), limited.secret);
    expect(next.statusCode).toBe(429);
    expect(shape(next).error.message).toContain('tokens per minute');
  });

  it('502 for upstream failures and refused partner credentials; upstream 4xx passed through; all refunded', async () => {
    const failed = await post('/v1/chat/completions', chat('mock:fail-500'));
    expect(failed.statusCode).toBe(502);
    expect(shape(failed).error.message).toContain('engine exploded');
    const creds = await post('/v1/chat/completions', chat('mock:unauthorized'));
    expect(creds.statusCode).toBe(502);
    expect(shape(creds).error.message).toContain('credentials');
    const bad = await post('/v1/chat/completions', chat('mock:bad-request'));
    expect(bad.statusCode).toBe(400);
    expect(shape(bad).error.param).toBe('temperature');
    const key = await store.getKey(keyId);
    expect(key?.budget).toMatchObject({ spentNusd: 0, reservedNusd: 0 });
    const rows = (await store.listUsage({ keyId, limit: 10 })).data;
    expect(rows.map((r) => r.status)).toEqual(['upstream_error', 'upstream_error', 'upstream_error']);
  });

  it('502 when the upstream is down, 504 when it does not answer in time', async () => {
    const { app: shortApp, store: s2 } = await testApp(testDatabase('sqlite'), upstream, {
      settings: { upstreamTimeoutMs: 300 },
    });
    await priceTestModels(s2);
    await shortApp.ready();
    const k = await s2.createKey({ alias: 't' });
    const slow = await shortApp.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: bearer(k.secret),
      payload: chat('mock:hang'),
    });
    expect(slow.statusCode).toBe(504);
    expect(shape(slow).error.code).toBe('upstream_timeout');
    await shortApp.close();

    const dead = await startMockUpstream();
    await dead.close();
    const { app: deadApp, store: s3 } = await testApp(testDatabase('sqlite'), dead);
    await priceTestModels(s3);
    await deadApp.ready();
    const k3 = await s3.createKey({ alias: 'd' });
    const down = await deadApp.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: bearer(k3.secret),
      payload: chat('mock:echo'),
    });
    expect(down.statusCode).toBe(502);
    expect(shape(down).error.code).toBe('upstream_unavailable');
    expect((await s3.getKey(k3.key.id))?.budget.reservedNusd).toBe(0);
    await deadApp.close();
  });

  it("relays through a provider's own call when it cannot prepare one, and keeps a provider's header timeout", async () => {
    const fetch = createUpstreamFetch();
    const mock = createOpenAICompatibleProvider({ name: 'mock', baseURL: upstream.url, fetch });
    // A provider without prepareCall (as one that post-processes responses): called, not prepared.
    const unprepared: Provider = {
      name: 'mock',
      chatCompletions: mock.chatCompletions,
      completions: mock.completions,
      models: mock.models,
    };
    const timed = createOpenAICompatibleProvider({
      name: 'timed',
      baseURL: upstream.url,
      fetch,
      timeoutMs: 200,
    });
    const registry = createProviderRegistry({ providers: [unprepared, timed], env: {}, fetch });
    const otherDb = testDatabase('sqlite');
    const { app: other, store: s } = await testApp(otherDb, upstream, { registry });
    await priceTestModels(s);
    await s.setPrice({ model: 'timed:hang', inputPerMillion: 1, outputPerMillion: 1, effectiveFrom: 0 });
    const url = await other.listen({ host: '127.0.0.1', port: 0 });
    try {
      const k = await s.createKey({ alias: 'fallback' });
      const call = (body: unknown) =>
        fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { ...bearer(k.secret), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const plain = await call(chat('mock:echo', { max_tokens: 3 }));
      expect(plain.status).toBe(200);
      expect(((await plain.json()) as { cascadia: { node_ids: string[] } }).cascadia.node_ids).toEqual(
        MOCK_NODE_IDS,
      );
      const streamed = await call(chat('mock:echo', { max_tokens: 3, stream: true }));
      expect(streamed.status).toBe(200);
      expect((await streamed.text()).trimEnd().endsWith('data: [DONE]')).toBe(true);
      const rows = (await s.listUsage({ keyId: k.key.id, limit: 10 })).data;
      expect(rows.map((r) => [r.stream, r.status, r.completionTokens, r.meteredBy])).toEqual([
        [true, 'ok', 3, 'upstream'],
        [false, 'ok', 3, 'upstream'],
      ]);

      const hung = await call(chat('timed:hang'));
      expect(hung.status).toBe(504);
      expect(((await hung.json()) as { error: { code: string } }).error.code).toBe('upstream_timeout');
      expect((await s.getKey(k.key.id))?.budget.reservedNusd).toBe(0);
    } finally {
      await closeGracefully(other, 200);
      await otherDb.cleanup();
    }
  });

  it('answers unknown routes with a 404 in the same shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/nothing', headers: adminHeaders });
    expect(res.statusCode).toBe(404);
    expect(shape(res).error.type).toBe('invalid_request_error');
  });
});

describe('a stream and its settlement', () => {
  it('relays the content as it arrives and ends the stream ([DONE] included) only once its settlement committed', async () => {
    const spaced = await startMockUpstream({ streamDelayMs: 20 });
    const gatedDb = testDatabase('sqlite');
    const real = await openStore(gatedDb.url, gatedDb.pg, { serving: true });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let settling = 0;
    const gatedStore: GatewayStore = {
      ...real,
      settle: async (request) => {
        settling++;
        await gate;
        return real.settle(request);
      },
    };
    const { app: gated } = await testApp(gatedDb, spaced, { store: gatedStore });
    await priceTestModels(real);
    const url = await gated.listen({ host: '127.0.0.1', port: 0 });
    try {
      const k = await real.createKey({ alias: 'gated' });
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...bearer(k.secret), 'content-type': 'application/json' },
        body: JSON.stringify(chat('mock:echo', { stream: true, max_tokens: 3 })),
      });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let received = '';
      while ((received.match(/"content"/g) ?? []).length < 3) {
        const { value, done } = await reader.read();
        expect(done).toBe(false);
        received += decoder.decode(value);
      }
      // Every token reached the client before anything was settled.
      await expect.poll(() => settling, { timeout: 5000 }).toBe(1);
      expect(received).not.toContain('[DONE]');
      // While the settlement is held, the stream stays open and [DONE] is not sent.
      let next = reader.read();
      const early = await Promise.race([
        next.then(() => 'bytes'),
        new Promise((resolve) => setTimeout(() => resolve('waiting'), 150)),
      ]);
      if (early === 'bytes') {
        // The usage chunk may come on its own; [DONE] still may not.
        const { value } = await next;
        received += decoder.decode(value);
        expect(received).not.toContain('[DONE]');
        next = reader.read();
        expect(
          await Promise.race([
            next.then(() => 'bytes'),
            new Promise((resolve) => setTimeout(() => resolve('waiting'), 150)),
          ]),
        ).toBe('waiting');
      }
      expect((await real.listUsage({ keyId: k.key.id, limit: 1 })).data).toHaveLength(0);
      release();
      for (let chunk = await next; !chunk.done; chunk = await reader.read()) {
        received += decoder.decode(chunk.value);
      }
      expect(received.trimEnd().endsWith('data: [DONE]')).toBe(true);
      expect(received).toContain('"usage":{"prompt_tokens":6,"completion_tokens":3');
      const row = (await real.listUsage({ keyId: k.key.id, limit: 1 })).data[0];
      expect(row).toMatchObject({ status: 'ok', completionTokens: 3, meteredBy: 'upstream' });
      expect((await real.getKey(k.key.id))?.budget.reservedNusd).toBe(0);
    } finally {
      await closeGracefully(gated, 200);
      await real.close();
      await spaced.close();
      await gatedDb.cleanup();
    }
  });
});
