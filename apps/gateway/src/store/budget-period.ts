import type { BudgetPeriod } from './types.js';

/** Start of the next budget period after `now`, in UTC: midnight, Monday midnight, or the 1st. */
export function nextResetAt(period: BudgetPeriod, now: number): number {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = d.getUTCDate();
  switch (period) {
    case 'daily':
      return Date.UTC(y, m, day + 1);
    case 'weekly': {
      const daysSinceMonday = (d.getUTCDay() + 6) % 7;
      return Date.UTC(y, m, day - daysSinceMonday + 7);
    }
    case 'monthly':
      return Date.UTC(y, m + 1, 1);
  }
}
