// What the serving SQLite process reads on every call, kept between calls: key records by secret
// hash and budget rows by key or owner id. A cached value is used only while it is what the
// database holds:
// - another connection's commit (the CLI, another process) changes SQLite's `PRAGMA data_version`,
//   which is read before every use (one read instead of the key and budget rows it replaces), and
//   everything is dropped when it moved;
// - this process's own writes other than settlements (admin API, config, a budget period starting
//   anew) drop everything once they are done (`clear`);
// - settlements add their charge to the cached spend once they committed (`charge`), which is what
//   did to the rows (applied inside their transaction; a batch that fails drops everything).
// Inside an open transaction nothing is read from or put in the cache: its reads see uncommitted
// writes.

import { num, numOrNull, statement } from '../db/database.js';
import { sql } from '../db/sql.js';
import type { SqliteDatabase } from '../db/sqlite.js';
import { keyFromRow } from './rows.js';
import { BY_HASH } from './sql-keys.js';
import type { BudgetState, KeyRecord } from './types.js';

export type BudgetTable = 'keys' | 'owners';

const p = sql.placeholder;
const BUDGET_ROW = {
  keys: statement(
    sql`SELECT budget_max_nusd, budget_spent_nusd, budget_reserved_nusd, budget_period, budget_resets_at FROM keys WHERE id = ${p('id')}`,
  ),
  owners: statement(
    sql`SELECT budget_max_nusd, budget_spent_nusd, budget_reserved_nusd, budget_period, budget_resets_at FROM owners WHERE id = ${p('id')}`,
  ),
};

/** Past this many entries a map starts over (keys seen once, e.g. after many rotations). */
const MAX_ENTRIES = 10_000;

export class ServingReadCache {
  private version: number | null = null;
  private readonly keys = new Map<string, KeyRecord>();
  private readonly budgets = { keys: new Map<string, BudgetState>(), owners: new Map<string, BudgetState>() };

  constructor(private readonly db: SqliteDatabase) {}

  /**
   * Whether cached values may be used now: drops them if another connection committed since the
   * last look; false inside an open transaction.
   */
  private usable(): boolean {
    if (this.db.inTransaction) return false;
    const version = this.db.dataVersion();
    if (version !== this.version) {
      this.clear();
      this.version = version;
    }
    return true;
  }

  /** The key whose secret hashes to `hash` (not revoked-filtered), with its budget as stored. */
  keyByHash(hash: string): KeyRecord | null {
    if (!this.usable()) {
      const row = this.db.readNow(BY_HASH, { hash })[0];
      return row ? keyFromRow(row) : null;
    }
    const cached = this.keys.get(hash);
    if (cached) {
      const budget = this.loadBudget('keys', cached.id, true);
      if (budget) return { ...cached, budget };
    }
    const row = this.db.readNow(BY_HASH, { hash })[0];
    if (!row) return null;
    const key = keyFromRow(row);
    remember(this.keys, hash, key);
    remember(this.budgets.keys, key.id, key.budget);
    return { ...key, budget: { ...key.budget } };
  }

  /** A key's or owner's budget as stored (spend committed by settlements included), or null. */
  budget(table: BudgetTable, id: string): BudgetState | null {
    return this.loadBudget(table, id, this.usable());
  }

  private loadBudget(table: BudgetTable, id: string, usable: boolean): BudgetState | null {
    const cached = usable ? this.budgets[table].get(id) : undefined;
    if (cached) return { ...cached };
    const row = this.db.readNow(BUDGET_ROW[table], { id })[0];
    if (!row) return null;
    const budget: BudgetState = {
      maxNusd: numOrNull(row.budget_max_nusd),
      spentNusd: num(row.budget_spent_nusd),
      reservedNusd: num(row.budget_reserved_nusd),
      period: (row.budget_period ?? null) as BudgetState['period'],
      resetsAt: numOrNull(row.budget_resets_at),
    };
    if (usable) remember(this.budgets[table], id, budget);
    return { ...budget };
  }

  /**
   * A settlement's writes are done: its cost is in the key's and owner's spend. Called inside the
   * settlement's transaction (no value is read into the cache meanwhile); if that transaction then
   * fails to commit, the caller clears the cache.
   */
  charge(keyId: string, ownerId: string | null, costNusd: number): void {
    const key = this.budgets.keys.get(keyId);
    if (key) key.spentNusd += costNusd;
    const owner = ownerId === null ? undefined : this.budgets.owners.get(ownerId);
    if (owner) owner.spentNusd += costNusd;
  }

  /** Forgets everything (after this process changed keys, owners or budgets other than by settling). */
  clear(): void {
    this.keys.clear();
    this.budgets.keys.clear();
    this.budgets.owners.clear();
  }
}

function remember<T>(map: Map<string, T>, id: string, value: T): void {
  if (map.size >= MAX_ENTRIES) map.clear();
  map.set(id, value);
}
