import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceShard } from '../src/reference/forward.js';
import { loadShard } from '../src/runtime/load.js';
import type { ShardRunner } from '../src/runtime/types.js';
import { prepareShardWeights, ropeInverseFrequencies } from '../src/shard/weights.js';
import { writeShards } from '../src/shard/write.js';
import { randomModel, smallConfig } from './helpers/random-model.js';
import { exportWholeAndHalves, randomSource, type WholeAndHalves } from './helpers/random-shards.js';
import { relativeError } from './helpers/relative-error.js';

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  return best;
}

const reader = randomModel();
const prompt = Int32Array.from([3, 17, 42, 5, 88, 61, 7, 29]);

describe('shard graphs under onnxruntime (accuracy level 4: int8 activations)', () => {
  it('stays within 3% of the reference and picks the same greedy token', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shards-int8-'));
    try {
      await writeShards(reader, randomSource, { outDir: dir, boundaries: [0, 4], accuracyLevel: 4 });
      const runner = await loadShard(join(dir, 'shard-0-of-1'), { engine: 'onnxruntime', threads: 1 });
      const ref = new ReferenceShard(prepareShardWeights(reader, 0, 4));
      const expected = ref.forward({ tokens: prompt }, 0, prompt.length);
      const got = await runner.forward('a', { tokens: prompt }, { position: 0, length: prompt.length });
      await runner.close();
      if (!('logits' in got) || !('logits' in expected)) throw new Error('expected logits');
      expect(relativeError(got.logits, expected.logits)).toBeLessThan(3e-2);
      expect(argmax(got.logits)).toBe(argmax(expected.logits));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('shard graphs under onnxruntime (accuracy level 0: f32 compute)', () => {
  let shards: WholeAndHalves;
  let whole: ShardRunner;
  let halves: ShardRunner[];

  beforeAll(async () => {
    shards = await exportWholeAndHalves(reader, { accuracyLevel: 0 });
    ({ whole, halves } = shards);
  });

  afterAll(async () => {
    await shards?.close();
  });

  it('whole-model prefill logits match the TypeScript reference within 1e-4 relative', async () => {
    const ref = new ReferenceShard(prepareShardWeights(reader, 0, 4));
    const expected = ref.forward({ tokens: prompt }, 0, prompt.length);
    const got = await whole.forward('a', { tokens: prompt }, { position: 0, length: prompt.length });
    if (!('logits' in got) || !('logits' in expected)) throw new Error('expected logits');
    expect(got.logits.length).toBe(smallConfig.vocabSize);
    expect(relativeError(got.logits, expected.logits)).toBeLessThan(1e-4);
  });

  it('first-shard hidden states match the reference', async () => {
    const ref = new ReferenceShard(prepareShardWeights(reader, 0, 2));
    const expected = ref.forward({ tokens: prompt }, 0, prompt.length);
    const got = await halves[0]?.forward('h', { tokens: prompt }, { position: 0, length: prompt.length });
    if (!got || !('hidden' in got) || !('hidden' in expected)) throw new Error('expected hidden');
    expect(got.hidden.length).toBe(prompt.length * smallConfig.hiddenSize);
    expect(relativeError(got.hidden, expected.hidden)).toBeLessThan(1e-4);
  });

  it('KV-cache decode equals full recompute, two shards chained equal the whole model', async () => {
    const ref = new ReferenceShard(prepareShardWeights(reader, 0, 4));
    const tokens = Array.from(prompt);
    let wholeOut = await whole.forward('s', { tokens: prompt }, { position: 0, length: prompt.length });
    const chain = async (input: Int32Array, position: number) => {
      const h = await halves[0]?.forward('s', { tokens: input }, { position, length: input.length });
      if (!h || !('hidden' in h)) throw new Error('expected hidden');
      const out = await halves[1]?.forward('s', { hidden: h.hidden }, { position, length: input.length });
      if (!out || !('logits' in out)) throw new Error('expected logits');
      return out.logits;
    };
    let chained = await chain(prompt, 0);
    for (let step = 0; step < 6; step++) {
      if (!('logits' in wholeOut)) throw new Error('expected logits');
      const full = ref.forward({ tokens: Int32Array.from(tokens) }, 0, tokens.length);
      ref.reset();
      if (!('logits' in full)) throw new Error('expected logits');
      expect(relativeError(wholeOut.logits, full.logits)).toBeLessThan(1e-4);
      expect(relativeError(chained, wholeOut.logits)).toBeLessThan(1e-4);
      const next = argmax(wholeOut.logits);
      expect(argmax(chained)).toBe(next);
      tokens.push(next);
      const pos = tokens.length - 1;
      wholeOut = await whole.forward('s', { tokens: Int32Array.of(next) }, { position: pos, length: 1 });
      chained = await chain(Int32Array.of(next), pos);
    }
  });

  it('rewinding to an earlier position reproduces the same logits', async () => {
    const first = await whole.forward('r', { tokens: prompt }, { position: 0, length: prompt.length });
    await whole.forward('r', { tokens: Int32Array.of(9, 10, 11) }, { position: prompt.length, length: 3 });
    const replay = await whole.forward('r', { tokens: prompt.subarray(4) }, { position: 4, length: 4 });
    if (!('logits' in first) || !('logits' in replay)) throw new Error('expected logits');
    expect(relativeError(replay.logits, first.logits)).toBeLessThan(1e-5);
  });

  it('a prompt longer than one prefill chunk (300 tokens) matches the reference, and decode continues', async () => {
    const long = Int32Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % smallConfig.vocabSize);
    const ref = new ReferenceShard(prepareShardWeights(reader, 0, 4));
    const expected = ref.forward({ tokens: long }, 0, long.length);
    const got = await whole.forward('long', { tokens: long }, { position: 0, length: long.length });
    if (!('logits' in got) || !('logits' in expected)) throw new Error('expected logits');
    expect(relativeError(got.logits, expected.logits)).toBeLessThan(1e-4);
    const next = await whole.forward('long', { tokens: Int32Array.of(3) }, { position: 300, length: 1 });
    const refNext = ref.forward({ tokens: Int32Array.of(3) }, 300, 1);
    if (!('logits' in next) || !('logits' in refNext)) throw new Error('expected logits');
    expect(relativeError(next.logits, refNext.logits)).toBeLessThan(1e-4);
  });

  it('sessions run concurrently without mixing their caches', async () => {
    const other = Int32Array.from([9, 8, 7, 6, 5]);
    const [a, b] = await Promise.all([
      whole.forward('c1', { tokens: prompt }, { position: 0, length: prompt.length }),
      whole.forward('c2', { tokens: other }, { position: 0, length: other.length }),
    ]);
    const [a2, b2] = await Promise.all([
      whole.forward('c1', { tokens: Int32Array.of(4) }, { position: prompt.length, length: 1 }),
      whole.forward('c2', { tokens: Int32Array.of(4) }, { position: other.length, length: 1 }),
    ]);
    const ref = new ReferenceShard(prepareShardWeights(reader, 0, 4));
    const expectLogits = (got: unknown, tokens: Int32Array) => {
      ref.reset();
      const expected = ref.forward({ tokens }, 0, tokens.length);
      if (!('logits' in expected)) throw new Error('expected logits');
      expect(relativeError((got as { logits: Float32Array }).logits, expected.logits)).toBeLessThan(1e-4);
    };
    expectLogits(a, prompt);
    expectLogits(b, other);
    expectLogits(a2, Int32Array.from([...prompt, 4]));
    expectLogits(b2, Int32Array.from([...other, 4]));
  });

  it('rejects bad input with clear errors', async () => {
    await expect(
      whole.forward('x', { hidden: new Float32Array(64) }, { position: 0, length: 1 }),
    ).rejects.toThrow(/takes tokens/);
    await expect(
      whole.forward('x', { tokens: Int32Array.of(500) }, { position: 0, length: 1 }),
    ).rejects.toThrow(/outside the vocabulary/);
    await expect(
      whole.forward('y', { tokens: Int32Array.of(1) }, { position: 3, length: 1 }),
    ).rejects.toThrow(/contiguous/);
    await expect(
      whole.forward('z', { tokens: new Int32Array(600) }, { position: 0, length: 600 }),
    ).rejects.toThrow(/exceeds/);
  });
});

describe('Qwen2-style q/k/v biases and session limits', () => {
  let dir: string;
  const biased = randomModel({ ...smallConfig, architecture: 'qwen2', attentionBias: true, numLayers: 2 }, 3);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shards-qwen2-'));
    await writeShards(biased, randomSource, { outDir: dir, boundaries: [0, 2], accuracyLevel: 0 });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a biased model matches the reference through prefill and decode', async () => {
    const runner = await loadShard(join(dir, 'shard-0-of-1'), { engine: 'onnxruntime', threads: 1 });
    const ref = new ReferenceShard(prepareShardWeights(biased, 0, 2));
    for (const [tokens, position] of [
      [prompt, 0],
      [Int32Array.of(44), prompt.length],
    ] as const) {
      const got = await runner.forward('q', { tokens }, { position, length: tokens.length });
      const expected = ref.forward({ tokens }, position, tokens.length);
      if (!('logits' in got) || !('logits' in expected)) throw new Error('expected logits');
      expect(relativeError(got.logits, expected.logits)).toBeLessThan(1e-4);
    }
    await runner.close();
  });

  it('handles small head dimensions and multi-query attention (head dim 8, one KV head)', async () => {
    const narrow = randomModel(
      {
        ...smallConfig,
        hiddenSize: 32,
        numHeads: 4,
        numKvHeads: 1,
        headDim: 8,
        intermediateSize: 64,
        numLayers: 1,
      },
      5,
    );
    const out = join(dir, 'narrow');
    await writeShards(narrow, randomSource, { outDir: out, boundaries: [0, 1], accuracyLevel: 0 });
    const runner = await loadShard(join(out, 'shard-0-of-1'), { engine: 'onnxruntime', threads: 1 });
    const got = await runner.forward('n', { tokens: prompt }, { position: 0, length: prompt.length });
    const expected = new ReferenceShard(prepareShardWeights(narrow, 0, 1)).forward(
      { tokens: prompt },
      0,
      prompt.length,
    );
    await runner.close();
    if (!('logits' in got) || !('logits' in expected)) throw new Error('expected logits');
    expect(relativeError(got.logits, expected.logits)).toBeLessThan(1e-4);
  });

  it('keeps at most maxSessions caches, dropping the least recently used', async () => {
    const runner = await loadShard(join(dir, 'shard-0-of-1'), {
      engine: 'onnxruntime',
      threads: 1,
      maxSessions: 1,
    });
    await runner.forward('first', { tokens: prompt }, { position: 0, length: prompt.length });
    await runner.forward('second', { tokens: prompt }, { position: 0, length: prompt.length });
    await expect(
      runner.forward('first', { tokens: Int32Array.of(1) }, { position: prompt.length, length: 1 }),
    ).rejects.toThrow(/cached length 0/);
    runner.dropSession('second');
    await expect(
      runner.forward('second', { tokens: Int32Array.of(1) }, { position: prompt.length, length: 1 }),
    ).rejects.toThrow(/cached length 0/);
    await runner.close();
  });
});

describe('RoPE frequencies', () => {
  it('Llama 3.1 scaling from config.json parameters equals the per-frequency factors GGUF files carry', () => {
    const base = { ...smallConfig, headDim: 64, ropeTheta: 500000 };
    const scaled = ropeInverseFrequencies({
      ...base,
      ropeScaling: {
        type: 'llama3',
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxContext: 8192,
      },
    });
    const plain = ropeInverseFrequencies(base);
    const factors = Array.from(plain, (f, i) => f / (scaled[i] as number));
    const fromFactors = ropeInverseFrequencies({ ...base, ropeFreqFactors: factors });
    for (let i = 0; i < plain.length; i++) expect(fromFactors[i]).toBeCloseTo(scaled[i] as number, 12);
    // High frequencies are untouched, the lowest are divided by the full factor.
    expect(scaled[0]).toBe(plain[0]);
    expect((plain[31] as number) / (scaled[31] as number)).toBeCloseTo(8, 9);
  });
});
