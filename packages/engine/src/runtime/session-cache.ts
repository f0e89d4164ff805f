/**
 * Per-session state with least-recently-used eviction, and one operation at a time per
 * session (a session's KV buffers must never be used by two runs at once).
 */
export class SessionCache<T> {
  private readonly entries = new Map<string, { state: T; tail: Promise<unknown> }>();

  constructor(
    private readonly maxSessions: number,
    private readonly create: () => T,
  ) {}

  /** Runs `fn` with the session's state, after any operation already queued on it. */
  run<R>(id: string, fn: (state: T) => Promise<R>): Promise<R> {
    let entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id);
    } else {
      entry = { state: this.create(), tail: Promise.resolve() };
    }
    this.entries.set(id, entry);
    while (this.entries.size > this.maxSessions) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    const current = entry;
    const result = current.tail.then(() => fn(current.state));
    current.tail = result.catch(() => undefined);
    return result;
  }

  drop(id: string): void {
    this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
