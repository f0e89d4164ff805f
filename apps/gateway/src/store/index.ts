import type { Database } from '../db/database.js';
import { openDatabase } from '../db/open.js';
import type { PostgresOptions } from '../db/postgres.js';
import { SqlKeyStore } from './sql-keys.js';
import { SqlLedgerStore } from './sql-ledger.js';
import { SqlOwnerStore } from './sql-owners.js';
import { SqlPricingStore } from './sql-pricing.js';
import type { GatewayStore } from './types.js';

export * from './types.js';

/** The gateway's storage over either database; the same code runs on SQLite and PostgreSQL. */
export function createStore(db: Database): GatewayStore {
  const keys = new SqlKeyStore(db);
  const owners = new SqlOwnerStore(db);
  const pricing = new SqlPricingStore(db);
  const ledger = new SqlLedgerStore(db);
  return {
    dialect: db.dialect,
    createKey: (input) => keys.createKey(input),
    getKey: (id) => keys.getKey(id),
    findKeyBySecret: (secret, now) => keys.findKeyBySecret(secret, now),
    listKeys: (filter) => keys.listKeys(filter),
    updateKey: (id, patch) => keys.updateKey(id, patch),
    revokeKey: (id) => keys.revokeKey(id),
    rotateKey: (id, grace) => keys.rotateKey(id, grace),
    setKeyBudget: (id, budget) => keys.setKeyBudget(id, budget),
    createOwner: (input) => owners.createOwner(input),
    upsertOwner: (input) => owners.upsertOwner(input),
    getOwner: (id) => owners.getOwner(id),
    listOwners: () => owners.listOwners(),
    setOwnerBudget: (id, budget) => owners.setOwnerBudget(id, budget),
    setPrice: (price) => pricing.setPrice(price),
    listPrices: (model) => pricing.listPrices(model),
    reserve: (request) => ledger.reserve(request),
    settle: (request) => ledger.settle(request),
    reclaimExpiredReservations: (now) => ledger.reclaimExpiredReservations(now),
    listUsage: (query) => ledger.listUsage(query),
    summarizeUsage: (query) => ledger.summarizeUsage(query),
    usageSeries: (query) => ledger.usageSeries(query),
    close: () => db.close(),
  };
}

/** Opens the database named by `url` (SQLite file by default), migrates it and returns the store. */
export async function openStore(url?: string, pg?: PostgresOptions): Promise<GatewayStore> {
  return createStore(await openDatabase(url, pg));
}
