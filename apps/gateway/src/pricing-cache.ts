import type { Price } from './money.js';
import type { PricingStore } from './store/types.js';

/**
 * The price table in memory (it is small): a lookup per call costs no database round trip.
 * Reloaded periodically so price versions written by other replicas or the CLI take effect.
 */
export class PricingCache {
  private byModel = new Map<string, Price[]>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly store: PricingStore) {}

  async reload(): Promise<void> {
    const next = new Map<string, Price[]>();
    for (const price of await this.store.listPrices()) {
      const list = next.get(price.model) ?? [];
      list.push(price);
      next.set(price.model, list);
    }
    for (const list of next.values()) list.sort((a, b) => b.effectiveFrom - a.effectiveFrom);
    this.byModel = next;
  }

  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => this.reload().catch(onError), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The version in effect at `now` for the first of `models` that has one. */
  current(models: string[], now = Date.now()): Price | null {
    for (const model of models) {
      const found = this.byModel.get(model)?.find((p) => p.effectiveFrom <= now);
      if (found) return found;
    }
    return null;
  }

  models(): string[] {
    return [...this.byModel.keys()];
  }
}
