import type { KvCacheType } from '../shard/graph.js';
import type { ShardManifest } from '../shard/manifest.js';
import type { TransferableBuffer } from './release.js';

/** Capacity is a multiple of this many positions. */
export const CAPACITY_STEP = 32;

/** Cache rows as the graph reads them: f32 values, or f16 bit patterns. */
export type KvArray = Float32Array | Uint16Array;

/**
 * One session's KV cache, owned by JavaScript: per layer a key and a value buffer laid out
 * [kvHeads, capacity, headDim] in the graph's cache element type. The graph only reads it and
 * returns this step's rows, which `append` writes with one contiguous copy per KV head — a
 * decode step never moves the cached positions.
 *
 * Capacity grows in steps of 32 positions, in place: each buffer is transferred to a larger
 * one (the old one is released at once, not at the next garbage collection, so a growth never
 * holds two copies of the cache) and the KV heads are moved apart with `copyWithin`. Attention
 * runs over the whole capacity with the unused tail masked, so small steps keep that wasted
 * work (and memory) under 32 positions, while a growth costs one move of the cache every 32
 * tokens — a few percent of what attention reads per token.
 */
export class KvCache {
  /** Positions held (valid prefix). */
  length = 0;
  capacity = 0;
  keys: KvArray[] = [];
  values: KvArray[] = [];
  /** The session's attention mask buffer, reused by every run (see `attentionMask`). */
  mask = new Float32Array(0);

  constructor(
    private readonly manifest: ShardManifest,
    readonly type: KvCacheType,
  ) {}

  get layers(): number {
    return this.manifest.layerEnd - this.manifest.layerStart;
  }

  /** Makes room for `needed` positions. */
  reserve(needed: number): void {
    if (needed <= this.capacity) return;
    const m = this.manifest;
    const capacity = Math.min(Math.ceil(needed / CAPACITY_STEP) * CAPACITY_STEP, m.maxContext);
    const rowsPerHead = m.headDim;
    const grow = (old: KvArray | undefined): KvArray => {
      const elements = m.numKvHeads * capacity * rowsPerHead;
      const bytesPer = this.type === 'float16' ? 2 : 4;
      const buffer = old
        ? (old.buffer as TransferableBuffer).transfer(elements * bytesPer)
        : new ArrayBuffer(elements * bytesPer);
      const data = this.type === 'float16' ? new Uint16Array(buffer) : new Float32Array(buffer);
      if (old && this.length > 0) {
        // Heads move to their new offsets, last first, so no head overwrites one not yet moved.
        const span = this.length * rowsPerHead;
        for (let h = m.numKvHeads - 1; h > 0; h--) {
          const from = h * this.capacity * rowsPerHead;
          data.copyWithin(h * capacity * rowsPerHead, from, from + span);
        }
      }
      return data;
    };
    this.keys = Array.from({ length: this.layers }, (_, l) => grow(this.keys[l]));
    this.values = Array.from({ length: this.layers }, (_, l) => grow(this.values[l]));
    this.capacity = capacity;
  }

  /** Writes `steps` new rows per KV head ([kvHeads, steps, headDim]) at `position`. */
  append(layer: number, position: number, steps: number, newKeys: KvArray, newValues: KvArray): void {
    const { numKvHeads, headDim } = this.manifest;
    const keys = this.keys[layer] as KvArray;
    const values = this.values[layer] as KvArray;
    if (newKeys.constructor !== keys.constructor || newValues.constructor !== values.constructor) {
      throw new Error(`layer ${layer}: the graph returned keys/values that are not ${this.type}`);
    }
    const span = steps * headDim;
    for (let h = 0; h < numKvHeads; h++) {
      const at = (h * this.capacity + position) * headDim;
      keys.set(newKeys.subarray(h * span, (h + 1) * span), at);
      values.set(newValues.subarray(h * span, (h + 1) * span), at);
    }
  }
}

/**
 * The additive mask [capacity + steps, steps] (key index by query): query s sees cached
 * positions j < position and new positions t <= s. Written into `scratch` when it is large
 * enough (a session reuses one buffer rather than leaving one per run to the garbage collector).
 */
export function attentionMask(
  capacity: number,
  position: number,
  steps: number,
  scratch?: Float32Array,
): Float32Array {
  const size = (capacity + steps) * steps;
  const mask = scratch && scratch.length >= size ? scratch.subarray(0, size).fill(0) : new Float32Array(size);
  mask.fill(Number.NEGATIVE_INFINITY, position * steps, capacity * steps);
  for (let t = 0; t < steps; t++) {
    const row = (capacity + t) * steps;
    // Query s sees new key t only when t <= s.
    mask.fill(Number.NEGATIVE_INFINITY, row, row + t);
  }
  return mask;
}

/** Absolute positions [position, position + steps). */
export function positionIds(position: number, steps: number): Int32Array {
  return Int32Array.from({ length: steps }, (_, i) => position + i);
}
