import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceShard } from '../src/reference/forward.js';
import { CAPACITY_STEP, type KvArray, KvCache } from '../src/runtime/kv-cache.js';
import { loadShard } from '../src/runtime/load.js';
import type { ShardRunner } from '../src/runtime/types.js';
import type { ShardManifest } from '../src/shard/manifest.js';
import { prepareShardWeights } from '../src/shard/weights.js';
import { writeShards } from '../src/shard/write.js';
import { randomModel, smallConfig } from './helpers/random-model.js';
import { exportWholeAndHalves, randomSource, type WholeAndHalves } from './helpers/random-shards.js';
import { relativeError } from './helpers/relative-error.js';

function logitsOf(out: { logits: Float32Array } | { hidden: Float32Array }): Float32Array {
  if (!('logits' in out)) throw new Error('expected logits');
  return out.logits;
}

const manifest = {
  layerStart: 0,
  layerEnd: 2,
  numKvHeads: 3,
  headDim: 4,
  maxContext: 100,
} as ShardManifest;

/** Rows [kvHeads, steps, headDim] whose values name their layer, head, position and lane. */
function rows(type: 'float16' | 'float32', layer: number, position: number, steps: number): KvArray {
  const out = type === 'float16' ? new Uint16Array(3 * steps * 4) : new Float32Array(3 * steps * 4);
  for (let h = 0; h < 3; h++)
    for (let s = 0; s < steps; s++)
      for (let d = 0; d < 4; d++)
        out[(h * steps + s) * 4 + d] = layer * 10000 + h * 1000 + (position + s) * 4 + d;
  return out;
}

