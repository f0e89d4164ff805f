// The budget rule under concurrency (README "Budget rule"): with reservations that bound each call's
// cost, settled spend never exceeds the budget; when an upstream overruns its reservation, the excess
// is bounded by the sum of those overruns. Run against SQLite (one gateway) and PostgreSQL (two
// gateway instances sharing the database, as replicas).
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeGracefully } from '../src/app.js';
import { type GatewayStore, openStore } from '../src/store/index.js';
import { DIALECTS, skipDialect, type TestDatabase, testDatabase } from './helpers/databases.js';
import { bearer, priceTestModels, testApp } from './helpers/gateway.js';
import { type MockUpstream, startMockUpstream } from './helpers/upstream.js';

const CONCURRENCY = 240;

describe.each(DIALECTS)(`budget rule under ${CONCURRENCY} concurrent calls on %s`, (dialect) => {
  describe.skipIf(skipDialect(dialect))(dialect, () => {
    let upstream: MockUpstream;
    let db: TestDatabase;
    let store: GatewayStore;
    const apps: FastifyInstance[] = [];
    const urls: string[] = [];

    beforeAll(async () => {
      upstream = await startMockUpstream();
      db = testDatabase(dialect);
      store = await openStore(db.url, db.pg);
      await priceTestModels(store);
      const replicas = dialect === 'postgres' ? 2 : 1;
      for (let i = 0; i < replicas; i++) {
        const { app } = await testApp(db, upstream);
        apps.push(app);
        urls.push(await app.listen({ host: '127.0.0.1', port: 0 }));
      }
    });

    afterAll(async () => {
      for (const app of apps) await closeGracefully(app, 200);
      await store.close();
      await upstream.close();
      await db.cleanup();
    });

    /** The checks read the database on a connection of their own, as the CLI does. */
    async function flushServing() {
      for (const app of apps) await app.store.flush();
    }

    async function burst(secret: string, body: Record<string, unknown>) {
      const payload = JSON.stringify(body);
      const responses = await Promise.all(
        Array.from({ length: CONCURRENCY }, (_, i) =>
          fetch(`${urls[i % urls.length]}/v1/chat/completions`, {
            method: 'POST',
            headers: { ...bearer(secret), 'content-type': 'application/json' },
            body: payload,
          }).then(async (res) => ({ status: res.status, body: await res.text() })),
        ),
      );
      const counts = new Map<number, number>();
      for (const r of responses) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
      return { responses, counts, bytes: Buffer.byteLength(payload) };
    }

    it('never settles more than the key or owner budget when calls stay within their reservation', async () => {
      const body = {
        model: 'mock:echo',
        messages: [{ role: 'user', content: 'count to eight' }],
        max_tokens: 8,
      };
      const bytes = Buffer.byteLength(JSON.stringify(body));
      const estimate = (bytes + 8) * 1000; // $1/M in and out = 1000 nano-USD per token
      const owner = await store.createOwner({
        kind: 'team',
        name: 'team',
        budget: { maxNusd: 100 * estimate },
      });
      const { key, secret } = await store.createKey({
        alias: 'hot',
        ownerId: owner.id,
        budget: { maxNusd: 25 * estimate },
      });

      const { counts } = await burst(secret, body);
      await flushServing();
      const ok = counts.get(200) ?? 0;
      const rejected = counts.get(402) ?? 0;
      expect(ok + rejected).toBe(CONCURRENCY);
      expect(ok).toBeGreaterThanOrEqual(25); // at least the budget / estimate calls fit
      expect(rejected).toBeGreaterThan(0);

      const after = (await store.getKey(key.id))!;
      const rows = (await store.listUsage({ keyId: key.id, limit: 1000 })).data;
      expect(rows).toHaveLength(ok);
      const settled = rows.reduce((sum, r) => sum + r.costNusd, 0);
      expect(after.budget.reservedNusd).toBe(0);
      expect(after.budget.spentNusd).toBe(settled);
      expect(after.budget.spentNusd).toBeLessThanOrEqual(after.budget.maxNusd!);
      for (const r of rows) expect(r.costNusd).toBeLessThanOrEqual(r.reservedNusd);
      const ownerAfter = (await store.getOwner(owner.id))!;
      expect(ownerAfter.budget).toMatchObject({ spentNusd: settled, reservedNusd: 0 });
    });

    it('bounds overspend by the sum of per-call overruns when the upstream exceeds max_tokens', async () => {
      const body = {
        model: 'mock:overrun',
        messages: [{ role: 'user', content: 'overrun' }],
        max_tokens: 100,
      };
      const bytes = Buffer.byteLength(JSON.stringify(body));
      const estimate = (bytes + 100) * 1000;
      const { key, secret } = await store.createKey({ alias: 'overrun', budget: { maxNusd: 10 * estimate } });

      const { counts } = await burst(secret, body);
      await flushServing();
      expect((counts.get(200) ?? 0) + (counts.get(402) ?? 0)).toBe(CONCURRENCY);

      const after = (await store.getKey(key.id))!;
      const rows = (await store.listUsage({ keyId: key.id, limit: 1000 })).data;
      const overrun = rows.reduce((sum, r) => sum + Math.max(0, r.costNusd - r.reservedNusd), 0);
      expect(overrun).toBeGreaterThan(0); // the upstream did overrun
      expect(after.budget.reservedNusd).toBe(0);
      expect(after.budget.spentNusd).toBe(rows.reduce((sum, r) => sum + r.costNusd, 0));
      expect(after.budget.spentNusd).toBeLessThanOrEqual(after.budget.maxNusd! + overrun);
    });
  });
});
