// The ledger of the one gateway process serving a SQLite file: budget reservations live in its
// memory (memory-reservations.ts) instead of a reserve transaction per call; spend, the ledger and
// the roll-ups are written exactly as on PostgreSQL, in one settle transaction.
import { num, numOrNull, statement } from '../db/database.js';
import { sql } from '../db/sql.js';
import type { SqliteDatabase } from '../db/sqlite.js';
import type { MemoryReservations } from './memory-reservations.js';
import { BUDGET, type BudgetTable, rollValues, SqlLedgerStore, writeSettlement } from './sql-ledger.js';
import type { BudgetState, ReservationRequest, ReserveResult, SettleRequest } from './types.js';

const p = sql.placeholder;
const BUDGET_ROW = {
  keys: statement(
    sql`SELECT budget_max_nusd, budget_spent_nusd, budget_period, budget_resets_at FROM keys WHERE id = ${p('id')}`,
  ),
  owners: statement(
    sql`SELECT budget_max_nusd, budget_spent_nusd, budget_period, budget_resets_at FROM owners WHERE id = ${p('id')}`,
  ),
};

export class ServingSqliteLedgerStore extends SqlLedgerStore {
  constructor(
    private readonly sqlite: SqliteDatabase,
    private readonly reservations: MemoryReservations,
  ) {
    super(sqlite);
  }

  /** Settled spend (committed, or in the batch being committed) plus what this process holds. */
  private budgetNow(table: BudgetTable, id: string): BudgetState | null {
    const row = this.sqlite.readNow(BUDGET_ROW[table], { id })[0];
    if (!row) return null;
    return {
      maxNusd: numOrNull(row.budget_max_nusd),
      spentNusd: num(row.budget_spent_nusd),
      reservedNusd: this.reservations.reserved(table === 'keys' ? 'key' : 'owner', id),
      period: (row.budget_period ?? null) as BudgetState['period'],
      resetsAt: numOrNull(row.budget_resets_at),
    };
  }

  /**
   * The budget rule: admitted only if spent + reserved + amount <= max on the key and on its owner.
   * Read, check and hold happen in one synchronous step, so no other call can slip in between.
   */
  override async reserve(request: ReservationRequest): Promise<ReserveResult> {
    const now = request.now ?? Date.now();
    const amount = request.amountNusd;
    for (let attempt = 1; ; attempt++) {
      const key = this.budgetNow('keys', request.keyId);
      if (!key) throw new Error(`key ${request.keyId} not found while reserving`);
      const owner = request.ownerId ? this.budgetNow('owners', request.ownerId) : null;
      if (request.ownerId && !owner) throw new Error(`owner ${request.ownerId} not found while reserving`);
      if (periodOver(key, now) || (owner && periodOver(owner, now))) {
        // A budget period that is over starts anew (spend to zero, reservations kept), in a
        // transaction of its own; then the check runs again on the new period.
        if (attempt > 3) throw new Error('budget period reset did not take effect');
        await this.db.transaction(async (tx) => {
          await tx.run(BUDGET.keys.roll, rollValues(request.keyId, now));
          if (request.ownerId) await tx.run(BUDGET.owners.roll, rollValues(request.ownerId, now));
        });
        continue;
      }
      if (!fits(key, amount)) return { ok: false, scope: 'key', budget: key };
      if (owner && !fits(owner, amount)) return { ok: false, scope: 'owner', budget: owner };
      this.reservations.add(request.id, {
        keyId: request.keyId,
        ownerId: request.ownerId,
        amountNusd: amount,
        expiresAt: now + request.ttlMs,
      });
      return { ok: true };
    }
  }

  /** Charges and writes the ledger in one transaction; the reservation is let go once that committed. */
  override async settle(request: SettleRequest): Promise<void> {
    await this.db.transaction((tx) => writeSettlement(tx, request, 0));
    this.reservations.release(request.reservationId);
  }

  /** Held reservations past their expiry (a call that never settled), then any left in the database. */
  override async reclaimExpiredReservations(now = Date.now()): Promise<number> {
    return this.reservations.releaseExpired(now) + (await super.reclaimExpiredReservations(now));
  }
}

function periodOver(budget: BudgetState, now: number): boolean {
  return budget.period !== null && budget.resetsAt !== null && budget.resetsAt <= now;
}

function fits(budget: BudgetState, amount: number): boolean {
  return budget.maxNusd === null || budget.spentNusd + budget.reservedNusd + amount <= budget.maxNusd;
}
