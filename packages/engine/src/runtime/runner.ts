import type { KvCacheType } from '../shard/graph.js';
import { ShardIO } from '../shard/graph.js';
import type { ShardManifest } from '../shard/manifest.js';
import type { TokenEmbeddings } from './embedding.js';
import { attentionMask, type KvArray, KvCache, positionIds } from './kv-cache.js';
import { releaseBuffer } from './release.js';
import { SessionCache } from './session-cache.js';
import {
  type EngineName,
  type ForwardOptions,
  type ShardInput,
  type ShardOutput,
  type ShardRunner,
  validateForward,
} from './types.js';

/** Long prompts run in chunks of at most this many positions. */
export const PREFILL_CHUNK = 128;
/**
 * onnxruntime's scratch (attention scores, kept by its arena after the run) grows with chunk ×
 * cache capacity, so chunks shrink as the cache grows: at most this many query-key pairs, in
 * multiples of `CHUNK_STEP` positions. Measured on SmolLM2 (1024-token prompt): 128 × 512 pairs
 * took peak RSS −40 MB for the whole model (−65 MB for 2 shards in one process) against fixed
 * 128-position chunks, prefill tokens/s unchanged; 64 × 512 another −9 MB (prefill ~1% slower);
 * 32 × 512, down to 16-position chunks, another −3 MB (a 1024-token prefill 5-10% slower).
 * The int8 cache's attention has more intermediates of that size: at 32 × 512 it kept 8-13 MB
 * more than at 16 × 512 down to 8-position chunks, whose cost the growing cache (see `forward`)
 * more than pays back.
 */
const ATTENTION_PAIRS = 16 * 512;
const CHUNK_STEP = 8;

/** Positions per prefill run for a cache of `capacity` positions. */
export function prefillChunk(capacity: number): number {
  const fit = Math.floor(ATTENTION_PAIRS / capacity / CHUNK_STEP) * CHUNK_STEP;
  return Math.max(CHUNK_STEP, Math.min(PREFILL_CHUNK, fit));
}

/** A graph input as the engines take it: the typed array is wrapped, not copied. */
export type GraphFeed =
  | { type: 'int32'; dims: number[]; data: Int32Array }
  | { type: 'float32'; dims: number[]; data: Float32Array }
  | { type: 'float16'; dims: number[]; data: Uint16Array }
  | { type: 'int8'; dims: number[]; data: Int8Array };

/** Graph outputs by name (f16 outputs as their bit patterns), each in a buffer of its own. */
export type GraphResult = Record<string, KvArray>;

/** Runs the shard graph once; returns every output by name, in fresh buffers the runner owns. */
export interface GraphExecutor {
  /** Element type the executor's cache inputs/outputs take (the runner keeps the cache in it). */
  cacheType: KvCacheType;
  run(feeds: Record<string, GraphFeed>, outputs: string[]): Promise<GraphResult>;
  release(): Promise<void>;
}

/** A cache buffer as a graph input. */
function cacheFeed(data: KvArray, dims: number[]): GraphFeed {
  if (data instanceof Uint16Array) return { type: 'float16', dims, data };
  if (data instanceof Int8Array) return { type: 'int8', dims, data };
  return { type: 'float32', dims, data };
}

/**
 * The engine-independent part of a shard runner: input checks, per-session KV caches (LRU),
 * chunked prefill, and writing each step's keys/values into the cache.
 */
