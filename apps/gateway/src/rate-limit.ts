// Per-key rpm/tpm limits with a sliding-window counter (current minute + the previous one weighted
// by its overlap). State is in this process: with N replicas a key may get up to N× its limit.

const WINDOW_MS = 60_000;

interface Window {
  start: number;
  current: number;
  previous: number;
}

function roll(window: Window, now: number): void {
  const start = now - (now % WINDOW_MS);
  if (start === window.start) return;
  window.previous = start - window.start === WINDOW_MS ? window.current : 0;
  window.current = 0;
  window.start = start;
}

function weighted(window: Window, now: number): number {
  const elapsed = (now - window.start) / WINDOW_MS;
  return window.previous * (1 - elapsed) + window.current;
}

export type RateDecision =
  | { ok: true }
  | { ok: false; limit: 'rpm' | 'tpm'; max: number; retryAfterSeconds: number };

export class RateLimiter {
  private readonly requests = new Map<string, Window>();
  private readonly tokens = new Map<string, Window>();

  private window(map: Map<string, Window>, id: string, now: number): Window {
    let window = map.get(id);
    if (!window) {
      window = { start: now - (now % WINDOW_MS), current: 0, previous: 0 };
      map.set(id, window);
    }
    roll(window, now);
    return window;
  }

  private retryAfter(window: Window, now: number): number {
    return Math.max(1, Math.ceil((window.start + WINDOW_MS - now) / 1000));
  }

  /** Admits one request (and counts it) or says which limit it hit. */
  admit(keyId: string, limits: { rpm: number | null; tpm: number | null }, now = Date.now()): RateDecision {
    if (limits.tpm !== null) {
      const tokens = this.window(this.tokens, keyId, now);
      if (weighted(tokens, now) >= limits.tpm) {
        return { ok: false, limit: 'tpm', max: limits.tpm, retryAfterSeconds: this.retryAfter(tokens, now) };
      }
    }
    if (limits.rpm !== null) {
      const requests = this.window(this.requests, keyId, now);
      if (weighted(requests, now) + 1 > limits.rpm) {
        return {
          ok: false,
          limit: 'rpm',
          max: limits.rpm,
          retryAfterSeconds: this.retryAfter(requests, now),
        };
      }
      requests.current++;
    }
    return { ok: true };
  }

  /** Counts the tokens a settled call used against the key's tpm window. */
  recordTokens(keyId: string, tokens: number, now = Date.now()): void {
    this.window(this.tokens, keyId, now).current += tokens;
  }
}
