// The ledger of the one gateway process serving a SQLite file: budget reservations live in its
// memory (memory-reservations.ts) instead of a reserve transaction per call; spend, the ledger and
// the roll-ups are written exactly as on PostgreSQL, in one settle transaction.

import type { SqlExecutor } from '../db/database.js';
import type { SqliteDatabase } from '../db/sqlite.js';
import type { MemoryReservations } from './memory-reservations.js';
import type { ServingReadCache } from './serving-read-cache.js';
import {
  BUDGET,
  type BudgetTable,
  dayOf,
  hourOf,
  INSERT_USAGE,
  rollupValues,
  rollValues,
  SqlLedgerStore,
  UPSERT_DAILY,
  UPSERT_HOURLY,
  usageValues,
  writeSettlement,
} from './sql-ledger.js';
import type { BudgetState, ReservationRequest, ReserveResult, SettleRequest } from './types.js';

interface PendingSettle {
  request: SettleRequest;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class ServingSqliteLedgerStore extends SqlLedgerStore {
  /** Settlements waiting for the transaction already queued for them (null: none queued). */
  private queued: PendingSettle[] | null = null;

  constructor(
    private readonly sqlite: SqliteDatabase,
    private readonly reservations: MemoryReservations,
    private readonly cache: ServingReadCache,
  ) {
    super(sqlite);
  }

  /** Settled spend (committed, or in the batch being committed) plus what this process holds. */
  private budgetNow(table: BudgetTable, id: string): BudgetState | null {
    const budget = this.cache.budget(table, id);
    if (!budget) return null;
    budget.reservedNusd = this.reservations.reserved(table === 'keys' ? 'key' : 'owner', id);
    return budget;
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
        try {
          await this.db.transaction(async (tx) => {
            await tx.run(BUDGET.keys.roll, rollValues(request.keyId, now));
            if (request.ownerId) await tx.run(BUDGET.owners.roll, rollValues(request.ownerId, now));
          });
        } finally {
          this.cache.clear();
        }
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

  /**
   * Charges and writes the ledger; the reservation is let go once that committed. Settlements that
   * arrive before their transaction starts share it (one group commit turn): each one's ledger row
   * is inserted, and the budget charges and roll-up increments are summed per key, owner and
   * bucket, so a batch of N calls on one key costs N inserts and 4 updates instead of 4N statements.
   */
  override settle(request: SettleRequest): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending = { request, resolve, reject };
      if (this.queued) {
        this.queued.push(pending);
        return;
      }
      const batch = [pending];
      this.queued = batch;
      // The only call in flight (the one reservation held is its own) has no other settlement to
      // wait for: its transaction starts at once.
      const write = async (tx: SqlExecutor) => {
        // From here on, new settlements queue a transaction of their own.
        if (this.queued === batch) this.queued = null;
        await writeSettlements(tx, batch);
        for (const { request: r } of batch) this.cache.charge(r.keyId, r.ownerId, r.costNusd);
      };
      (this.reservations.size <= 1 ? this.sqlite.transactionNow(write) : this.db.transaction(write)).then(
        () => {
          for (const item of batch) {
            this.reservations.release(item.request.reservationId);
            item.resolve();
          }
        },
        () => {
          // The transaction may have failed before it started (BEGIN could not take the write
          // lock): this batch takes no more settlements either way.
          if (this.queued === batch) this.queued = null;
          // Its charges may be in the cache although the commit failed.
          this.cache.clear();
          // One bad settlement (e.g. a retry of one that did commit: its ledger row exists) must
          // not fail the others: each is tried again in its own savepoint.
          for (const item of batch) {
            const { keyId, ownerId, costNusd } = item.request;
            this.db
              .transaction(async (tx) => {
                await writeSettlement(tx, item.request, 0);
                this.cache.charge(keyId, ownerId, costNusd);
              })
              .then(
                () => {
                  this.reservations.release(item.request.reservationId);
                  item.resolve();
                },
                (error) => {
                  this.cache.clear();
                  item.reject(error);
                },
              );
          }
        },
      );
    });
  }

  /** Held reservations past their expiry (a call that never settled), then any left in the database. */
  override async reclaimExpiredReservations(now = Date.now()): Promise<number> {
    return this.reservations.releaseExpired(now) + (await super.reclaimExpiredReservations(now));
  }
}

/** A batch of settlements in one transaction: every ledger row, summed charges and roll-ups. */
async function writeSettlements(tx: SqlExecutor, batch: PendingSettle[]): Promise<void> {
  if (batch.length === 1) return writeSettlement(tx, batch[0]!.request, 0);
  const keyCost = new Map<string, number>();
  const ownerCost = new Map<string, number>();
  const rollups = new Map<string, ReturnType<typeof rollupValues> & { hour: number; day: number }>();
  for (const { request } of batch) {
    await tx.run(INSERT_USAGE, usageValues(request));
    keyCost.set(request.keyId, (keyCost.get(request.keyId) ?? 0) + request.costNusd);
    if (request.ownerId)
      ownerCost.set(request.ownerId, (ownerCost.get(request.ownerId) ?? 0) + request.costNusd);
    const hour = hourOf(request.row.createdAt);
    const id = `${hour}\u0000${request.keyId}\u0000${request.row.model}`;
    const one = rollupValues(request);
    const sum = rollups.get(id);
    if (!sum) {
      rollups.set(id, { ...one, hour, day: dayOf(request.row.createdAt) });
    } else {
      sum.requests += one.requests;
      sum.errors += one.errors;
      sum.promptTokens += one.promptTokens;
      sum.completionTokens += one.completionTokens;
      sum.cost += one.cost;
    }
  }
  for (const [id, cost] of keyCost) await tx.run(BUDGET.keys.charge, { id, cost, release: 0 });
  for (const [id, cost] of ownerCost) await tx.run(BUDGET.owners.charge, { id, cost, release: 0 });
  // An hour bucket lies within one day, so summing by hour also sums the day correctly.
  for (const { hour, day, ...values } of rollups.values()) {
    await tx.run(UPSERT_HOURLY, { ...values, bucketStart: hour });
    await tx.run(UPSERT_DAILY, { ...values, bucketStart: day });
  }
}

function periodOver(budget: BudgetState, now: number): boolean {
  return budget.period !== null && budget.resetsAt !== null && budget.resetsAt <= now;
}

function fits(budget: BudgetState, amount: number): boolean {
  return budget.maxNusd === null || budget.spentNusd + budget.reservedNusd + amount <= budget.maxNusd;
}
