import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blocksOf, dequantize, type TensorType } from '../src/model/index.js';

/** Random blocks and the values llama.cpp's own Python package (gguf-py) dequantizes them to. */
const vectors = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures', 'dequant-vectors.json'), 'utf8'),
) as {
  type: TensorType;
  blocks: string;
  values: string;
}[];

describe('dequantize agrees with gguf-py on every block type', () => {
  for (const v of vectors) {
    it(v.type, () => {
      const data = Uint8Array.from(Buffer.from(v.blocks, 'hex'));
      const raw = Buffer.from(v.values, 'hex');
      const expected = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
      const t = { name: 'w', shape: [1, expected.length], type: v.type, data };
      const got = dequantize(t);
      expect(got.length).toBe(expected.length);
      for (let i = 0; i < got.length; i++) {
        // gguf-py computes some products in f16/f32 in another order: allow one part in 10^6.
        expect(Math.abs(got[i]! - expected[i]!), `${v.type}[${i}]`).toBeLessThanOrEqual(
          1e-6 * Math.abs(expected[i]!) + 1e-9,
        );
      }
      const blocks = blocksOf(t);
      if (v.type === 'q4_0' || v.type === 'q4_1' || v.type === 'q4_k') {
        const b = blocks!;
        for (let i = 0; i < got.length; i++) {
          const k = Math.floor(i / b.blockSize);
          const value = b.mins
            ? b.quants[i]! * b.scales[k]! + b.mins[k]!
            : (b.quants[i]! - b.zeroPoint!) * b.scales[k]!;
          expect(Math.abs(value - got[i]!), `${v.type} block value ${i}`).toBeLessThanOrEqual(
            1e-6 * Math.abs(got[i]!) + 1e-9,
          );
        }
      } else expect(blocks).toBeNull();
    });
  }
});