export function createShardRunner(
  manifest: ShardManifest,
  engine: EngineName,
  device: string,
  executor: GraphExecutor,
  maxSessions = 16,
  embeddings: TokenEmbeddings | null = null,
): ShardRunner {
  const m = manifest;
  const sessions = new SessionCache(maxSessions, () => new KvCache(m, executor.cacheType));
  const outputName = m.hasLmHead ? ShardIO.logits : ShardIO.hiddenOut;
  const layers = m.layerEnd - m.layerStart;
  const quantized = executor.cacheType === 'int8';
  const outputs: string[] = [outputName];
  for (let l = m.layerStart; l < m.layerEnd; l++) {
    if (quantized) outputs.push(ShardIO.newKeyValue(l), ShardIO.newKeyValueScale(l));
    else outputs.push(ShardIO.newKey(l), ShardIO.newValue(l));
  }

  /** Runs one chunk; returns the main output (hidden states or logits). */
  const runChunk = async (kv: KvCache, input: ShardInput, position: number, steps: number) => {
    const maskSize = (kv.capacity + steps) * steps;
    if (kv.mask.length < maskSize) kv.mask = new Float32Array(maskSize);
    const feeds: Record<string, GraphFeed> = {
      [ShardIO.positions]: { type: 'int32', dims: [steps], data: positionIds(position, steps) },
      [ShardIO.attentionMask]: {
        type: 'float32',
        dims: [1, 1, 1, kv.capacity + steps, steps],
        data: attentionMask(kv.capacity, position, steps, kv.mask),
      },
    };
    let embedded: Float32Array | null = null;
    if ('tokens' in input) {
      if (embeddings) {
        embedded = embeddings.lookup(input.tokens);
        feeds[ShardIO.hiddenIn] = { type: 'float32', dims: [1, steps, m.hiddenSize], data: embedded };
      } else {
        feeds[ShardIO.inputIds] = { type: 'int32', dims: [1, steps], data: input.tokens };
      }
    } else {
      feeds[ShardIO.hiddenIn] = { type: 'float32', dims: [1, steps, m.hiddenSize], data: input.hidden };
    }
    const cacheDims = [1, m.numKvHeads, 1, kv.capacity, m.headDim];
    const keyDims = quantized ? [1, m.numKvHeads, m.headDim, kv.capacity] : cacheDims;
    const valueDims = quantized ? [1, m.numKvHeads, kv.capacity, m.headDim] : cacheDims;
    const scaleDims = [1, m.numKvHeads, 1, kv.capacity];
    for (let i = 0; i < layers; i++) {
      const l = m.layerStart + i;
      feeds[ShardIO.pastKey(l)] = cacheFeed(kv.keys[i] as KvArray, keyDims);
      feeds[ShardIO.pastValue(l)] = cacheFeed(kv.values[i] as KvArray, valueDims);
      if (quantized) {
        feeds[ShardIO.pastKeyScale(l)] = {
          type: 'float32',
          dims: scaleDims,
          data: kv.keyScales[i] as Float32Array,
        };
        feeds[ShardIO.pastValueScale(l)] = {
          type: 'float32',
          dims: scaleDims,
          data: kv.valueScales[i] as Float32Array,
        };
      }
    }
    const result = await executor.run(feeds, outputs);
    if (embedded) releaseBuffer(embedded);
    for (let i = 0; i < layers; i++) {
      const l = m.layerStart + i;
      if (quantized) {
        const rows = result[ShardIO.newKeyValue(l)];
        const scales = result[ShardIO.newKeyValueScale(l)];
        if (!(rows instanceof Int8Array) || !(scales instanceof Float32Array))
          throw new Error(`shard graph produced no int8 keys/values for layer ${l}`);
        kv.appendQuantized(i, position, steps, rows, scales);
        releaseBuffer(rows);
        releaseBuffer(scales);
        continue;
      }
      const k = result[ShardIO.newKey(l)];
      const v = result[ShardIO.newValue(l)];
      if (!k || !v) throw new Error(`shard graph produced no keys/values for layer ${l}`);
      kv.append(i, position, steps, k, v);
      releaseBuffer(k);
      releaseBuffer(v);
    }
    kv.length = position + steps;
    const out = result[outputName];
    if (!(out instanceof Float32Array)) throw new Error(`shard graph produced no f32 ${outputName}`);
    return out;
  };

  const forward = (sessionId: string, input: ShardInput, fo: ForwardOptions): Promise<ShardOutput> =>
    sessions.run(sessionId, async (kv) => {
      validateForward(m, kv.length, input, fo);
      const { position, length } = fo;
      // Rewind: later positions stay in the buffers, masked out until overwritten.
      kv.length = position;
      const hidden = m.hasLmHead ? null : new Float32Array(length * m.hiddenSize);
      let last: Float32Array = new Float32Array(0);
      for (let start = 0, steps = 0; start < length; start += steps) {
        // The cache grows with the prompt, so each chunk attends over the positions so far rather
        // than over the whole prompt's capacity; its size is the one allowed at the capacity it
        // will run at (that capacity can only shrink the size again, so two passes settle it).
        const at = position + start;
        const first = Math.min(length - start, prefillChunk(kv.capacityFor(at + 1)));
        steps = Math.min(first, prefillChunk(kv.capacityFor(at + first + 1)));
        // One position more after the last chunk: a prompt is followed by decoding, and the first
        // decoded token should not have to grow (move) the whole cache.
        kv.reserve(at + steps + (start + steps === length ? 1 : 0));
        const chunk: ShardInput =
          'tokens' in input
            ? { tokens: input.tokens.subarray(start, start + steps) }
            : { hidden: input.hidden.subarray(start * m.hiddenSize, (start + steps) * m.hiddenSize) };
        const out = await runChunk(kv, chunk, position + start, steps);
        if (hidden) {
          hidden.set(out, start * m.hiddenSize);
          releaseBuffer(out);
        } else if (start + steps < length) {
          releaseBuffer(out); // an earlier chunk's logits: only the last position's are returned
        } else {
          last = out;
        }
      }
      return hidden ? { hidden } : { logits: last };
    });

  return {
    manifest,
    engine,
    device,
    forward,
    dropSession: (id) => sessions.drop(id),
    close: async () => {
      sessions.clear();
      embeddings?.close();
      await executor.release();
    },
  };
}
