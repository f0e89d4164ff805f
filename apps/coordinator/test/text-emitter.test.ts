/**
 * TextEmitter decodes incrementally: the deltas it emits must add up to exactly what a full decode
 * of the same tokens gives, whatever way multi-byte characters fall across tokens, for byte-level
 * BPE and SentencePiece vocabularies, with and without stop sequences.
 */
import { rm } from 'node:fs/promises';
import { loadTokenizer, Tokenizer } from '@cascadia/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextEmitter } from '../src/mesh/generation.js';
import { tinyShards } from './helpers/tiny.js';

/** The engine's token types (tokenizer spec), by value. */
const TokenType = { Normal: 1, Unknown: 2, Control: 3, Byte: 6 } as const;

/** A small SentencePiece vocabulary with byte fallback (Llama 2 style): control, bytes, pieces. */
function spmTokenizer(): Tokenizer {
  const tokens = ['<unk>', '<s>', '</s>'];
  const tokenTypes: number[] = [TokenType.Unknown, TokenType.Control, TokenType.Control];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    tokenTypes.push(TokenType.Byte);
  }
  for (const piece of ['▁Hello', '▁world', '!', '▁caf', 'é', '▁naïve', '▁日本', '語', '▁the', '▁end', '▁']) {
    tokens.push(piece);
    tokenTypes.push(TokenType.Normal);
  }
  return new Tokenizer({
    kind: 'spm',
    tokens,
    tokenTypes,
    merges: [],
    scores: tokens.map(() => 0),
    preTokenizer: { name: 'none', patterns: [] },
    ignoreMerges: false,
    addBos: true,
    addEos: false,
    addSpacePrefix: true,
    bosTokenId: 1,
    eosTokenId: 2,
    eosTokenIds: [2],
    unkTokenId: 0,
  });
}

/** Deterministic pseudo-random ids (mulberry32), biased towards byte tokens to split characters. */
function randomIds(vocab: number, n: number, seed: number): number[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => Math.floor(next() * vocab));
}

function run(tokenizer: Tokenizer, ids: number[], stops: string[] = []) {
  const deltas: string[] = [];
  const emitter = new TextEmitter(tokenizer, stops, (d) => deltas.push(d));
  const generated: number[] = [];
  let stopped = false;
  for (const id of ids) {
    generated.push(id);
    stopped = emitter.push(generated);
    emitter.release();
    if (stopped) break;
  }
  emitter.flush(generated);
  return { text: deltas.join(''), final: emitter.text, stopped, generated };
}

let dir = '';
let tiny: Tokenizer;
const spm = spmTokenizer();

beforeAll(async () => {
  const shards = await tinyShards(1);
  dir = shards.root;
  tiny = await loadTokenizer(shards.dirs[0]!);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('TextEmitter', () => {
  it('emits exactly the full decode, token by token, on byte-level BPE and SentencePiece', () => {
    for (const [name, tokenizer] of [
      ['byte-level BPE', () => tiny],
      ['SentencePiece', () => spm],
    ] as const) {
      const t = tokenizer();
      for (let seed = 1; seed <= 40; seed++) {
        const ids = randomIds(t.spec.tokens.length, 1 + (seed % 7) * 9, seed);
        const { text, final } = run(t, ids);
        const expected = t.decode(ids, { skipSpecial: true });
        expect(text, `${name}, seed ${seed}`).toBe(expected);
        expect(final).toBe(expected);
      }
    }
  });

  it('holds back a character split across tokens until it is whole', () => {
    // "é" is C3 A9 in UTF-8: as two byte tokens, nothing may be emitted after the first.
    const deltas: string[] = [];
    const emitter = new TextEmitter(spm, [], (d) => deltas.push(d));
    const helloId = spm.spec.tokens.indexOf('▁Hello');
    const generated = [helloId, 3 + 0xc3];
    emitter.push(generated);
    emitter.release();
    expect(deltas.join('')).toBe('Hello');
    generated.push(3 + 0xa9);
    emitter.push(generated);
    emitter.release();
    expect(deltas.join('')).toBe('Helloé');
  });

  it('cuts at a stop sequence and never emits any part of it', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const ids = randomIds(spm.spec.tokens.length, 40, seed + 100);
      const full = spm.decode(ids, { skipSpecial: true });
      if (full.length < 6) continue;
      const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 3);
      const { text, stopped } = run(spm, ids, [stop]);
      expect(stopped).toBe(true);
      expect(text).toBe(full.slice(0, full.indexOf(stop)));
    }
  });
});
