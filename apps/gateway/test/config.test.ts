import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeGracefully } from '../src/app.js';
import { bootstrapStore, parseGatewayConfig } from '../src/config.js';
import { type GatewayStore, openStore } from '../src/store/index.js';
import { type TestDatabase, testDatabase } from './helpers/databases.js';
import { bearer, testApp } from './helpers/gateway.js';
import { settleRow } from './helpers/settle-row.js';
import { type MockUpstream, startMockUpstream } from './helpers/upstream.js';

describe('config file', () => {
  it('reads pricing, owners and settings next to the providers section', () => {
    const config = parseGatewayConfig(
      {
        providers: [{ name: 'mesh', api_base: 'http://127.0.0.1:9999/v1', api_key: 'os.environ/MESH_TOKEN' }],
        model_list: [
          {
            model_name: 'mesh/m',
            litellm_params: { model: 'openai/m', api_base: 'http://127.0.0.1:9999/v1' },
          },
        ],
        pricing: [
          {
            model: 'mesh:m',
            input_per_million: 0.5,
            output_per_million: 1.5,
            effective_from: '2026-01-01T00:00:00Z',
          },
        ],
        owners: [{ id: 'team-x', kind: 'team', name: 'X', budget: { max_usd: 12.5, period: 'weekly' } }],
        settings: { allow_unpriced: ['mesh/m'], default_max_tokens: 256 },
      },
      { env: { MESH_TOKEN: 'partner-token' } },
    );
    expect(config.providers.providers[0]).toMatchObject({ name: 'mesh', apiKey: { env: 'MESH_TOKEN' } });
    expect(config.providers.routes[0]).toMatchObject({ model: 'mesh/m', upstreamModel: 'm' });
    expect(config.pricing[0]).toEqual({
      model: 'mesh:m',
      inputPerMillion: 0.5,
      outputPerMillion: 1.5,
      effectiveFrom: Date.UTC(2026, 0, 1),
    });
    expect(config.owners[0]?.budget).toEqual({ maxNusd: 12_500_000_000, period: 'weekly' });
    expect(config.settings).toEqual({ allowUnpriced: ['mesh/m'], defaultMaxTokens: 256 });
  });

  it('refuses keys in a config file and unknown settings, with the path in the message', () => {
    expect(() => parseGatewayConfig({ keys: [{ alias: 'x' }] })).toThrow(/keys/);
    expect(() => parseGatewayConfig({ settings: { allow_unpriced: 'yes' } })).toThrow(
      /settings\.allow_unpriced/,
    );
    expect(() => parseGatewayConfig({ settings: { no_such_setting: 1 } })).toThrow(/settings/);
    expect(() =>
      parseGatewayConfig({ pricing: [{ model: 'm', input_per_million: -1, output_per_million: 1 }] }),
    ).toThrow(/pricing\.0\.input_per_million/);
  });
});

describe('bootstrap and allow_unpriced', () => {
  let upstream: MockUpstream;
  let db: TestDatabase;
  let store: GatewayStore;

  beforeAll(async () => {
    upstream = await startMockUpstream();
    db = testDatabase('sqlite');
    store = await openStore(db.url);
  });
  afterAll(async () => {
    await store.close();
    await upstream.close();
    await db.cleanup();
  });

  it('applies owners and prices idempotently and keeps owner spend', async () => {
    const config = parseGatewayConfig({
      pricing: [{ model: 'mock:echo', input_per_million: 1, output_per_million: 2 }],
      owners: [{ id: 'team-b', kind: 'team', name: 'B', budget: { max_usd: 1 } }],
    });
    await bootstrapStore(store, config);
    const { key } = await store.createKey({ alias: 'k', ownerId: 'team-b' });
    await store.reserve({ id: 'r', keyId: key.id, ownerId: 'team-b', amountNusd: 900, ttlMs: 60_000 });
    await store.settle({
      reservationId: 'r',
      keyId: key.id,
      ownerId: 'team-b',
      costNusd: 500,
      row: settleRow({
        model: 'mock:echo',
        provider: 'mock',
        upstreamModel: 'echo',
        promptTokens: 1,
        completionTokens: 1,
        reservedNusd: 900,
        latencyMs: 1,
        nodeIds: null,
        receiptDigest: null,
      }),
    });
    await bootstrapStore(store, config);
    expect(await store.listPrices()).toHaveLength(1);
    const owners = await store.listOwners();
    expect(owners.map((o) => o.id)).toEqual(['team-b']);
    expect(owners[0]?.budget).toMatchObject({ maxNusd: 1_000_000_000, spentNusd: 500, reservedNusd: 0 });
  });

  it('serves an unpriced model at zero cost when allowed, still recording its tokens', async () => {
    const { app, store: s } = await testApp(testDatabase('sqlite'), upstream, {
      settings: { allowUnpriced: ['mock:echo'] },
    });
    await app.ready();
    const { key, secret } = await s.createKey({ alias: 'free', budget: { maxNusd: 1 } });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: bearer(secret),
      payload: { model: 'mock:echo', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 },
    });
    expect(res.statusCode).toBe(200);
    const row = (await s.listUsage({ keyId: key.id, limit: 1 })).data[0];
    expect(row).toMatchObject({ costNusd: 0, completionTokens: 2, status: 'ok' });
    const other = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: bearer(secret),
      payload: { model: 'mock:slow', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(other.statusCode).toBe(402);
    await closeGracefully(app, 200);
  });
});