describe('KvCache', () => {
  for (const type of ['float16', 'float32'] as const) {
    it(`${type}: grows in ${CAPACITY_STEP}-position steps in place, keeping every head's rows`, () => {
      const kv = new KvCache(manifest, type);
      kv.reserve(20);
      expect(kv.capacity).toBe(CAPACITY_STEP);
      expect(kv.keys[0]).toBeInstanceOf(type === 'float16' ? Uint16Array : Float32Array);
      for (let l = 0; l < 2; l++) kv.append(l, 0, 20, rows(type, l, 0, 20), rows(type, l + 5, 0, 20));
      kv.length = 20;
      const before = kv.keys[0] as KvArray;
      kv.reserve(40);
      expect(kv.capacity).toBe(2 * CAPACITY_STEP);
      // The old buffer was handed over (detached), not left for the garbage collector.
      expect(before.buffer.byteLength).toBe(0);
      for (let l = 0; l < 2; l++) kv.append(l, 20, 20, rows(type, l, 20, 20), rows(type, l + 5, 20, 20));
      kv.length = 40;
      kv.reserve(90);
      expect(kv.capacity).toBe(96);
      kv.reserve(140);
      expect(kv.capacity).toBe(100); // never past the shard's maximum context
      for (let l = 0; l < 2; l++) {
        const keys = kv.keys[l] as KvArray;
        const values = kv.values[l] as KvArray;
        expect(keys.length).toBe(3 * 100 * 4);
        const wantKeys = rows(type, l, 0, 40);
        const wantValues = rows(type, l + 5, 0, 40);
        for (let h = 0; h < 3; h++) {
          const at = h * kv.capacity * 4;
          expect(Array.from(keys.subarray(at, at + 160))).toEqual(
            Array.from(wantKeys.subarray(h * 160, (h + 1) * 160)),
          );
          expect(Array.from(values.subarray(at, at + 160))).toEqual(
            Array.from(wantValues.subarray(h * 160, (h + 1) * 160)),
          );
        }
      }
    });
  }

  it('int8: keeps keys transposed and one scale per row, through growth in place', () => {
    const { numKvHeads: heads, headDim } = manifest;
    const kv = new KvCache(manifest, 'int8');
    kv.reserve(20);
    /** Graph rows [steps, heads, 2, headDim] and scales [steps, heads, 2] naming layer, position, head, lane. */
    const graphRows = (layer: number, position: number, steps: number) => {
      const q = new Int8Array(steps * heads * 2 * headDim);
      const scales = new Float32Array(steps * heads * 2);
      for (let s = 0; s < steps; s++)
        for (let h = 0; h < heads; h++)
          for (let which = 0; which < 2; which++) {
            const row = (s * heads + h) * 2 + which;
            scales[row] = layer * 1000 + (position + s) * 10 + h + which / 2;
            for (let d = 0; d < headDim; d++)
              q[row * headDim + d] = ((position + s) * 7 + h * 3 + d + which * 50) % 120;
          }
      return { q, scales };
    };
    for (let l = 0; l < 2; l++) {
      const { q, scales } = graphRows(l, 0, 20);
      kv.appendQuantized(l, 0, 20, q, scales);
    }
    kv.length = 20;
    kv.reserve(40);
    for (let l = 0; l < 2; l++) {
      const { q, scales } = graphRows(l, 20, 20);
      kv.appendQuantized(l, 20, 20, q, scales);
    }
    kv.length = 40;
    kv.reserve(90);
    expect(kv.capacity).toBe(96);
    for (let l = 0; l < 2; l++) {
      const keys = kv.keys[l] as Int8Array;
      const values = kv.values[l] as Int8Array;
      expect(keys).toBeInstanceOf(Int8Array);
      // A quarter of an f32 cache's bytes.
      expect(keys.byteLength).toBe(heads * 96 * headDim);
      const { q, scales } = graphRows(l, 0, 40);
      for (let pos = 0; pos < 40; pos++)
        for (let h = 0; h < heads; h++) {
          const row = (pos * heads + h) * 2;
          expect(kv.keyScales[l]?.[h * 96 + pos]).toBe(scales[row]);
          expect(kv.valueScales[l]?.[h * 96 + pos]).toBe(scales[row + 1]);
          for (let d = 0; d < headDim; d++) {
            expect(keys[(h * headDim + d) * 96 + pos]).toBe(q[row * headDim + d]);
            expect(values[(h * 96 + pos) * headDim + d]).toBe(q[(row + 1) * headDim + d]);
          }
        }
    }
    expect(() => kv.append(0, 40, 1, new Int8Array(24), new Int8Array(24))).toThrow(/int8/);
    expect(() => kv.appendQuantized(0, 40, 1, new Int8Array(5), new Float32Array(6))).toThrow(/int8 values/);
  });

  it('refuses rows of the other element type', () => {
    const kv = new KvCache(manifest, 'float16');
    kv.reserve(4);
    expect(() => kv.append(0, 0, 1, rows('float32', 0, 0, 1), rows('float32', 0, 0, 1))).toThrow(/float16/);
  });
});

const reader = randomModel();
// 30 prompt positions, so decoding crosses the first capacity step (32 positions).
const prompt = Int32Array.from({ length: 30 }, (_, i) => (i * 29 + 7) % smallConfig.vocabSize);

/**
 * Shards over a compressed cache, against the f64 reference. f16: keys/values are rounded to f16
 * before attention uses them, new or cached, so prefill + decode steps equal one prefill but for
 * summation order. int8: cached rows are the ones the graph quantized; only the queries'
 * quantization (one scale per run: per step in one, per prompt in the other) tells the two apart.
 */
const compressedCaches = [
  { type: 'float16', reference: 1e-2, decodeSteps: 5, oncePrefill: 1e-4 },
  { type: 'int8', reference: 3e-2, decodeSteps: 40, oncePrefill: 2e-2 },
] as const;

