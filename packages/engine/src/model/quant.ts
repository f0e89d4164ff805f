import { bf16ToF32, f16Lookup } from './half.js';
import type { TensorType, WeightTensor } from './types.js';

/** Elements per block and bytes per block of each storage type (GGML layouts for the quantized ones). */
export const TENSOR_TYPE_LAYOUT: Record<TensorType, { blockSize: number; blockBytes: number }> = {
  f32: { blockSize: 1, blockBytes: 4 },
  f16: { blockSize: 1, blockBytes: 2 },
  bf16: { blockSize: 1, blockBytes: 2 },
  q8_0: { blockSize: 32, blockBytes: 34 },
  q4_0: { blockSize: 32, blockBytes: 18 },
  q4_1: { blockSize: 32, blockBytes: 20 },
  q4_k: { blockSize: 256, blockBytes: 144 },
  q5_k: { blockSize: 256, blockBytes: 176 },
  q6_k: { blockSize: 256, blockBytes: 210 },
};

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Byte size of a tensor; `undefined` when the last dimension is not a whole number of blocks. */
export function tensorByteSize(type: TensorType, shape: readonly number[]): number | undefined {
  const { blockSize, blockBytes } = TENSOR_TYPE_LAYOUT[type];
  const last = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (last % blockSize !== 0) return undefined;
  return (elementCount(shape) / blockSize) * blockBytes;
}

/** Bytes of one row (the last dimension) of a tensor. */
export function rowByteSize(type: TensorType, rowLength: number): number {
  const { blockSize, blockBytes } = TENSOR_TYPE_LAYOUT[type];
  return (rowLength / blockSize) * blockBytes;
}

