import { f32ToF16 } from './half.js';
import type { TensorType } from './types.js';

/**
 * GGML reference quantizers for the block formats this package writes (tiny GGUF test models):
 * Q8_0 symmetric int8 with one f16 scale per 32; Q4_0 symmetric 4-bit (zero point 8) per 32;
 * Q4_1 asymmetric 4-bit with f16 scale and min per 32. Rows must be multiples of 32 long.
 */
export function quantizeValues(values: Float32Array, type: TensorType): Uint8Array {
  switch (type) {
    case 'f32':
      return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    case 'f16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
      return new Uint8Array(out.buffer);
    }
    case 'q8_0':
    case 'q4_0':
    case 'q4_1':
      break;
    default:
      throw new Error(`cannot quantize to ${type}`);
  }
  if (values.length % 32 !== 0) throw new RangeError(`${values.length} values are not whole blocks of 32`);
  const blocks = values.length / 32;
  const blockBytes = type === 'q8_0' ? 34 : type === 'q4_0' ? 18 : 20;
  const out = new Uint8Array(blocks * blockBytes);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const x = values.subarray(b * 32, b * 32 + 32);
    const p = b * blockBytes;
    if (type === 'q8_0') {
      let amax = 0;
      for (const v of x) amax = Math.max(amax, Math.abs(v));
      const d = amax / 127;
      const id = d ? 1 / d : 0;
      dv.setUint16(p, f32ToF16(d), true);
      for (let j = 0; j < 32; j++) dv.setInt8(p + 2 + j, Math.round(x[j]! * id));
    } else if (type === 'q4_0') {
      let amax = 0;
      let max = 0;
      for (const v of x) {
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = max / -8;
      const id = d ? 1 / d : 0;
      dv.setUint16(p, f32ToF16(d), true);
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.trunc(x[j]! * id + 8.5));
        const hi = Math.min(15, Math.trunc(x[j + 16]! * id + 8.5));
        out[p + 2 + j] = lo | (hi << 4);
      }
    } else {
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (const v of x) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      const d = (max - min) / 15;
      const id = d ? 1 / d : 0;
      dv.setUint16(p, f32ToF16(d), true);
      dv.setUint16(p + 2, f32ToF16(min), true);
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.trunc((x[j]! - min) * id + 0.5));
        const hi = Math.min(15, Math.trunc((x[j + 16]! - min) * id + 0.5));
        out[p + 4 + j] = lo | (hi << 4);
      }
    }
  }
  return out;
}