for (const cache of compressedCaches) {
  describe(`${cache.type} KV cache (accuracy level 0, random tiny model)`, () => {
    let shards: WholeAndHalves;
    let dir: string;
    let whole: ShardRunner;
    let halves: ShardRunner[];

    beforeAll(async () => {
      shards = await exportWholeAndHalves(reader, { accuracyLevel: 0, kvCacheType: cache.type });
      ({ dir, whole, halves } = shards);
    });

    afterAll(async () => {
      await shards?.close();
    });

    it('is recorded in the manifest', async () => {
      const m = JSON.parse(await readFile(join(dir, 'one', 'shard-0-of-1', 'manifest.json'), 'utf8'));
      expect(m.kvCacheType).toBe(cache.type);
      expect(whole.manifest.kvCacheType).toBe(cache.type);
    });

    it(`stays within ${cache.reference} of the f64 reference through prefill and ${cache.decodeSteps} decode steps across capacity steps`, async () => {
      const ref = new ReferenceShard(prepareShardWeights(reader, 0, 4));
      let got = logitsOf(
        await whole.forward('r', { tokens: prompt }, { position: 0, length: prompt.length }),
      );
      let expected = logitsOf(ref.forward({ tokens: prompt }, 0, prompt.length));
      const errors = [relativeError(got, expected)];
      for (let pos = prompt.length; pos < prompt.length + cache.decodeSteps; pos++) {
        const token = Int32Array.of((pos * 13) % smallConfig.vocabSize);
        got = logitsOf(await whole.forward('r', { tokens: token }, { position: pos, length: 1 }));
        expected = logitsOf(ref.forward({ tokens: token }, pos, 1));
        errors.push(relativeError(got, expected));
      }
      console.log(
        `${cache.type} cache vs reference: worst relative error ${Math.max(...errors).toExponential(2)}`,
      );
      for (const e of errors) expect(e).toBeLessThan(cache.reference);
    });

    it(`decode through the cache is within ${cache.oncePrefill} of one prefill of the same tokens, and two shards equal the whole model`, async () => {
      const tokens = Int32Array.from([...prompt, 5, 9, 14, 2, 40]);
      const chain = async (id: string, input: Int32Array, position: number) => {
        const h = await halves[0]?.forward(id, { tokens: input }, { position, length: input.length });
        if (!h || !('hidden' in h)) throw new Error('expected hidden');
        const out = await halves[1]?.forward(id, { hidden: h.hidden }, { position, length: input.length });
        if (!out) throw new Error('expected logits');
        return logitsOf(out);
      };
      let stepped = logitsOf(
        await whole.forward('d', { tokens: prompt }, { position: 0, length: prompt.length }),
      );
      let chained = await chain('d', prompt, 0);
      for (let pos = prompt.length; pos < tokens.length; pos++) {
        const token = tokens.subarray(pos, pos + 1);
        stepped = logitsOf(await whole.forward('d', { tokens: token }, { position: pos, length: 1 }));
        chained = await chain('d', token, pos);
        expect(relativeError(chained, stepped)).toBeLessThan(1e-5);
      }
      const once = logitsOf(await whole.forward('once', { tokens }, { position: 0, length: tokens.length }));
      const gap = relativeError(stepped, once);
      console.log(`${cache.type} cache, stepped vs one prefill: relative error ${gap.toExponential(2)}`);
      expect(gap).toBeLessThan(cache.oncePrefill);
    });
  });
}

describe('float32 KV cache growth (accuracy level 0)', () => {
  it('decode across capacity steps matches the reference within 1e-4', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shards-f32-'));
    try {
      await writeShards(reader, randomSource, { outDir: dir, boundaries: [0, 4], accuracyLevel: 0 });
      const runner = await loadShard(join(dir, 'shard-0-of-1'), { engine: 'onnxruntime', threads: 1 });
      expect(runner.manifest.kvCacheType).toBe('float32');
      const ref = new ReferenceShard(prepareShardWeights(reader, 0, 4));
      await runner.forward('g', { tokens: prompt }, { position: 0, length: prompt.length });
      ref.forward({ tokens: prompt }, 0, prompt.length);
      for (let pos = prompt.length; pos < 70; pos++) {
        const token = Int32Array.of((pos * 11) % smallConfig.vocabSize);
        const got = logitsOf(await runner.forward('g', { tokens: token }, { position: pos, length: 1 }));
        const expected = logitsOf(ref.forward({ tokens: token }, pos, 1));
        expect(relativeError(got, expected)).toBeLessThan(1e-4);
      }
      await runner.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
