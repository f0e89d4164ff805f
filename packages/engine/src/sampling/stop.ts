/**
 * Stop sequences over streamed text: text that might be the start of a stop sequence is held back
 * until it is clearly not one, so a client never sees part of a stop string.
 */
export class StopSequenceMatcher {
  private buffer = '';
  private done = false;
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  get stopped(): boolean {
    return this.done;
  }

  /** Add new text; returns what is safe to emit now, and whether a stop sequence was reached. */
  push(text: string): { text: string; stopped: boolean; stop?: string } {
    if (this.done) return { text: '', stopped: true };
    this.buffer += text;
    let cut = -1;
    let which: string | undefined;
    for (const s of this.stops) {
      const at = this.buffer.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
        which = s;
      }
    }
    if (cut >= 0) {
      const out = this.buffer.slice(0, cut);
      this.buffer = '';
      this.done = true;
      return { text: out, stopped: true, stop: which! };
    }
    const hold = this.heldLength();
    const out = this.buffer.slice(0, this.buffer.length - hold);
    this.buffer = this.buffer.slice(this.buffer.length - hold);
    return { text: out, stopped: false };
  }

  /** At the end of generation: whatever was held back is plain text after all. */
  flush(): string {
    const out = this.done ? '' : this.buffer;
    this.buffer = '';
    return out;
  }

  /** Length of the longest buffer suffix that is a proper prefix of some stop sequence. */
  private heldLength(): number {
    let hold = 0;
    for (const s of this.stops) {
      const max = Math.min(s.length - 1, this.buffer.length);
      for (let n = max; n > hold; n--) {
        if (this.buffer.endsWith(s.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    return hold;
  }
}
