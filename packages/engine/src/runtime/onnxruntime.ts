import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ShardIO } from '../shard/graph.js';
import type { ShardManifest } from '../shard/manifest.js';
import { SessionCache } from './session-cache.js';
import {
  type ForwardOptions,
  type ShardInput,
  type ShardOutput,
  type ShardRunner,
  validateForward,
} from './types.js';

/** Initial KV capacity (positions); it doubles when a session outgrows it. */
const INITIAL_CAPACITY = 256;

/**
 * One session's KV cache: per layer a key and a value buffer [1, kvHeads, capacity, headDim].
 * The same tensors are fed as past_* and bound as preallocated present_* outputs, so
 * GroupQueryAttention writes the new positions in place: a decode step moves no cache bytes
 * through JavaScript. Growing the capacity copies once per doubling (amortized).
 */
class KvState {
  length = 0;
  capacity = 0;
  keys: ort.Tensor[] = [];
  values: ort.Tensor[] = [];

  constructor(private readonly manifest: ShardManifest) {}

  ensureCapacity(needed: number): void {
    if (needed <= this.capacity) return;
    const m = this.manifest;
    let capacity = Math.max(this.capacity, Math.min(INITIAL_CAPACITY, m.maxContext));
    while (capacity < needed) capacity *= 2;
    capacity = Math.min(capacity, m.maxContext);
    const layers = m.layerEnd - m.layerStart;
    const grow = (old: ort.Tensor | undefined): ort.Tensor => {
      const data = new Float32Array(m.numKvHeads * capacity * m.headDim);
      if (old && this.length > 0) {
        const src = old.data as Float32Array;
        const span = this.length * m.headDim;
        for (let h = 0; h < m.numKvHeads; h++) {
          const from = h * this.capacity * m.headDim;
          data.set(src.subarray(from, from + span), h * capacity * m.headDim);
        }
      }
      return new ort.Tensor('float32', data, [1, m.numKvHeads, capacity, m.headDim]);
    };
    const keys: ort.Tensor[] = [];
    const values: ort.Tensor[] = [];
    for (let l = 0; l < layers; l++) {
      keys.push(grow(this.keys[l]));
      values.push(grow(this.values[l]));
    }
    this.keys = keys;
    this.values = values;
    this.capacity = capacity;
  }
}

export interface OnnxRuntimeOptions {
  threads?: number;
  maxSessions?: number;
}

export async function createOnnxRuntimeRunner(
  dir: string,
  manifest: ShardManifest,
  opts: OnnxRuntimeOptions = {},
): Promise<ShardRunner> {
  const threads = opts.threads ?? availableParallelism();
  const session = await ort.InferenceSession.create(join(dir, manifest.graph), {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  const sessions = new SessionCache(opts.maxSessions ?? 16, () => new KvState(manifest));
  const m = manifest;
  const outputName = m.hasLmHead ? ShardIO.logits : ShardIO.hiddenOut;

  const forward = (sessionId: string, input: ShardInput, fo: ForwardOptions): Promise<ShardOutput> =>
    sessions.run(sessionId, async (kv) => {
      validateForward(m, kv.length, input, fo);
      const { position, length } = fo;
      const total = position + length;
      kv.ensureCapacity(total);
      const feeds: Record<string, ort.Tensor> = {
        [ShardIO.seqlensK]: new ort.Tensor('int32', Int32Array.of(total - 1), [1]),
        [ShardIO.totalSequenceLength]: new ort.Tensor('int32', Int32Array.of(total), []),
      };
      if ('tokens' in input) feeds[ShardIO.inputIds] = new ort.Tensor('int32', input.tokens, [1, length]);
      else feeds[ShardIO.hiddenIn] = new ort.Tensor('float32', input.hidden, [1, length, m.hiddenSize]);
      const fetches: Record<string, ort.Tensor | null> = { [outputName]: null };
      for (let i = 0; i < m.layerEnd - m.layerStart; i++) {
        const l = m.layerStart + i;
        const key = kv.keys[i] as ort.Tensor;
        const value = kv.values[i] as ort.Tensor;
        feeds[ShardIO.pastKey(l)] = key;
        feeds[ShardIO.pastValue(l)] = value;
        fetches[ShardIO.presentKey(l)] = key;
        fetches[ShardIO.presentValue(l)] = value;
      }
      // Positions >= total hold stale entries after a rewind; attention never reads past `total`.
      kv.length = position;
      const result = await session.run(feeds, fetches);
      kv.length = total;
      const out = result[outputName];
      if (!out) throw new Error(`shard graph produced no ${outputName}`);
      const data = out.data as Float32Array;
      return m.hasLmHead ? { logits: data } : { hidden: data };
    });

  return {
    manifest,
    engine: 'onnxruntime',
    device: 'cpu',
    forward,
    dropSession: (id) => sessions.drop(id),
    close: async () => {
      sessions.clear();
      await session.release();
    },
  };
}
