import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeGracefully } from '../src/app.js';
import type { GatewayStore } from '../src/store/index.js';
import { DIALECTS, skipDialect, type TestDatabase, testDatabase } from './helpers/databases.js';
import { adminHeaders, bearer, testApp } from './helpers/gateway.js';
import { type MockUpstream, startMockUpstream } from './helpers/upstream.js';

describe.each(DIALECTS)('admin and key-holder APIs on %s', (dialect) => {
  describe.skipIf(skipDialect(dialect))(dialect, () => {
    let upstream: MockUpstream;
    let db: TestDatabase;
    let app: FastifyInstance;
    let store: GatewayStore;

    beforeAll(async () => {
      upstream = await startMockUpstream();
      db = testDatabase(dialect);
      ({ app, store } = await testApp(db, upstream));
      await app.ready();
    });
    afterAll(async () => {
      await closeGracefully(app, 200);
      await upstream.close();
      await db.cleanup();
    });

    const admin = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      app.inject({ method, url, headers: adminHeaders, ...(payload ? { payload } : {}) });

    it('refuses the admin API without the right master key', async () => {
      expect((await app.inject({ method: 'GET', url: '/admin/keys' })).statusCode).toBe(401);
      const wrong = await app.inject({ method: 'GET', url: '/admin/keys', headers: bearer('nope') });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json().error.code).toBe('invalid_master_key');
    });

    it('manages owners, keys, budgets and prices, then serves metered calls and usage', async () => {
      const owner = await admin('POST', '/admin/owners', {
        id: 'team-a',
        kind: 'team',
        name: 'Team A',
        budget: { max_usd: 5, period: 'monthly' },
      });
      expect(owner.statusCode).toBe(201);
      expect(owner.json().budget).toMatchObject({ max_usd: 5, spent_usd: 0, period: 'monthly' });
      expect(
        (await admin('POST', '/admin/owners', { id: 'team-a', kind: 'team', name: 'again' })).statusCode,
      ).toBe(409);

      const created = await admin('POST', '/admin/keys', {
        alias: 'svc',
        owner_id: 'team-a',
        models: ['mock:*'],
        metadata: { env: 'test' },
        budget: { max_usd: 1 },
      });
      expect(created.statusCode).toBe(201);
      const { id, key } = created.json();
      expect(key).toMatch(/^sk-cas-[A-Za-z0-9_-]{43}$/);
      expect((await admin('GET', `/admin/keys/${id}`)).json()).not.toHaveProperty('key');
      expect((await admin('GET', '/admin/keys')).json().data.map((k: { id: string }) => k.id)).toContain(id);
      expect((await admin('POST', '/admin/keys', { alias: 'x', owner_id: 'nobody' })).statusCode).toBe(400);
      expect(
        (await admin('POST', '/admin/keys', { alias: 'x', budget: { max_usd: -1 } })).json().error.param,
      ).toBe('budget.max_usd');

      const patched = await admin('PATCH', `/admin/keys/${id}`, { rpm_limit: 100, alias: 'svc2' });
      expect(patched.json()).toMatchObject({ alias: 'svc2', rpm_limit: 100 });
      const budget = await admin('PUT', `/admin/keys/${id}/budget`, { max_usd: 2, period: 'daily' });
      expect(budget.json().budget).toMatchObject({ max_usd: 2, period: 'daily' });

      expect(
        (
          await admin('POST', '/admin/pricing', {
            model: 'mock:echo',
            input_per_million: 2,
            output_per_million: 4,
          })
        ).statusCode,
      ).toBe(201);
      const future = await admin('POST', '/admin/pricing', {
        model: 'mock:echo',
        input_per_million: 100,
        output_per_million: 100,
        effective_from: '2999-01-01T00:00:00Z',
      });
      expect(future.statusCode).toBe(201);
      expect((await admin('GET', '/admin/pricing?model=mock:echo')).json().data).toHaveLength(2);

      // The key holder: a call at the current price (not the future version), then info and usage.
      const call = await app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: bearer(key),
        payload: { model: 'mock:echo', messages: [{ role: 'user', content: 'a b' }], max_tokens: 4 },
      });
      expect(call.statusCode).toBe(200);
      const expectedCost = (5 * 2 + 4 * 4) / 1e6; // 5 prompt + 4 completion tokens at $2/$4 per million
      const info = (await app.inject({ method: 'GET', url: '/v1/key/info', headers: bearer(key) })).json();
      expect(info.key).toMatchObject({ id, alias: 'svc2', models: ['mock:*'], metadata: { env: 'test' } });
      expect(info.budget).toMatchObject({
        max_usd: 2,
        spent_usd: expectedCost,
        reserved_usd: 0,
        period: 'daily',
      });
      expect(info.owner).toMatchObject({ id: 'team-a', budget: { spent_usd: expectedCost } });
      const usage = (
        await app.inject({ method: 'GET', url: '/v1/usage?limit=5', headers: bearer(key) })
      ).json();
      expect(usage.data).toHaveLength(1);
      expect(usage.data[0]).toMatchObject({
        model: 'mock:echo',
        provider: 'mock',
        prompt_tokens: 5,
        completion_tokens: 4,
        cost_usd: expectedCost,
        status: 'ok',
        node_ids: ['node-alpha', 'node-beta'],
      });
      expect(usage.next_cursor).toBeNull();
      expect(
        (await app.inject({ method: 'GET', url: '/v1/usage?cursor=%%%', headers: bearer(key) })).statusCode,
      ).toBe(400);

      const summary = (await admin('GET', '/admin/usage/summary?group_by=owner')).json();
      expect(summary.data).toEqual([
        expect.objectContaining({ group: 'team-a', requests: 1, cost_usd: expectedCost }),
      ]);
      const series = (await admin('GET', '/admin/usage/timeseries?group_by=model&bucket=day')).json();
      expect(series.data[0]).toMatchObject({ group: 'mock:echo', requests: 1 });
      const rows = (await admin('GET', `/admin/usage?key_id=${id}&limit=1`)).json();
      expect(rows.data[0].key_id).toBe(id);

      const rotated = await admin('POST', `/admin/keys/${id}/rotate`, {});
      const newKey = rotated.json().key;
      expect(newKey).not.toBe(key);
      expect(
        (await app.inject({ method: 'GET', url: '/v1/key/info', headers: bearer(key) })).statusCode,
      ).toBe(401);
      expect(
        (await app.inject({ method: 'GET', url: '/v1/key/info', headers: bearer(newKey) })).statusCode,
      ).toBe(200);
      expect((await admin('POST', `/admin/keys/${id}/revoke`)).json().revoked_at).not.toBeNull();
      expect(
        (await app.inject({ method: 'GET', url: '/v1/key/info', headers: bearer(newKey) })).statusCode,
      ).toBe(401);
      expect((await admin('POST', `/admin/keys/${id}/rotate`, {})).statusCode).toBe(404);

      const ownerBudget = await admin('PUT', '/admin/owners/team-a/budget', { max_usd: null });
      expect(ownerBudget.json().budget).toMatchObject({ max_usd: null, period: 'monthly' });
      expect((await admin('GET', '/admin/owners')).json().data).toHaveLength(1);
      expect((await admin('GET', '/admin/keys/key_nope')).statusCode).toBe(404);
      expect(store.dialect).toBe(dialect);
    });
  });
});
