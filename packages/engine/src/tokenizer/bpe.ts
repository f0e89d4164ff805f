import { bytesToByteLevel } from './byte-level.js';
import { Heap } from './heap.js';
import { compilePattern, splitIsolated } from './pretokenizers.js';
import type { TokenizerSpec } from './spec.js';

const utf8 = new TextEncoder();

/**
 * GPT-2 style byte-level BPE: pre-tokenize with the spec's regexes, map each word's UTF-8 bytes to the
 * byte-level alphabet, then repeatedly merge the adjacent pair of lowest merge rank (leftmost first).
 */
export class ByteLevelBpe {
  private readonly ranks = new Map<string, number>();
  private readonly patterns: RegExp[];
  private readonly cache = new Map<string, number[]>();

  constructor(
    private readonly spec: TokenizerSpec,
    private readonly vocab: Map<string, number>,
  ) {
    spec.merges.forEach((m, i) => {
      if (!this.ranks.has(m)) this.ranks.set(m, i);
    });
    this.patterns = spec.preTokenizer.patterns.map(compilePattern);
  }

  /** Token ids of a run of plain text (no special tokens in it). */
  encodeText(text: string, out: number[]): void {
    for (const piece of this.preTokenize(text)) this.encodeWord(bytesToByteLevel(piece), out);
  }

  /** The words the split rules cut the text into, before BPE. */
  preTokenize(text: string): string[] {
    let pieces = [text];
    for (const re of this.patterns) pieces = pieces.flatMap((p) => splitIsolated(p, re));
    return pieces;
  }

  private encodeWord(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const ids: number[] = [];
    const whole = this.spec.ignoreMerges ? this.vocab.get(word) : undefined;
    if (whole !== undefined) ids.push(whole);
    else for (const sym of this.merge(word)) this.emitSymbol(sym, ids);
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  /**
   * Merge with a priority queue over adjacent pairs (lowest rank, then leftmost), skipping pairs whose
   * symbols changed since they were queued: O(n log n), so long runs of one character stay cheap.
   */
  private merge(word: string): string[] {
    const text = Array.from(word);
    const n = text.length;
    if (n < 2) return text;
    const prev = Array.from({ length: n }, (_, i) => i - 1);
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const queue = new Heap<{ left: number; right: number; rank: number; text: string }>(
      (a, b) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left),
    );
    const push = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const rank = this.ranks.get(`${text[left]} ${text[right]}`);
      if (rank !== undefined) queue.push({ left, right, rank, text: text[left]! + text[right]! });
    };
    for (let i = 0; i + 1 < n; i++) push(i, i + 1);
    for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
      const l = text[b.left]!;
      const r = text[b.right]!;
      if (l === '' || r === '' || next[b.left] !== b.right || l + r !== b.text) continue;
      text[b.left] = b.text;
      text[b.right] = '';
      next[b.left] = next[b.right]!;
      if (next[b.right]! >= 0) prev[next[b.right]!] = b.left;
      push(prev[b.left]!, b.left);
      push(b.left, next[b.left]!);
    }
    return text.filter((t) => t !== '');
  }

  /** A final symbol missing from the vocabulary falls back to single-byte tokens, as llama.cpp does. */
  private emitSymbol(sym: string, out: number[]): void {
    const id = this.vocab.get(sym);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    for (const b of utf8.encode(sym)) {
      const single = this.vocab.get(String.fromCharCode(b));
      if (b < 0x80 && single !== undefined) out.push(single);
    }
  }
}
