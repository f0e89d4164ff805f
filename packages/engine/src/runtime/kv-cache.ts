import type { KvCacheType } from '../shard/graph.js';
import type { ShardManifest } from '../shard/manifest.js';
import type { TransferableBuffer } from './release.js';

/** Capacity is a multiple of this many positions. */
export const CAPACITY_STEP = 32;

/** Cache rows as the graph reads them: f32 values, f16 bit patterns, or int8 quantized rows. */
export type KvArray = Float32Array | Uint16Array | Int8Array;

/**
 * One session's KV cache, owned by JavaScript. Per layer a key and a value buffer in the graph's
 * cache element type: for f32 and f16 both laid out [kvHeads, capacity, headDim]; for int8 the
 * keys transposed, [kvHeads, headDim, capacity] (the graph multiplies the queries by them as
 * stored), the values [kvHeads, capacity, headDim], and per position one f32 scale for its key
 * row and one for its value row ([kvHeads, capacity] each). The graph only reads the cache and
 * returns this step's rows, which `append` writes in — a decode step never moves the cached
 * positions.
 *
 * Capacity grows in steps of 32 positions, in place: each buffer is transferred to a larger
 * one (the old one is released at once, not at the next garbage collection, so a growth never
 * holds two copies of the cache) and its rows are moved apart with `copyWithin`. Attention
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
  /** int8 cache only: per layer the scales of the key rows and of the value rows, [kvHeads, capacity]. */
  keyScales: Float32Array[] = [];
  valueScales: Float32Array[] = [];
  /** The session's attention mask buffer, reused by every run (see `attentionMask`). */
  mask = new Float32Array(0);

  constructor(
    private readonly manifest: ShardManifest,
    readonly type: KvCacheType,
  ) {}

  get layers(): number {
    return this.manifest.layerEnd - this.manifest.layerStart;
  }

  /** The capacity `reserve(needed)` would leave (never less than the current one). */
  capacityFor(needed: number): number {
    if (needed <= this.capacity) return this.capacity;
    return Math.min(Math.ceil(needed / CAPACITY_STEP) * CAPACITY_STEP, this.manifest.maxContext);
  }

  /** Makes room for `needed` positions. */
  reserve(needed: number): void {
    if (needed <= this.capacity) return;
    const m = this.manifest;
    const capacity = this.capacityFor(needed);
    const { numKvHeads: heads, headDim } = m;
    const layers = Array.from({ length: this.layers }, (_, l) => l);
    if (this.type === 'int8') {
      // Transposed keys: one row of `capacity` per (head, dimension); values: one row of
      // capacity × headDim per head; scales: one row of `capacity` per head.
      this.keys = layers.map((l) =>
        growRows(Int8Array, this.keys[l], heads * headDim, this.capacity, capacity, this.length),
      );
      this.values = layers.map((l) =>
        growRows(
          Int8Array,
          this.values[l],
          heads,
          this.capacity * headDim,
          capacity * headDim,
          this.length * headDim,
        ),
      );
      this.keyScales = layers.map((l) =>
        growRows(Float32Array, this.keyScales[l], heads, this.capacity, capacity, this.length),
      );
      this.valueScales = layers.map((l) =>
        growRows(Float32Array, this.valueScales[l], heads, this.capacity, capacity, this.length),
      );
    } else {
      const type = this.type === 'float16' ? Uint16Array : Float32Array;
      const grow = (old: KvArray | undefined) =>
        growRows(
          type,
          old as InstanceType<typeof type> | undefined,
          heads,
          this.capacity * headDim,
          capacity * headDim,
          this.length * headDim,
        );
      this.keys = layers.map((l) => grow(this.keys[l]));
      this.values = layers.map((l) => grow(this.values[l]));
    }
    this.capacity = capacity;
  }

  /** Writes `steps` new rows per KV head ([kvHeads, steps, headDim]) at `position` (f32 or f16 cache). */
  append(layer: number, position: number, steps: number, newKeys: KvArray, newValues: KvArray): void {
    const { numKvHeads, headDim } = this.manifest;
    const keys = this.keys[layer] as KvArray;
    const values = this.values[layer] as KvArray;
    if (
      this.type === 'int8' ||
      newKeys.constructor !== keys.constructor ||
      newValues.constructor !== values.constructor
    ) {
      throw new Error(`layer ${layer}: the graph returned keys/values that are not ${this.type}`);
    }
    const span = steps * headDim;
    for (let h = 0; h < numKvHeads; h++) {
      const at = (h * this.capacity + position) * headDim;
      keys.set(newKeys.subarray(h * span, (h + 1) * span), at);
      values.set(newValues.subarray(h * span, (h + 1) * span), at);
    }
  }

  /**
   * int8 cache: writes `steps` positions at `position` from the graph's quantized rows
   * [steps, kvHeads, 2 (key, value), headDim] and their scales [steps, kvHeads, 2].
   */
  appendQuantized(
    layer: number,
    position: number,
    steps: number,
    rows: Int8Array,
    scales: Float32Array,
  ): void {
    const { numKvHeads: heads, headDim } = this.manifest;
    const keys = this.keys[layer];
    const values = this.values[layer];
    const keyScales = this.keyScales[layer];
    const valueScales = this.valueScales[layer];
    if (
      this.type !== 'int8' ||
      !(keys instanceof Int8Array) ||
      !(values instanceof Int8Array) ||
      !keyScales ||
      !valueScales
    )
      throw new Error(`layer ${layer}: int8 rows for a ${this.type} cache`);
    if (rows.length !== steps * heads * 2 * headDim || scales.length !== steps * heads * 2)
      throw new Error(`layer ${layer}: the graph returned ${rows.length} int8 values for ${steps} positions`);
    const capacity = this.capacity;
    for (let s = 0; s < steps; s++) {
      const at = position + s;
      for (let h = 0; h < heads; h++) {
        const row = (s * heads + h) * 2;
        const key = row * headDim;
        // Keys are stored transposed: this position's key is one column of the head's rows.
        const column = h * headDim * capacity + at;
        for (let d = 0; d < headDim; d++) keys[column + d * capacity] = rows[key + d] as number;
        values.set(rows.subarray(key + headDim, key + 2 * headDim), (h * capacity + at) * headDim);
        keyScales[h * capacity + at] = scales[row] as number;
        valueScales[h * capacity + at] = scales[row + 1] as number;
      }
    }
  }
}

type RowArray = Float32Array | Uint16Array | Int8Array;
type RowArrayType<T extends RowArray> = { new (buffer: ArrayBuffer): T; BYTES_PER_ELEMENT: number };

/**
 * `rows` rows of `oldStride` elements (the first `used` of each valid) regrown to `newStride`, in
 * the same memory when the engine can transfer it: the buffer grows and the rows move to their new
 * offsets, last first, so no row overwrites one not yet moved.
 */
function growRows<T extends RowArray>(
  type: RowArrayType<T>,
  old: T | undefined,
  rows: number,
  oldStride: number,
  newStride: number,
  used: number,
): T {
  const bytes = rows * newStride * type.BYTES_PER_ELEMENT;
  const buffer = old ? (old.buffer as TransferableBuffer).transfer(bytes) : new ArrayBuffer(bytes);
  const data = new type(buffer);
  if (old && used > 0) {
    for (let r = rows - 1; r > 0; r--) data.copyWithin(r * newStride, r * oldStride, r * oldStride + used);
  }
  return data;
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