function view(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

/** K-quant 6-bit scale and min of sub-block `j` from the 12 packed scale bytes at `base`. */
function scaleMinK4(bytes: Uint8Array, base: number, j: number): [number, number] {
  if (j < 4) return [bytes[base + j]! & 63, bytes[base + j + 4]! & 63];
  const a = bytes[base + j + 4]!;
  return [(a & 0xf) | ((bytes[base + j - 4]! >> 6) << 4), (a >> 4) | ((bytes[base + j]! >> 6) << 4)];
}

/** Full-precision copy of a tensor's values, in row-major order of its shape. */
export function dequantize(t: WeightTensor): Float32Array {
  const n = elementCount(t.shape);
  const src = t.data;
  const out = new Float32Array(n);
  const dv = view(src);
  const half = f16Lookup();
  switch (t.type) {
    case 'f32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    case 'f16':
      for (let i = 0; i < n; i++) out[i] = half[dv.getUint16(i * 2, true)]!;
      return out;
    case 'bf16':
      for (let i = 0; i < n; i++) out[i] = bf16ToF32(dv.getUint16(i * 2, true));
      return out;
    case 'q8_0':
      for (let o = 0, p = 0; o < n; p += 34) {
        const d = half[dv.getUint16(p, true)]!;
        for (let j = 0; j < 32; j++) out[o++] = d * dv.getInt8(p + 2 + j);
      }
      return out;
    case 'q4_0':
      for (let o = 0, p = 0; o < n; o += 32, p += 18) {
        const d = half[dv.getUint16(p, true)]!;
        for (let j = 0; j < 16; j++) {
          const q = src[p + 2 + j]!;
          out[o + j] = ((q & 0xf) - 8) * d;
          out[o + j + 16] = ((q >> 4) - 8) * d;
        }
      }
      return out;
    case 'q4_1':
      for (let o = 0, p = 0; o < n; o += 32, p += 20) {
        const d = half[dv.getUint16(p, true)]!;
        const m = half[dv.getUint16(p + 2, true)]!;
        for (let j = 0; j < 16; j++) {
          const q = src[p + 4 + j]!;
          out[o + j] = (q & 0xf) * d + m;
          out[o + j + 16] = (q >> 4) * d + m;
        }
      }
      return out;
    case 'q4_k':
      for (let o = 0, p = 0; o < n; p += 144) {
        const d = half[dv.getUint16(p, true)]!;
        const dmin = half[dv.getUint16(p + 2, true)]!;
        let q = p + 16;
        for (let is = 0; is < 8; is += 2, q += 32) {
          const [s1, m1] = scaleMinK4(src, p + 4, is);
          const [s2, m2] = scaleMinK4(src, p + 4, is + 1);
          for (let l = 0; l < 32; l++) out[o + l] = d * s1 * (src[q + l]! & 0xf) - dmin * m1;
          for (let l = 0; l < 32; l++) out[o + 32 + l] = d * s2 * (src[q + l]! >> 4) - dmin * m2;
          o += 64;
        }
      }
      return out;
    case 'q5_k':
      for (let o = 0, p = 0; o < n; p += 176) {
        const d = half[dv.getUint16(p, true)]!;
        const dmin = half[dv.getUint16(p + 2, true)]!;
        const qh = p + 16;
        let ql = p + 48;
        let u1 = 1;
        let u2 = 2;
        for (let is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
          const [s1, m1] = scaleMinK4(src, p + 4, is);
          const [s2, m2] = scaleMinK4(src, p + 4, is + 1);
          for (let l = 0; l < 32; l++) {
            const hi = src[qh + l]! & u1 ? 16 : 0;
            out[o + l] = d * s1 * ((src[ql + l]! & 0xf) + hi) - dmin * m1;
          }
          for (let l = 0; l < 32; l++) {
            const hi = src[qh + l]! & u2 ? 16 : 0;
            out[o + 32 + l] = d * s2 * ((src[ql + l]! >> 4) + hi) - dmin * m2;
          }
          o += 64;
        }
      }
      return out;
    case 'q6_k':
      for (let o = 0, p = 0; o < n; p += 210) {
        const d = half[dv.getUint16(p + 208, true)]!;
        for (let half128 = 0; half128 < 2; half128++) {
          const ql = p + half128 * 64;
          const qh = p + 128 + half128 * 32;
          const sc = p + 192 + half128 * 8;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const h = src[qh + l]!;
            const q1 = ((src[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
            const q2 = ((src[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
            const q3 = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
            const q4 = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
            out[o + l] = d * dv.getInt8(sc + is) * q1;
            out[o + l + 32] = d * dv.getInt8(sc + is + 2) * q2;
            out[o + l + 64] = d * dv.getInt8(sc + is + 4) * q3;
            out[o + l + 96] = d * dv.getInt8(sc + is + 6) * q4;
          }
          o += 128;
        }
      }
      return out;
  }
}

/**
 * Lossless view of a 4-bit tensor as blocks along its rows: element `i` is
 * `(quants[i] - zeroPoint) * scales[b]` when `mins` is absent, else `quants[i] * scales[b] + mins[b]`,
 * with `b = floor(i / blockSize)` (blocks never straddle rows).
 * q4_0: blockSize 32, zeroPoint 8. q4_1: blockSize 32 with mins. q4_k: its 32-element sub-blocks,
 * with scale = d * sc and min = -dmin * m (exact in f32). Other types: null.
 */
export interface FourBitBlocks {
  blockSize: number;
  scales: Float32Array;
  mins?: Float32Array;
  /** Only without `mins`: the integer subtracted from every quant (8 for q4_0). */
  zeroPoint?: number;
  /** One uint8 per element, 0..15, in the tensor's element order. */
  quants: Uint8Array;
}

export function blocksOf(t: WeightTensor): FourBitBlocks | null {
  if (t.type !== 'q4_0' && t.type !== 'q4_1' && t.type !== 'q4_k') return null;
  const n = elementCount(t.shape);
  const src = t.data;
  const dv = view(src);
  const half = f16Lookup();
  const blocks = n / 32;
  const scales = new Float32Array(blocks);
  const quants = new Uint8Array(n);
  if (t.type === 'q4_0') {
    for (let b = 0, p = 0; b < blocks; b++, p += 18) {
      scales[b] = half[dv.getUint16(p, true)]!;
      unpackNibbles(src, p + 2, quants, b * 32);
    }
    return { blockSize: 32, scales, zeroPoint: 8, quants };
  }
  const mins = new Float32Array(blocks);
  if (t.type === 'q4_1') {
    for (let b = 0, p = 0; b < blocks; b++, p += 20) {
      scales[b] = half[dv.getUint16(p, true)]!;
      mins[b] = half[dv.getUint16(p + 2, true)]!;
      unpackNibbles(src, p + 4, quants, b * 32);
    }
    return { blockSize: 32, scales, mins, quants };
  }
  for (let sb = 0, p = 0; sb < blocks / 8; sb++, p += 144) {
    const d = half[dv.getUint16(p, true)]!;
    const dmin = half[dv.getUint16(p + 2, true)]!;
    for (let pair = 0; pair < 4; pair++) {
      const q = p + 16 + pair * 32;
      for (let k = 0; k < 2; k++) {
        const b = sb * 8 + pair * 2 + k;
        const [sc, m] = scaleMinK4(src, p + 4, pair * 2 + k);
        scales[b] = d * sc;
        mins[b] = -dmin * m;
        const o = b * 32;
        for (let l = 0; l < 32; l++) quants[o + l] = k === 0 ? src[q + l]! & 0xf : src[q + l]! >> 4;
      }
    }
  }
  return { blockSize: 32, scales, mins, quants };
}

/** GGML 32-element nibble order: element j in the low nibble of qs[j], element j+16 in its high nibble. */
function unpackNibbles(src: Uint8Array, at: number, out: Uint8Array, o: number): void {
  for (let j = 0; j < 16; j++) {
    const q = src[at + j]!;
    out[o + j] = q & 0xf;
    out[o + j + 16] = q >> 4;
  }
}
