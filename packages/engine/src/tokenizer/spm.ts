import { Heap } from './heap.js';
import type { TokenizerSpec } from './spec.js';

interface Symbol {
  start: number;
  n: number;
  prev: number;
  next: number;
}

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

const utf8 = new TextEncoder();

/**
 * SentencePiece BPE as llama.cpp runs it for Llama 1/2 vocabularies: start from characters, keep merging
 * the adjacent pair whose concatenation is the highest-scoring token, then map leftovers to byte tokens.
 */
export class SentencePieceBpe {
  private readonly byteTokens: (number | undefined)[] = [];
  private readonly priority: (id: number) => number;

  constructor(
    spec: TokenizerSpec,
    private readonly vocab: Map<string, number>,
  ) {
    for (let b = 0; b < 256; b++) {
      this.byteTokens[b] = vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    }
    if (spec.scores) {
      const scores = spec.scores;
      this.priority = (id) => scores[id] ?? 0;
    } else {
      // A merges list ranks tokens instead: an earlier merge means a higher score.
      const rank = new Map<number, number>();
      spec.merges.forEach((m, i) => {
        const id = vocab.get(m.replace(' ', ''));
        if (id !== undefined && !rank.has(id)) rank.set(id, -i);
      });
      this.priority = (id) => rank.get(id) ?? Number.NEGATIVE_INFINITY;
    }
  }

  /** `text` already has spaces replaced by `▁` (and any prefix space added). */
  encodeText(text: string, out: number[]): void {
    const chars = Array.from(text);
    const symbols: Symbol[] = [];
    let offset = 0;
    chars.forEach((ch, i) => {
      symbols.push({ start: offset, n: ch.length, prev: i - 1, next: i + 1 < chars.length ? i + 1 : -1 });
      offset += ch.length;
    });
    const revMerge = new Map<string, [number, number]>();
    const queue = new Heap<Bigram>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
    const textOf = (s: Symbol) => text.slice(s.start, s.start + s.n);
    const tryAdd = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const l = symbols[left]!;
      const r = symbols[right]!;
      const merged = text.slice(l.start, l.start + l.n + r.n);
      const id = this.vocab.get(merged);
      if (id === undefined) return;
      queue.push({ left, right, score: this.priority(id), size: merged.length });
      revMerge.set(merged, [left, right]);
    };
    for (let i = 1; i < symbols.length; i++) tryAdd(i - 1, i);
    for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
      const l = symbols[b.left]!;
      const r = symbols[b.right]!;
      if (l.n === 0 || r.n === 0 || l.n + r.n !== b.size) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) symbols[r.next]!.prev = b.left;
      tryAdd(l.prev, b.left);
      tryAdd(b.left, l.next);
    }
    const resegment = (s: Symbol) => {
      const t = textOf(s);
      const id = this.vocab.get(t);
      if (id !== undefined) {
        out.push(id);
        return;
      }
      const parts = revMerge.get(t);
      if (!parts) {
        for (const byte of utf8.encode(t)) {
          const bt = this.byteTokens[byte];
          if (bt !== undefined) out.push(bt);
        }
        return;
      }
      resegment(symbols[parts[0]]!);
      resegment(symbols[parts[1]]!);
    };
    if (symbols.length === 0) return;
    for (let i = 0; i !== -1; i = symbols[i]!.next) resegment(symbols[i]!);
  }
}
