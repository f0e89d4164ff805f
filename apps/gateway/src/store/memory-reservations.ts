// Budget reservations held in the serving process's memory (SQLite: one serving gateway per file).
// A reservation is added and checked in one synchronous step with a read of the settled spend, and
// removed only after its settlement has committed, so at every admission
// settled spend (durable or about to be) + reserved + estimate <= max: the same rule as the
// database reservations, without a reserve transaction per call. A crash drops them, which returns
// them to their budgets: what reclaiming expired reservation rows does for the database ones.

export interface HeldReservation {
  keyId: string;
  ownerId: string | null;
  amountNusd: number;
  expiresAt: number;
}

export class MemoryReservations {
  private readonly held = new Map<string, HeldReservation>();
  private readonly byKey = new Map<string, number>();
  private readonly byOwner = new Map<string, number>();

  /** Total reserved on a key (`key`) or an owner (`owner`). */
  reserved(scope: 'key' | 'owner', id: string): number {
    return (scope === 'key' ? this.byKey : this.byOwner).get(id) ?? 0;
  }

  add(id: string, reservation: HeldReservation): void {
    if (this.held.has(id)) throw new Error(`reservation ${id} is already held`);
    this.held.set(id, reservation);
    add(this.byKey, reservation.keyId, reservation.amountNusd);
    if (reservation.ownerId) add(this.byOwner, reservation.ownerId, reservation.amountNusd);
  }

  /** Removes a reservation; returns it, or null if it was not held (already released or expired). */
  release(id: string): HeldReservation | null {
    const reservation = this.held.get(id);
    if (!reservation) return null;
    this.held.delete(id);
    add(this.byKey, reservation.keyId, -reservation.amountNusd);
    if (reservation.ownerId) add(this.byOwner, reservation.ownerId, -reservation.amountNusd);
    return reservation;
  }

  /** Releases reservations past their expiry (a call that never settled); returns how many. */
  releaseExpired(now: number): number {
    let count = 0;
    for (const [id, reservation] of this.held) {
      if (reservation.expiresAt <= now) {
        this.release(id);
        count++;
      }
    }
    return count;
  }

  get size(): number {
    return this.held.size;
  }
}

/** Adds `amount` to an id's total, dropping totals that come back to zero. */
export function add(totals: Map<string, number>, id: string, amount: number): void {
  const total = (totals.get(id) ?? 0) + amount;
  if (total === 0) totals.delete(id);
  else totals.set(id, total);
}
