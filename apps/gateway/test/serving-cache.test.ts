// The serving SQLite process keeps key records and budgets between calls (serving-read-cache.ts).
// Whatever changes them elsewhere (the CLI on its own connection, the admin API in the process)
// must apply to the very next call, and the spend it keeps must be the settled spend exactly.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeGracefully } from '../src/app.js';
import { nanoToUsd } from '../src/money.js';
import { type GatewayStore, openStore } from '../src/store/index.js';
import { type TestDatabase, testDatabase } from './helpers/databases.js';
import { adminHeaders, bearer, priceTestModels, testApp } from './helpers/gateway.js';
import { type MockUpstream, startMockUpstream } from './helpers/upstream.js';

let upstream: MockUpstream;
let db: TestDatabase;
let app: FastifyInstance;
let serving: GatewayStore;
/** Another connection to the same file, as the CLI opens it. */
let cli: GatewayStore;

const call = (secret: string) =>
  app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: bearer(secret),
    payload: { model: 'mock:echo', messages: [{ role: 'user', content: 'hello there mesh' }], max_tokens: 5 },
  });

beforeAll(async () => {
  upstream = await startMockUpstream();
  db = testDatabase('sqlite');
  ({ app, store: serving } = await testApp(db, upstream));
  cli = await openStore(db.url);
  await priceTestModels(serving);
});

afterAll(async () => {
  await closeGracefully(app, 200);
  await cli.close();
  await upstream.close();
  await db.cleanup();
});

describe('keys and budgets kept between calls by the serving process', () => {
  it('refuses a key revoked by another connection (the CLI) on the very next call', async () => {
    const { key, secret } = await cli.createKey({ alias: 'revoked-elsewhere' });
    expect((await call(secret)).statusCode).toBe(200);
    expect((await call(secret)).statusCode).toBe(200);
    await cli.revokeKey(key.id);
    const refused = await call(secret);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.code).toBe('key_revoked');
  });

  it('applies key and owner budgets lowered by another connection to the very next call', async () => {
    const owner = await cli.createOwner({
      kind: 'team',
      name: 'budgeted',
      budget: { maxNusd: 1_000_000_000 },
    });
    const { key, secret } = await cli.createKey({
      alias: 'budget-elsewhere',
      ownerId: owner.id,
      budget: { maxNusd: 1_000_000_000 },
    });
    expect((await call(secret)).statusCode).toBe(200);
    expect((await call(secret)).statusCode).toBe(200);
    await serving.flush(); // the two calls' settlements, in the database for the CLI to read
    const spent = (await cli.getKey(key.id))!.budget.spentNusd;
    expect(spent).toBeGreaterThan(0);

    await cli.setOwnerBudget(owner.id, { maxNusd: spent });
    const byOwner = await call(secret);
    expect(byOwner.statusCode).toBe(402);
    expect(byOwner.json().error.message).toContain(`owner '${owner.id}'`);

    await cli.setOwnerBudget(owner.id, { maxNusd: null });
    expect((await call(secret)).statusCode).toBe(200);
    await cli.setKeyBudget(key.id, { maxNusd: spent });
    const byKey = await call(secret);
    expect(byKey.statusCode).toBe(402);
    expect(byKey.json().error.message).toContain("key 'budget-elsewhere'");
  });

  it('applies a budget change and a revocation through the admin API to the very next call', async () => {
    const { key, secret } = await serving.createKey({
      alias: 'admin-api',
      budget: { maxNusd: 1_000_000_000 },
    });
    expect((await call(secret)).statusCode).toBe(200);
    const setBudget = (maxUsd: number | null) =>
      app.inject({
        method: 'PUT',
        url: `/admin/keys/${key.id}/budget`,
        headers: adminHeaders,
        payload: { max_usd: maxUsd },
      });
    const lowered = await setBudget(0.000001);
    expect(lowered.statusCode).toBe(200);
    expect((await call(secret)).statusCode).toBe(402);
    const raised = await setBudget(null);
    expect(raised.statusCode).toBe(200);
    expect((await call(secret)).statusCode).toBe(200);
    const revoked = await app.inject({
      method: 'POST',
      url: `/admin/keys/${key.id}/revoke`,
      headers: adminHeaders,
    });
    expect(revoked.statusCode).toBe(200);
    expect((await call(secret)).json().error.code).toBe('key_revoked');
  });

  it('keeps the settled spend exactly: admits calls while they fit and refuses the first that does not', async () => {
    // Each call reserves its estimate (prompt bytes + 5 completion tokens) and settles 11 tokens.
    const { key, secret } = await cli.createKey({ alias: 'exact', budget: { maxNusd: 200_000 } });
    let admitted = 0;
    let refusal: { message: string } | null = null;
    for (let i = 0; i < 50 && !refusal; i++) {
      const res = await call(secret);
      if (res.statusCode === 200) admitted++;
      else {
        expect(res.statusCode).toBe(402);
        refusal = res.json().error;
      }
    }
    expect(admitted).toBeGreaterThan(1);
    // The refusal quotes the spend the serving process checked. Its store folds its settlement
    // journal before answering, and then the database (the CLI's connection) holds exactly that.
    const stored = (await app.store.getKey(key.id))!.budget;
    expect(stored.spentNusd).toBe(admitted * 11_000);
    expect((await cli.getKey(key.id))!.budget.spentNusd).toBe(stored.spentNusd);
    expect(refusal?.message).toContain(
      `$${nanoToUsd(stored.spentNusd).toFixed(6)} spent and $0.000000 reserved`,
    );
    const info = await app.inject({ method: 'GET', url: '/v1/key/info', headers: bearer(secret) });
    expect(info.json().budget.spent_usd).toBeCloseTo(nanoToUsd(stored.spentNusd), 12);
  });
});
