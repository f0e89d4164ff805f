import { bytesToByteLevel } from './byte-level.js';
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

  private merge(word: string): string[] {
    const symbols = Array.from(word);
    while (symbols.length > 1) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      symbols.splice(best, 2, symbols[best]! + symbols[best + 1]!);
    }
    return symbols;
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
