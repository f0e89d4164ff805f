import { existsSync, statSync } from 'node:fs';
import type { Database } from '../db/database.js';
import { openDatabase } from '../db/open.js';
import type { PostgresOptions } from '../db/postgres.js';
import { acquireServeLock, DatabaseInUseError, type ServeLock } from '../db/serve-lock.js';
import type { SqliteDatabase } from '../db/sqlite.js';
import { hashKeySecret } from './key-secrets.js';
import { MemoryReservations } from './memory-reservations.js';
import { keyFromRow } from './rows.js';
import { ServingReadCache } from './serving-read-cache.js';
import {
  type Journal,
  MEMORY_JOURNAL,
  SettlementJournal,
  settlementJournalPath,
} from './settlement-journal.js';
import { BY_PREVIOUS_HASH, SqlKeyStore } from './sql-keys.js';
import { SqlLedgerStore } from './sql-ledger.js';
import { SqlOwnerStore } from './sql-owners.js';
import { SqlPricingStore } from './sql-pricing.js';
import {
  emitJournalWarning,
  type JournalWarning,
  ServingSqliteLedgerStore,
} from './sqlite-serving-ledger.js';
import type { BudgetState, GatewayStore, KeyRecord, LedgerStore } from './types.js';

export { DatabaseInUseError } from '../db/serve-lock.js';
export * from './types.js';

/** The gateway's storage over either database; the same code runs on SQLite and PostgreSQL. */
export function createStore(db: Database): GatewayStore {
  return assembleStore(db, new SqlLedgerStore(db), null, async () => db.close());
}

function assembleStore(
  db: Database,
  ledger: LedgerStore,
  /** The serving SQLite process's view of a budget as stored: what it holds or has not yet written. */
  live: ((scope: 'key' | 'owner', id: string, state: BudgetState) => BudgetState) | null,
  close: () => Promise<void>,
  findKeyNow?: (secret: string, now: number) => KeyRecord | null,
  /** Runs after each write of keys, owners or budgets (not settlements) through this store. */
  afterWrite: () => void = () => {},
  /** Runs before every operation but the data plane's (key lookup, reserve, settle). */
  before: () => Promise<void> = async () => {},
): GatewayStore {
  const keys = new SqlKeyStore(db);
  const owners = new SqlOwnerStore(db);
  const pricing = new SqlPricingStore(db);
  const key = <T extends { id: string; budget: BudgetState } | null>(record: T): T =>
    record && live ? { ...record, budget: live('key', record.id, record.budget) } : record;
  const owner = <T extends { id: string; budget: BudgetState } | null>(record: T): T =>
    record && live ? { ...record, budget: live('owner', record.id, record.budget) } : record;
  const withKey = <T extends { key: { id: string; budget: BudgetState } } | null>(result: T): T =>
    result && live ? { ...result, key: key(result.key) } : result;
  const write = async <T>(done: () => Promise<T>): Promise<T> => {
    await before();
    try {
      return await done();
    } finally {
      afterWrite();
    }
  };
  const read = async <T>(done: () => Promise<T>): Promise<T> => {
    await before();
    return done();
  };
  return {
    dialect: db.dialect,
    createKey: async (input) => withKey(await write(() => keys.createKey(input))),
    getKey: async (id) => key(await read(() => keys.getKey(id))),
    findKeyBySecret: async (secret, now) =>
      key(findKeyNow ? findKeyNow(secret, now ?? Date.now()) : await keys.findKeyBySecret(secret, now)),
    listKeys: async (filter) => (await read(() => keys.listKeys(filter))).map(key),
    updateKey: async (id, patch) => key(await write(() => keys.updateKey(id, patch))),
    revokeKey: async (id) => key(await write(() => keys.revokeKey(id))),
    rotateKey: async (id, grace) => withKey(await write(() => keys.rotateKey(id, grace))),
    setKeyBudget: async (id, input) => key(await write(() => keys.setKeyBudget(id, input))),
    createOwner: async (input) => owner(await write(() => owners.createOwner(input))),
    upsertOwner: async (input) => owner(await write(() => owners.upsertOwner(input))),
    getOwner: async (id) => owner(await read(() => owners.getOwner(id))),
    listOwners: async () => (await read(() => owners.listOwners())).map(owner),
    setOwnerBudget: async (id, input) => owner(await write(() => owners.setOwnerBudget(id, input))),
    setPrice: (price) => pricing.setPrice(price),
    listPrices: (model) => pricing.listPrices(model),
    reserve: (request) => ledger.reserve(request),
    settle: (request) => ledger.settle(request),
    ...(ledger.upstreamWaiting ? { upstreamWaiting: () => ledger.upstreamWaiting?.() } : {}),
    flush: before,
    reclaimExpiredReservations: (now) => ledger.reclaimExpiredReservations(now),
    listUsage: (query) => ledger.listUsage(query),
    summarizeUsage: (query) => ledger.summarizeUsage(query),
    usageSeries: (query) => ledger.usageSeries(query),
    close,
  };
}

