import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeGracefully } from '../src/app.js';
import type { GatewayStore } from '../src/store/index.js';
import { type TestDatabase, testDatabase } from './helpers/databases.js';
import { adminHeaders, bearer, MASTER_KEY, priceTestModels, testApp } from './helpers/gateway.js';
import { type MockUpstream, startMockUpstream } from './helpers/upstream.js';

let upstream: MockUpstream;
let db: TestDatabase;
let app: FastifyInstance;
let store: GatewayStore;
let logs = '';
let baseUrl: string;

beforeAll(async () => {
  upstream = await startMockUpstream();
  db = testDatabase('sqlite');
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logs += chunk.toString();
      done();
    },
  });
  ({ app, store } = await testApp(db, upstream, { logStream: stream }));
  await priceTestModels(store);
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await closeGracefully(app, 200);
  await upstream.close();
  await db.cleanup();
});

const call = (key: string, model = 'mock:echo', extra: object = {}) =>
  app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: bearer(key),
    payload: { model, messages: [{ role: 'user', content: 'hi' }], ...extra },
  });

describe('logs and error bodies never contain key material', () => {
  it('keeps virtual keys and the master key out of logs and error responses', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/admin/keys',
      headers: adminHeaders,
      payload: { alias: 'leak-check', budget: { max_usd: 0.000001 } },
    });
    const secret: string = created.json().key;
    const revokedKey = (await store.createKey({ alias: 'revoked' })).secret;
    await store.revokeKey((await store.findKeyBySecret(revokedKey))!.id);

    const bodies: string[] = [];
    bodies.push((await call(secret)).body); // 402 budget
    bodies.push((await call(`${secret}x`)).body); // 401 unknown
    bodies.push((await call(revokedKey)).body); // 401 revoked
    bodies.push((await call(secret, 'nosuch:model')).body); // 404
    bodies.push(
      (
        await app.inject({
          method: 'POST',
          url: '/v1/chat/completions',
          headers: { ...bearer(secret), 'content-type': 'application/json' },
          payload: '{bad',
        })
      ).body,
    );
    bodies.push((await app.inject({ method: 'GET', url: '/admin/keys', headers: bearer(secret) })).body);
    bodies.push(
      (
        await app.inject({
          method: 'GET',
          url: '/admin/keys',
          headers: { authorization: `Bearer ${MASTER_KEY}x` },
        })
      ).body,
    );
    // A streamed success and a failure with logging of the request object.
    const streamed = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        ...bearer((await store.createKey({ alias: 'ok' })).secret),
        'content-type': 'application/json',
      },
      body: JSON.stringify({ model: 'mock:echo', messages: [{ role: 'user', content: 'x' }], stream: true }),
    });
    await streamed.text();
    // Code that logs credentials by mistake is censored by the logger's redaction paths.
    app.log.info(
      { headers: { authorization: `Bearer ${secret}` }, key: secret },
      'credentials logged by mistake',
    );

    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toContain('call settled');
    expect(logs).toContain('[redacted]');
    for (const text of [logs, ...bodies]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(7, 30)); // nor a large piece of it
      expect(text).not.toContain(revokedKey);
      expect(text).not.toContain(MASTER_KEY);
    }
    for (const body of bodies) expect(JSON.parse(body)).toHaveProperty('error.message');
  });
});

describe('Prometheus metrics', () => {
  it('exposes requests, tokens, cost, latency, ttft, budget, rate-limit, auth, upstream and in-flight metrics', async () => {
    const k = await store.createKey({ alias: 'metrics', rpmLimit: 3 });
    await call(k.secret, 'mock:echo', { max_tokens: 3 });
    await call(k.secret, 'mock:fail-500');
    await call(k.secret, 'mock:never-priced');
    await call(k.secret); // the 3rd admitted call (the unpriced one was refused before the rate limit)
    await call(k.secret); // 429
    await call('sk-cas-wrong');
    const stream = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        ...bearer((await store.createKey({ alias: 's' })).secret),
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        model: 'mock:echo',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
        max_tokens: 2,
      }),
    });
    await stream.text();
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const text = res.body;
    expect(text).toMatch(/gateway_requests_total\{model="mock:echo",status="200"\} [3-9]/);
    expect(text).toMatch(/gateway_requests_total\{model="mock:fail-500",status="502"\} 1/);
    expect(text).toMatch(/gateway_requests_total\{model="mock:echo",status="429"\} 1/);
    expect(text).toMatch(/gateway_tokens_total\{model="mock:echo",type="completion"\} \d+/);
    expect(text).toMatch(/gateway_cost_usd_total\{model="mock:echo"\} [0-9.e-]+/);
    expect(text).toMatch(
      /gateway_request_duration_seconds_bucket\{le="[0-9.]+",model="mock:echo",stream="false"\}/,
    );
    expect(text).toMatch(/gateway_time_to_first_token_seconds_count\{model="mock:echo"\} [1-9]/);
    expect(text).toMatch(/gateway_budget_rejections_total\{reason="unpriced"\} 1/);
    expect(text).toMatch(/gateway_rate_limit_hits_total\{limit="rpm"\} 1/);
    expect(text).toMatch(/gateway_auth_failures_total\{reason="unknown"\} [1-9]/);
    expect(text).toMatch(/gateway_upstream_errors_total\{provider="mock",kind="http_500"\} 1/);
    expect(text).toMatch(/gateway_in_flight_requests 0/);
    expect(text).toContain('gateway_process_resident_memory_bytes');
    expect(text).toMatch(/gateway_budget_rejections_total\{reason="key_budget"\} 1/);
  });

  it('answers /health', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({
      status: 'ok',
      database: 'sqlite',
    });
  });
});
