/**
 * Block-quantized linear weights in the layout of `com.microsoft` MatMulNBits:
 * B is [N, kBlocks, blockSize * bits / 8] uint8, scales are [N * kBlocks] f32, and the
 * element value is (q - zeroPoint) * scale with the default zero point 2^(bits-1)
 * (8 for 4-bit, 128 for 8-bit), so no zero-point input is needed.
 *
 * GGUF Q4_1 blocks (value = d * q + m) do not fit an integer zero point exactly. They are
 * carried over losslessly as d * (q - 8) + (m + 8d): the 4-bit part goes to MatMulNBits
 * unchanged and the per-block offset (m + 8d) becomes `blockOffsets`, applied in the graph as
 * (per-block sums of the activations) x blockOffsets — an exact rewrite, not a re-quantization.
 */
export const BLOCK_SIZE = 32;

export interface PackedLinear {
  /** Output features. */
  n: number;
  /** Input features (multiple of blockSize). */
  k: number;
  bits: 4 | 8;
  blockSize: number;
  /** [N, kBlocks, blockSize * bits / 8]. */
  quants: Uint8Array;
  /** [N * kBlocks]. */
  scales: Float32Array;
  /** [kBlocks, N] added as blockSums(x) @ blockOffsets; present for Q4_1-style sources. */
  blockOffsets?: Float32Array;
}

/** 4-bit blocks given as one value 0..15 per element, row-major [n, k]. */
export function packQ4Blocks(
  n: number,
  k: number,
  blockSize: number,
  scales: Float32Array,
  quants: Uint8Array,
  mins?: Float32Array,
): PackedLinear {
  if (blockSize !== BLOCK_SIZE) throw new Error(`unsupported 4-bit block size ${blockSize}`);
  if (k % blockSize !== 0) throw new Error(`input size ${k} is not a multiple of block size ${blockSize}`);
  const kBlocks = k / blockSize;
  if (scales.length !== n * kBlocks || quants.length !== n * k) {
    throw new Error(`4-bit blocks do not match shape [${n}, ${k}]`);
  }
  const packed = new Uint8Array((n * k) / 2);
  for (let i = 0, o = 0; i < quants.length; i += 2, o++) {
    packed[o] = ((quants[i] as number) & 15) | (((quants[i + 1] as number) & 15) << 4);
  }
  const out: PackedLinear = { n, k, bits: 4, blockSize, quants: packed, scales: Float32Array.from(scales) };
  if (mins) {
    const offsets = new Float32Array(kBlocks * n);
    for (let row = 0; row < n; row++) {
      for (let b = 0; b < kBlocks; b++) {
        const idx = row * kBlocks + b;
        offsets[b * n + row] = (mins[idx] as number) + 8 * (scales[idx] as number);
      }
    }
    out.blockOffsets = offsets;
  }
  return out;
}

/**
 * Quantizes float weights [n, k] to 4-bit, block 32, symmetric (the ggml Q4_0 scheme):
 * per block the signed value of largest magnitude `max` gives scale d = max / -8 and
 * q = clamp(round(x / d) + 8, 0, 15), so the extreme value maps exactly to q = 0.
 */
export function quantizeQ4Symmetric(weights: Float32Array, n: number, k: number): PackedLinear {
  if (k % BLOCK_SIZE !== 0) throw new Error(`input size ${k} is not a multiple of block size ${BLOCK_SIZE}`);
  const kBlocks = k / BLOCK_SIZE;
  const scales = new Float32Array(n * kBlocks);
  const quants = new Uint8Array(n * k);
  for (let b = 0; b < n * kBlocks; b++) {
    const base = b * BLOCK_SIZE;
    let max = 0;
    for (let j = 0; j < BLOCK_SIZE; j++) {
      const v = weights[base + j] as number;
      if (Math.abs(v) > Math.abs(max)) max = v;
    }
    const d = max / -8;
    const inv = d === 0 ? 0 : 1 / d;
    scales[b] = d;
    for (let j = 0; j < BLOCK_SIZE; j++) {
      quants[base + j] = Math.min(15, Math.max(0, Math.round((weights[base + j] as number) * inv) + 8));
    }
  }
  return packQ4Blocks(n, k, BLOCK_SIZE, scales, quants);
}

/** 8-bit blocks: signed int8 values with one scale per block (the ggml Q8_0 layout). */
export function packQ8Blocks(n: number, k: number, scales: Float32Array, values: Int8Array): PackedLinear {
  if (k % BLOCK_SIZE !== 0) throw new Error(`input size ${k} is not a multiple of block size ${BLOCK_SIZE}`);
  if (scales.length !== (n * k) / BLOCK_SIZE || values.length !== n * k) {
    throw new Error(`8-bit blocks do not match shape [${n}, ${k}]`);
  }
  const quants = new Uint8Array(n * k);
  for (let i = 0; i < values.length; i++) quants[i] = (values[i] as number) + 128;
  return { n, k, bits: 8, blockSize: BLOCK_SIZE, quants, scales: Float32Array.from(scales) };
}

