import { readFileSync, statSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { usdToNano } from '../src/money.js';
import { nextResetAt } from '../src/store/budget-period.js';
import { DatabaseInUseError, type GatewayStore, openStore } from '../src/store/index.js';
import { hashKeySecret, KEY_PREFIX } from '../src/store/key-secrets.js';
import { DIALECTS, skipDialect, type TestDatabase, testDatabase } from './helpers/databases.js';
import { settleRow } from './helpers/settle-row.js';

/**
 * Every dialect as an admin tool opens it, plus SQLite as the serving gateway opens it (reservations
 * held in the process's memory, README "The budget rule"): the same budget rules hold for each.
 */
const VARIANTS = [
  ...DIALECTS.map((dialect) => ({ name: dialect, dialect, serving: false })),
  { name: 'sqlite, serving (reservations in memory)', dialect: 'sqlite' as const, serving: true },
];

describe.each(VARIANTS)('store on $name', ({ name, dialect, serving }) => {
  describe.skipIf(skipDialect(dialect))(name, () => {
    let db: TestDatabase;
    let store: GatewayStore;

    beforeEach(async () => {
      db = testDatabase(dialect);
      store = await openStore(db.url, db.pg, { serving });
    });
    afterEach(async () => {
      await store.close();
      await db.cleanup();
    });

    it('migrations are idempotent: reopening the same database works and keeps data', async () => {
      const { key } = await store.createKey({ alias: 'a' });
      const again = await openStore(db.url, db.pg);
      expect((await again.getKey(key.id))?.alias).toBe('a');
      await again.close();
    });

    it('stores only the hash of a key and finds it by the secret', async () => {
      const { key, secret } = await store.createKey({ alias: 'svc', models: ['x'], metadata: { team: 'a' } });
      expect(secret.startsWith(KEY_PREFIX)).toBe(true);
      expect(JSON.stringify(key)).not.toContain(secret);
      expect(key.keyPrefix).toBe(`${secret.slice(0, KEY_PREFIX.length + 4)}…`);
      expect((await store.findKeyBySecret(secret))?.id).toBe(key.id);
      expect(await store.findKeyBySecret(`${secret}x`)).toBeNull();
      expect(hashKeySecret(secret)).toMatch(/^[0-9a-f]{64}$/);
      expect(key.models).toEqual(['x']);
      expect(key.metadata).toEqual({ team: 'a' });
    });

    it('rotates a key: old secret stops working (or works within the grace period)', async () => {
      const { key, secret } = await store.createKey({ alias: 'r' });
      const rotated = await store.rotateKey(key.id);
      expect(rotated?.secret).not.toBe(secret);
      expect(await store.findKeyBySecret(secret)).toBeNull();
      expect((await store.findKeyBySecret(rotated!.secret))?.id).toBe(key.id);
      const graced = await store.rotateKey(key.id, 60);
      expect((await store.findKeyBySecret(rotated!.secret))?.id).toBe(key.id);
      expect(await store.findKeyBySecret(rotated!.secret, Date.now() + 61_000)).toBeNull();
      expect((await store.findKeyBySecret(graced!.secret))?.id).toBe(key.id);
    });

    it('updates, lists and revokes keys', async () => {
      const owner = await store.createOwner({ kind: 'team', name: 'T' });
      const { key } = await store.createKey({ alias: 'k1', ownerId: owner.id });
      await store.createKey({ alias: 'k2' });
      const updated = await store.updateKey(key.id, { alias: 'k1b', rpmLimit: 5, models: null });
      expect(updated).toMatchObject({ alias: 'k1b', rpmLimit: 5, models: null, ownerId: owner.id });
      expect((await store.listKeys({ ownerId: owner.id })).map((k) => k.id)).toEqual([key.id]);
      const revoked = await store.revokeKey(key.id);
      expect(revoked?.revokedAt).toBeGreaterThan(0);
      expect((await store.listKeys()).map((k) => k.alias)).toEqual(['k2']);
      expect(await store.listKeys({ includeRevoked: true })).toHaveLength(2);
      expect(await store.rotateKey(key.id)).toBeNull();
      expect(await store.updateKey('key_missing', { alias: 'x' })).toBeNull();
    });

    it('reserves atomically against key and owner budgets and rolls back both on rejection', async () => {
      const owner = await store.createOwner({ kind: 'user', name: 'U', budget: { maxNusd: 1000 } });
      const { key } = await store.createKey({ alias: 'k', ownerId: owner.id, budget: { maxNusd: 5000 } });
      expect(
        await store.reserve({ id: 'r1', keyId: key.id, ownerId: owner.id, amountNusd: 600, ttlMs: 60_000 }),
      ).toEqual({
        ok: true,
      });
      const rejected = await store.reserve({
        id: 'r2',
        keyId: key.id,
        ownerId: owner.id,
        amountNusd: 600,
        ttlMs: 60_000,
      });
      expect(rejected).toMatchObject({
        ok: false,
        scope: 'owner',
        budget: { maxNusd: 1000, reservedNusd: 600 },
      });
      // The key's reservation from the rejected attempt was rolled back with the transaction.
      expect((await store.getKey(key.id))?.budget.reservedNusd).toBe(600);
      await store.settle({
        reservationId: 'r1',
        keyId: key.id,
        ownerId: owner.id,
        costNusd: 250,
        row: settleRow(),
      });
      const k = await store.getKey(key.id);
      const o = await store.getOwner(owner.id);
      expect(k?.budget).toMatchObject({ spentNusd: 250, reservedNusd: 0 });
      expect(o?.budget).toMatchObject({ spentNusd: 250, reservedNusd: 0 });
    });

    it('reclaims expired reservations and still charges a late settlement', async () => {
      const { key } = await store.createKey({ alias: 'k', budget: { maxNusd: 1000 } });
      await store.reserve({
        id: 'old',
        keyId: key.id,
        ownerId: null,
        amountNusd: 900,
        ttlMs: 1000,
        now: 1000,
      });
      await store.reserve({ id: 'new', keyId: key.id, ownerId: null, amountNusd: 50, ttlMs: 3_600_000 });
      expect(await store.reclaimExpiredReservations()).toBe(1);
      expect((await store.getKey(key.id))?.budget.reservedNusd).toBe(50);
      await store.settle({
        reservationId: 'old',
        keyId: key.id,
        ownerId: null,
        costNusd: 70,
        row: settleRow(),
      });
      expect((await store.getKey(key.id))?.budget).toMatchObject({ spentNusd: 70, reservedNusd: 50 });
    });

    it('resets spend at the end of a budget period', async () => {
      const { key } = await store.createKey({ alias: 'k', budget: { maxNusd: 100, period: 'daily' } });
      const start = Date.now();
      await store.reserve({
        id: 'a',
        keyId: key.id,
        ownerId: null,
        amountNusd: 100,
        ttlMs: 60_000,
        now: start,
      });
      await store.settle({
        reservationId: 'a',
        keyId: key.id,
        ownerId: null,
        costNusd: 100,
        row: settleRow(),
      });
      expect(
        (await store.reserve({ id: 'b', keyId: key.id, ownerId: null, amountNusd: 1, ttlMs: 1, now: start }))
          .ok,
      ).toBe(false);
      const tomorrow = nextResetAt('daily', start) + 1;
      expect(
        (
          await store.reserve({
            id: 'c',
            keyId: key.id,
            ownerId: null,
            amountNusd: 1,
            ttlMs: 1,
            now: tomorrow,
          })
        ).ok,
      ).toBe(true);
      const k = await store.getKey(key.id);
      expect(k?.budget.spentNusd).toBe(0);
      expect(k?.budget.resetsAt).toBe(nextResetAt('daily', tomorrow));
    });

    it('versions prices by effective date', async () => {
      await store.setPrice({ model: 'm', inputPerMillion: 1, outputPerMillion: 2, effectiveFrom: 1000 });
      await store.setPrice({ model: 'm', inputPerMillion: 3, outputPerMillion: 4, effectiveFrom: 2000 });
      await store.setPrice({ model: 'm', inputPerMillion: 5, outputPerMillion: 6, effectiveFrom: 2000 });
      expect((await store.listPrices('m')).map((p) => p.inputPerMillion)).toEqual([1, 5]);
    });

    it('pages usage with a cursor and summarises by key, owner and model', async () => {
      const owner = await store.createOwner({ kind: 'team', name: 'T' });
      const { key } = await store.createKey({ alias: 'k', ownerId: owner.id });
      const { key: other } = await store.createKey({ alias: 'o' });
      const t0 = Date.UTC(2026, 0, 1, 10);
      for (let i = 0; i < 7; i++) {
        const keyId = i < 5 ? key.id : other.id;
        const ownerId = i < 5 ? owner.id : null;
        await store.reserve({ id: `q${i}`, keyId, ownerId, amountNusd: 10, ttlMs: 60_000 });
        await store.settle({
          reservationId: `q${i}`,
          keyId,
          ownerId,
          costNusd: usdToNano(0.001) * (i + 1),
          row: settleRow({ createdAt: t0 + i * 1_800_000, model: i % 2 ? 'b' : 'a' }),
        });
      }
      const page1 = await store.listUsage({ keyId: key.id, limit: 2 });
      expect(page1.data.map((r) => r.requestId)).toEqual(['q4', 'q3']);
      const page2 = await store.listUsage({ keyId: key.id, limit: 2, cursor: page1.nextCursor });
      expect(page2.data.map((r) => r.requestId)).toEqual(['q2', 'q1']);
      const page3 = await store.listUsage({ keyId: key.id, limit: 2, cursor: page2.nextCursor });
      expect(page3.data.map((r) => r.requestId)).toEqual(['q0']);
      expect(page3.nextCursor).toBeNull();
      expect(page1.data[0]).toMatchObject({ nodeIds: ['node-a', 'node-b'], promptTokens: 10, stream: false });

      const byOwner = await store.summarizeUsage({ groupBy: 'owner' });
      const team = byOwner.find((r) => r.group === owner.id);
      expect(team).toMatchObject({ requests: 5, costNusd: usdToNano(0.015) });
      const byModel = await store.summarizeUsage({ groupBy: 'model', keyId: key.id });
      expect(Object.fromEntries(byModel.map((r) => [r.group, r.requests]))).toEqual({ a: 3, b: 2 });
      const series = await store.usageSeries({ groupBy: 'key', bucket: 'hour', keyId: key.id });
      expect(series.map((p) => [p.bucketStart - t0, p.requests])).toEqual([
        [0, 2],
        [3_600_000, 2],
        [7_200_000, 1],
      ]);
      const daily = await store.usageSeries({
        groupBy: 'model',
        bucket: 'day',
        from: t0,
        to: t0 + 86_400_000,
      });
      expect(daily.reduce((s, p) => s + p.requests, 0)).toBe(7);
    });
  });
});

describe('the serving store on SQLite', () => {
  let db: TestDatabase;
  beforeEach(() => {
    db = testDatabase('sqlite');
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it('holds reservations in memory only, is the one serving store of its file, and leaves nothing behind when it goes', async () => {
    const serving = await openStore(db.url, {}, { serving: true });
    const admin = await openStore(db.url);
    try {
      const { key } = await admin.createKey({ alias: 'k', budget: { maxNusd: 1000 } });
      expect(
        await serving.reserve({ id: 'r1', keyId: key.id, ownerId: null, amountNusd: 700, ttlMs: 60_000 }),
      ).toEqual({ ok: true });
      // The serving process counts it; the database (what other processes see) holds none.
      expect((await serving.getKey(key.id))?.budget.reservedNusd).toBe(700);
      expect((await admin.getKey(key.id))?.budget.reservedNusd).toBe(0);
      // A limit lowered by an admin process applies to the next admission.
      await admin.setKeyBudget(key.id, { maxNusd: 800 });
      expect(
        await serving.reserve({ id: 'r2', keyId: key.id, ownerId: null, amountNusd: 200, ttlMs: 60_000 }),
      ).toMatchObject({ ok: false, scope: 'key', budget: { maxNusd: 800, spentNusd: 0, reservedNusd: 700 } });

      await expect(openStore(db.url, {}, { serving: true })).rejects.toThrow(DatabaseInUseError);
      await expect(openStore(db.url, {}, { serving: true })).rejects.toThrow(/already serving/);

      await serving.settle({
        reservationId: 'r1',
        keyId: key.id,
        ownerId: null,
        costNusd: 300,
        row: settleRow(),
      });
      expect((await serving.getKey(key.id))?.budget).toMatchObject({ spentNusd: 300, reservedNusd: 0 });
      expect((await admin.getKey(key.id))?.budget).toMatchObject({ spentNusd: 300, reservedNusd: 0 });

      // A reservation still held when the process goes (crash or stop) is gone with it.
      expect(
        await serving.reserve({ id: 'r3', keyId: key.id, ownerId: null, amountNusd: 500, ttlMs: 60_000 }),
      ).toEqual({ ok: true });
    } finally {
      await serving.close();
    }
    const next = await openStore(db.url, {}, { serving: true });
    try {
      const [key] = await next.listKeys();
      expect(key?.budget).toMatchObject({ spentNusd: 300, reservedNusd: 0 });
      expect(
        await next.reserve({ id: 'r4', keyId: key!.id, ownerId: null, amountNusd: 500, ttlMs: 60_000 }),
      ).toEqual({ ok: true });
    } finally {
      await next.close();
      await admin.close();
    }
  });

  it('folds concurrent settlements in one batch with summed charges and roll-ups, and charges a repeated one once', async () => {
    const serving = await openStore(db.url, {}, { serving: true });
    try {
      const owner = await serving.createOwner({ kind: 'team', name: 'T', budget: { maxNusd: 1_000_000 } });
      const { key } = await serving.createKey({
        alias: 'k',
        ownerId: owner.id,
        budget: { maxNusd: 1_000_000 },
      });
      const ids = Array.from({ length: 12 }, (_, i) => `req_${i}`);
      for (const id of ids) {
        await serving.reserve({ id, keyId: key.id, ownerId: owner.id, amountNusd: 5000, ttlMs: 60_000 });
      }
      const settle = (id: string, i: number) =>
        serving.settle({
          reservationId: id,
          keyId: key.id,
          ownerId: owner.id,
          costNusd: 100 + i,
          row: settleRow({ model: i % 2 ? 'odd' : 'even', promptTokens: i, completionTokens: 1 }),
        });
      await settle(ids[0]!, 0);
      // Six in one batch: summed charges and roll-ups.
      await Promise.all(ids.slice(1, 7).map((id, i) => settle(id, i + 1)));
      // The first one again (a retry of a settlement that did land: its ledger row exists) in the
      // same batch as the five others: accepted, and charged once.
      await Promise.all([settle(ids[0]!, 0), ...ids.slice(7).map((id, i) => settle(id, i + 7))]);

      const charged = ids.reduce((sum, _, i) => sum + 100 + i, 0);
      expect((await serving.getKey(key.id))?.budget).toMatchObject({ spentNusd: charged, reservedNusd: 0 });
      expect((await serving.getOwner(owner.id))?.budget).toMatchObject({
        spentNusd: charged,
        reservedNusd: 0,
      });
      expect((await serving.listUsage({ keyId: key.id, limit: 100 })).data).toHaveLength(12);
      const byModel = await serving.summarizeUsage({ groupBy: 'model', keyId: key.id });
      const expected = (parity: number) => {
        const calls = ids.map((_, i) => i).filter((i) => i % 2 === parity);
        return {
          requests: calls.length,
          promptTokens: calls.reduce((sum, i) => sum + i, 0),
          completionTokens: calls.length,
          costNusd: calls.reduce((sum, i) => sum + 100 + i, 0),
        };
      };
      expect(byModel.find((r) => r.group === 'even')).toMatchObject(expected(0));
      expect(byModel.find((r) => r.group === 'odd')).toMatchObject(expected(1));
      const now = Date.now();
      const hourly = await serving.summarizeUsage({
        groupBy: 'model',
        keyId: key.id,
        from: now - 3_600_000,
        to: now + 1,
      });
      expect(hourly.find((r) => r.group === 'even')).toMatchObject(expected(0));
    } finally {
      await serving.close();
    }
  });

  it('folds one-at-a-time settlements eight at a time while a call waits for its upstream, the others after 10 ms', async () => {
    const serving = await openStore(db.url, {}, { serving: true });
    const other = new BetterSqlite3(db.url.slice('file:'.length), { readonly: true });
    const rows = () => (other.prepare('SELECT count(*) AS n FROM usage').get() as { n: number }).n;
    /** Event-loop turns until `done` or 200 turns (the folds run on setImmediate, which stays real). */
    const turns = async (done: () => boolean) => {
      for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setImmediate(resolve));
    };
    try {
      const { key } = await serving.createKey({ alias: 'k', budget: { maxNusd: 1_000_000 } });
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }); // the fold window's timer
      // Calls one at a time, as at concurrency 1: reserved, upstream request out, settled.
      const call = async (i: number) => {
        await serving.reserve({ id: `c${i}`, keyId: key.id, ownerId: null, amountNusd: 500, ttlMs: 60_000 });
        serving.upstreamWaiting?.();
        await new Promise((resolve) => setImmediate(resolve));
        await serving.settle({
          reservationId: `c${i}`,
          keyId: key.id,
          ownerId: null,
          costNusd: 100,
          row: settleRow(),
        });
      };
      for (let i = 1; i <= 8; i++) await call(i);
      await turns(() => false);
      expect(rows()).toBe(0); // journaled and counted, not folded yet
      // The ninth call waits for its upstream with eight settlements waiting: they are folded now.
      await call(9);
      await turns(() => rows() === 8);
      expect(rows()).toBe(8);
      // The ninth's own settlement waits for the window's end.
      vi.advanceTimersByTime(9);
      await turns(() => false);
      expect(rows()).toBe(8);
      vi.advanceTimersByTime(1);
      await turns(() => rows() === 9);
      expect(rows()).toBe(9);
      expect((await serving.getKey(key.id))?.budget).toMatchObject({ spentNusd: 900, reservedNusd: 0 });
    } finally {
      vi.useRealTimers();
      other.close();
      await serving.close();
    }
  });

  it('settles while another process holds the write lock, counts the cost, and writes it once the lock is free', async () => {
    const failures: string[] = [];
    const serving = await openStore(
      db.url,
      {},
      { serving: true, onJournalWarning: (warning) => failures.push(warning.message) },
    );
    const path = db.url.slice('file:'.length);
    const other = new BetterSqlite3(path);
    try {
      const { key } = await serving.createKey({ alias: 'k', budget: { maxNusd: 10_000 } });
      for (const id of ['r1', 'r2']) {
        await serving.reserve({ id, keyId: key.id, ownerId: null, amountNusd: 500, ttlMs: 60_000 });
      }
      other.exec('BEGIN IMMEDIATE'); // holds the write lock past the serving connection's busy timeout
      // Settled (journaled) at once; the fold that follows cannot write and is retried.
      await serving.settle({
        reservationId: 'r1',
        keyId: key.id,
        ownerId: null,
        costNusd: 100,
        row: settleRow(),
      });
      await expect.poll(() => failures.length, { timeout: 20_000 }).toBeGreaterThan(0);
      expect(failures[0]).toMatch(/locked|busy/i);
      expect(readFileSync(`${path}-settlements`, 'utf8')).toContain('"reservationId":"r1"');
      // Not in the database yet, and counted as spent all the same: 100 spent + 500 held (r2).
      expect(other.prepare('SELECT budget_spent_nusd FROM keys').pluck().get()).toBe(0);
      expect(
        await serving.reserve({ id: 'r3', keyId: key.id, ownerId: null, amountNusd: 9_401, ttlMs: 60_000 }),
      ).toMatchObject({ ok: false, scope: 'key' });
      other.exec('ROLLBACK');
      await serving.settle({
        reservationId: 'r2',
        keyId: key.id,
        ownerId: null,
        costNusd: 200,
        row: settleRow(),
      });
      expect((await serving.getKey(key.id))?.budget).toMatchObject({ spentNusd: 300, reservedNusd: 0 });
      expect((await serving.listUsage({ keyId: key.id, limit: 10 })).data).toHaveLength(2);
    } finally {
      other.close();
      await serving.close();
    }
    // Everything folded: a clean shutdown leaves the journal empty.
    expect(statSync(`${path}-settlements`).size).toBe(0);
  }, 60_000);
});