/**
 * The store of the one gateway process serving a SQLite file: takes the file's serving lock (a
 * second serving process fails with DatabaseInUseError; admin stores do not take it), keeps
 * budget reservations in memory and settles through the settlement journal, whose leftover lines
 * (a crash) it folds before it returns.
 */
async function createServingSqliteStore(
  db: SqliteDatabase,
  lock: ServeLock | null,
  options: StoreOptions,
): Promise<GatewayStore> {
  const held = new MemoryReservations();
  const cache = new ServingReadCache(db);
  const journal = openJournal(db);
  const ledger = new ServingSqliteLedgerStore(db, held, cache, journal, options.onJournalWarning);
  try {
    await recoverJournal(ledger, journal, options.onJournalWarning);
  } catch (error) {
    journal.close();
    throw error;
  }
  // Key lookups (every call) read at once instead of queueing behind the statement lock, from the
  // cache (serving-read-cache.ts) or the database: a read sees committed data, or the batch being
  // committed, which only ever makes a change visible sooner. A key's previous secret (rotation
  // grace period) is looked up uncached: it is valid only until a time.
  const findKeyNow = (secret: string, now: number): KeyRecord | null => {
    const hash = hashKeySecret(secret);
    const key = cache.keyByHash(hash);
    if (key) return key;
    const row = db.readNow(BY_PREVIOUS_HASH, { hash, now })[0];
    return row ? keyFromRow(row) : null;
  };
  const close = async () => {
    try {
      await ledger.close();
      await db.close();
    } finally {
      lock?.release();
    }
  };
  // Budgets as this process sees them: reservations held in memory count as reserved, settled calls
  // not yet folded into the database as spent.
  const live = (scope: 'key' | 'owner', id: string, state: BudgetState): BudgetState => ({
    ...state,
    spentNusd: state.spentNusd + ledger.unfoldedSpend(scope, id),
    reservedNusd: state.reservedNusd + held.reserved(scope, id),
  });
  return assembleStore(
    db,
    ledger,
    live,
    close,
    findKeyNow,
    () => cache.clear(),
    () => ledger.flush(),
  );
}

function openJournal(db: SqliteDatabase): Journal {
  if (db.location === ':memory:') return MEMORY_JOURNAL;
  return new SettlementJournal(settlementJournalPath(db.location), db.synchronous === 'FULL');
}

async function recoverJournal(
  ledger: ServingSqliteLedgerStore,
  journal: Journal,
  warn: JournalWarning = emitJournalWarning,
): Promise<void> {
  const { records, unreadable } = journal.read();
  if (unreadable > 0) {
    warn(new Error(`${unreadable} unreadable line(s) in the settlement journal were skipped`));
  }
  await ledger.recover(records);
}

/**
 * Settlements journaled by a gateway that stopped before folding them (a crash) are folded by the
 * next process that opens the file while no gateway serves it, the CLI included.
 */
async function foldOrphanedJournal(db: SqliteDatabase): Promise<void> {
  if (db.location === ':memory:') return;
  const path = settlementJournalPath(db.location);
  if (!existsSync(path) || statSync(path).size === 0) return;
  let lock: ServeLock;
  try {
    lock = acquireServeLock(db.location);
  } catch (error) {
    if (error instanceof DatabaseInUseError) return; // the serving gateway folds them
    throw error;
  }
  try {
    const journal = openJournal(db);
    const ledger = new ServingSqliteLedgerStore(
      db,
      new MemoryReservations(),
      new ServingReadCache(db),
      journal,
    );
    await recoverJournal(ledger, journal, undefined);
    await ledger.close();
  } finally {
    lock.release();
  }
}

export interface StoreOptions {
  /**
   * This process serves calls. On SQLite it must be the only one for the file (enforced) and keeps
   * budget reservations in memory; on PostgreSQL replicas share reservations in the database.
   */
  serving?: boolean;
  /** Serving on SQLite: told when the settlement journal has unreadable lines or cannot be folded yet. */
  onJournalWarning?: JournalWarning;
}

/** Opens the database named by `url` (SQLite file by default), migrates it and returns the store. */
export async function openStore(
  url?: string,
  pg?: PostgresOptions,
  options: StoreOptions = {},
): Promise<GatewayStore> {
  const db = await openDatabase(url, pg);
  if (db.dialect === 'sqlite' && !options.serving) {
    try {
      await foldOrphanedJournal(db as SqliteDatabase);
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  if (!options.serving || db.dialect !== 'sqlite') return createStore(db);
  let lock: ServeLock | null = null;
  try {
    if (db.location !== ':memory:') lock = acquireServeLock(db.location);
  } catch (error) {
    await db.close();
    throw error;
  }
  try {
    return await createServingSqliteStore(db as SqliteDatabase, lock, options);
  } catch (error) {
    await db.close();
    lock?.release();
    throw error;
  }
}