/** Quantizes float weights [n, k] to 8-bit, block 32, symmetric: d = absmax / 127, q = round(x / d). */
export function quantizeQ8Symmetric(weights: Float32Array, n: number, k: number): PackedLinear {
  const blocks = (n * k) / BLOCK_SIZE;
  const scales = new Float32Array(blocks);
  const values = new Int8Array(n * k);
  for (let b = 0; b < blocks; b++) {
    const base = b * BLOCK_SIZE;
    let amax = 0;
    for (let j = 0; j < BLOCK_SIZE; j++) amax = Math.max(amax, Math.abs(weights[base + j] as number));
    const d = amax / 127;
    const inv = d === 0 ? 0 : 1 / d;
    scales[b] = d;
    for (let j = 0; j < BLOCK_SIZE; j++) values[base + j] = Math.round((weights[base + j] as number) * inv);
  }
  return packQ8Blocks(n, k, scales, values);
}

/** Parses raw ggml Q8_0 data (per block: f16 scale, 32 int8 values) of a [n, k] tensor. */
export function q8_0Blocks(
  data: Uint8Array,
  n: number,
  k: number,
): { scales: Float32Array; values: Int8Array } {
  const blocks = (n * k) / BLOCK_SIZE;
  if (data.length !== blocks * 34)
    throw new Error(`Q8_0 data has ${data.length} bytes, expected ${blocks * 34}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const scales = new Float32Array(blocks);
  const values = new Int8Array(n * k);
  for (let b = 0; b < blocks; b++) {
    scales[b] = halfToFloat(view.getUint16(b * 34, true));
    values.set(new Int8Array(data.buffer, data.byteOffset + b * 34 + 2, BLOCK_SIZE), b * BLOCK_SIZE);
  }
  return { scales, values };
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** The float weights [n, k] a packed linear stands for (used by the reference forward pass). */
export function dequantizePacked(p: PackedLinear): Float32Array {
  const { n, k, bits, blockSize } = p;
  const kBlocks = k / blockSize;
  const out = new Float32Array(n * k);
  const zero = bits === 4 ? 8 : 128;
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < kBlocks; b++) {
      const scale = p.scales[row * kBlocks + b] as number;
      const offset = p.blockOffsets ? (p.blockOffsets[b * n + row] as number) : 0;
      for (let j = 0; j < blockSize; j++) {
        const idx = row * k + b * blockSize + j;
        let q: number;
        if (bits === 4) {
          const byte = p.quants[idx >> 1] as number;
          q = idx & 1 ? byte >> 4 : byte & 15;
        } else {
          q = p.quants[idx] as number;
        }
        out[idx] = (q - zero) * scale + offset;
      }
    }
  }
  return out;
}

/** Concatenates linears sharing the same input along the output dimension (e.g. fused Q/K/V). */
export function concatLinears(parts: PackedLinear[]): PackedLinear {
  const first = parts[0];
  if (!first) throw new Error('nothing to concatenate');
  for (const p of parts) {
    if (p.k !== first.k || p.bits !== first.bits || p.blockSize !== first.blockSize) {
      throw new Error('cannot fuse linears with different input size or quantization');
    }
  }
  const n = parts.reduce((a, p) => a + p.n, 0);
  const kBlocks = first.k / first.blockSize;
  const quants = new Uint8Array(parts.reduce((a, p) => a + p.quants.length, 0));
  const scales = new Float32Array(n * kBlocks);
  let qo = 0;
  let so = 0;
  for (const p of parts) {
    quants.set(p.quants, qo);
    scales.set(p.scales, so);
    qo += p.quants.length;
    so += p.scales.length;
  }
  const out: PackedLinear = { n, k: first.k, bits: first.bits, blockSize: first.blockSize, quants, scales };
  if (parts.some((p) => p.blockOffsets)) {
    const offsets = new Float32Array(kBlocks * n);
    let col = 0;
    for (const p of parts) {
      if (p.blockOffsets) {
        for (let b = 0; b < kBlocks; b++) {
          offsets.set(p.blockOffsets.subarray(b * p.n, (b + 1) * p.n), b * n + col);
        }
      }
      col += p.n;
    }
    out.blockOffsets = offsets;
  }
  return out;
}

/** Rows [start, start + count) of a packed linear (output features). */
export function sliceRows(p: PackedLinear, start: number, count: number): PackedLinear {
  const kBlocks = p.k / p.blockSize;
  const rowBytes = (p.k * p.bits) / 8;
  const out: PackedLinear = {
    n: count,
    k: p.k,
    bits: p.bits,
    blockSize: p.blockSize,
    quants: p.quants.slice(start * rowBytes, (start + count) * rowBytes),
    scales: p.scales.slice(start * kBlocks, (start + count) * kBlocks),
  };
  if (p.blockOffsets) {
    const offsets = new Float32Array(kBlocks * count);
    for (let b = 0; b < kBlocks; b++) {
      offsets.set(p.blockOffsets.subarray(b * p.n + start, b * p.n + start + count), b * count);
    }
    out.blockOffsets = offsets;
  }
  return out;
}

/** Multiplies every weight by `factor` (scales and block offsets; the 4-bit values are untouched). */
export function scaleLinear(p: PackedLinear, factor: number): PackedLinear {
  const out: PackedLinear = { ...p, scales: p.scales.map((v) => v * factor) };
  if (p.blockOffsets) out.blockOffsets = p.blockOffsets.map((v) => v * factor);
  return out;
}
