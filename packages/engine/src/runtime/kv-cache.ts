import type { ShardManifest } from '../shard/manifest.js';

/** Capacity is a multiple of this many positions. */
const CAPACITY_STEP = 128;
/** Growth factor: amortizes the copy on growth while keeping masked-out attention work small. */
const GROWTH = 1.125;

/**
 * One session's KV cache, owned by JavaScript: per layer a key and a value buffer laid out
 * [kvHeads, capacity, headDim]. The graph only reads it and returns this step's rows, which
 * `append` writes with one contiguous copy per KV head — a decode step never moves the cached
 * positions. Growing the capacity (to 12.5% over what is needed, in steps of 128 positions)
 * copies the cache once, which amortizes to a constant per token; attention runs over the
 * capacity with the unused tail masked, so at most ~12.5% of its work (plus one 128 step) is
 * wasted.
 */
export class KvCache {
  /** Positions held (valid prefix). */
  length = 0;
  capacity = 0;
  keys: Float32Array[] = [];
  values: Float32Array[] = [];

  constructor(private readonly manifest: ShardManifest) {}

  get layers(): number {
    return this.manifest.layerEnd - this.manifest.layerStart;
  }

  /** Makes room for `needed` positions. */
  reserve(needed: number): void {
    if (needed <= this.capacity) return;
    const m = this.manifest;
    // Headroom over what is asked for, so a prefill is not followed by a second allocation and
    // copy of the whole cache at the first decoded token (both copies would be alive until GC).
    const target = Math.max(Math.ceil(needed * GROWTH), Math.ceil(this.capacity * GROWTH));
    const capacity = Math.min(Math.ceil(target / CAPACITY_STEP) * CAPACITY_STEP, m.maxContext);
    const grow = (old: Float32Array | undefined): Float32Array => {
      const data = new Float32Array(m.numKvHeads * capacity * m.headDim);
      if (old && this.length > 0) {
        const span = this.length * m.headDim;
        for (let h = 0; h < m.numKvHeads; h++) {
          const from = h * this.capacity * m.headDim;
          data.set(old.subarray(from, from + span), h * capacity * m.headDim);
        }
      }
      return data;
    };
    this.keys = Array.from({ length: this.layers }, (_, l) => grow(this.keys[l]));
    this.values = Array.from({ length: this.layers }, (_, l) => grow(this.values[l]));
    this.capacity = capacity;
  }

  /** Writes `steps` new rows per KV head ([kvHeads, steps, headDim]) at `position`. */
  append(
    layer: number,
    position: number,
    steps: number,
    newKeys: Float32Array,
    newValues: Float32Array,
  ): void {
    const { numKvHeads, headDim } = this.manifest;
    const keys = this.keys[layer] as Float32Array;
    const values = this.values[layer] as Float32Array;
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
 * positions j < position and new positions t <= s.
 */
export function attentionMask(capacity: number, position: number, steps: number): Float32Array {
  const mask = new Float32Array((capacity + steps) * steps);
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
