import { describe, expect, it } from 'vitest';
import {
  createShardRunner,
  type GraphExecutor,
  type GraphFeed,
  PREFILL_CHUNK,
  prefillChunk,
} from '../src/runtime/runner.js';
import { ShardIO } from '../src/shard/graph.js';
import type { ShardManifest } from '../src/shard/manifest.js';

describe('prefillChunk', () => {
  it('runs full chunks over small caches and shrinks them, in steps of 8, as the cache grows', () => {
    expect(prefillChunk(32)).toBe(PREFILL_CHUNK);
    expect(prefillChunk(64)).toBe(PREFILL_CHUNK);
    expect(prefillChunk(96)).toBe(80);
    expect(prefillChunk(128)).toBe(64);
    expect(prefillChunk(256)).toBe(32);
    expect(prefillChunk(512)).toBe(16);
    expect(prefillChunk(640)).toBe(8);
    expect(prefillChunk(1152)).toBe(8);
    expect(prefillChunk(8192)).toBe(8);
    for (const capacity of [128, 384, 700, 1024, 4096]) expect(prefillChunk(capacity) % 8).toBe(0);
  });
});

/** A first-and-last shard of two layers with a tiny shape: the runner's bookkeeping is what is tested. */
const manifest = {
  layerStart: 0,
  layerEnd: 2,
  numKvHeads: 1,
  headDim: 2,
  hiddenSize: 4,
  vocabSize: 10,
  maxContext: 2048,
  hasEmbeddings: true,
  hasLmHead: true,
} as ShardManifest;

/** Stands in for the graph (the runner's neighbour): records each run's steps and capacity. */
function recordingExecutor(runs: { steps: number; capacity: number; position: number }[]): GraphExecutor {
  return {
    cacheType: 'float32',
    async run(feeds: Record<string, GraphFeed>) {
      const positions = feeds[ShardIO.positions]?.data as Int32Array;
      const mask = feeds[ShardIO.attentionMask] as GraphFeed;
      const steps = positions.length;
      runs.push({ steps, capacity: (mask.dims[3] as number) - steps, position: positions[0] as number });
      const out: Record<string, Float32Array> = { [ShardIO.logits]: new Float32Array(manifest.vocabSize) };
      for (let l = 0; l < 2; l++) {
        out[ShardIO.newKey(l)] = new Float32Array(steps * 2);
        out[ShardIO.newValue(l)] = new Float32Array(steps * 2);
      }
      return out;
    },
    release: async () => {},
  };
}

describe('chunked prefill', () => {
  it('grows the cache with the prompt: every run within the attention budget, positions contiguous', async () => {
    const runs: { steps: number; capacity: number; position: number }[] = [];
    const runner = createShardRunner(manifest, 'onnxruntime', 'cpu', recordingExecutor(runs));
    const tokens = Int32Array.from({ length: 1000 }, (_, i) => i % 10);
    await runner.forward('s', { tokens }, { position: 0, length: 1000 });
    let next = 0;
    for (const run of runs) {
      expect(run.position).toBe(next);
      next += run.steps;
      // Each chunk runs at the capacity its own positions need, never over the whole prompt's.
      expect(run.capacity).toBeGreaterThanOrEqual(run.position + run.steps);
      expect(run.capacity - (run.position + run.steps)).toBeLessThan(32 + 1);
      expect(run.steps).toBeLessThanOrEqual(prefillChunk(run.capacity));
    }
    expect(next).toBe(1000);
    // Early chunks are long (small cache), late ones short.
    expect(runs[0]?.steps).toBe(48); // 48 × 160 positions: the most that fits, in steps of 8
    expect(runs.at(-1)?.steps).toBeLessThanOrEqual(8);
    // One position more than the prompt: the first decoded token does not grow the cache.
    const before = runs.length;
    await runner.forward('s', { tokens: Int32Array.of(3) }, { position: 1000, length: 1 });
    expect(runs[before]?.capacity).toBe(runs[before - 1]?.capacity);
    await runner.close();
  });
});
