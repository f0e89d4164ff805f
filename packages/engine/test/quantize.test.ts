import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blocksOf, dequantize, openModel } from '../src/model/index.js';
import { createTinyGguf } from '../src/model/tiny-gguf.js';
import {
  dequantizePacked,
  packQ4Blocks,
  quantizeQ4Symmetric,
  quantizeQ8Symmetric,
  scaleLinear,
  sliceRows,
} from '../src/onnx/quantize.js';
import { packLinear, type WeightReader } from '../src/shard/weights.js';
import { seededRandom } from './helpers/random-model.js';
import { relativeError } from './helpers/relative-error.js';

describe('GGUF blocks carried into MatMulNBits without re-quantization', () => {
  let dir: string;
  const readers = new Map<string, WeightReader>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quant-'));
    for (const quant of ['q4_0', 'q4_1', 'q8_0'] as const) {
      const path = join(dir, `tiny-${quant}.gguf`);
      await createTinyGguf(path, { seed: 3, layers: 1, quant });
      const source = await openModel(path);
      readers.set(quant, { config: source.config, tensors: source.tensors, dequantize, blocksOf });
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const quant of ['q4_0', 'q4_1', 'q8_0'] as const) {
    it(`${quant}: the packed weight stands for exactly the GGUF values (to f32 rounding)`, () => {
      const reader = readers.get(quant) as WeightReader;
      for (const name of ['model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight']) {
        const t = reader.tensors.get(name);
        if (!t) throw new Error(`missing ${name}`);
        expect(t.type).toBe(quant);
        const packed = packLinear(reader, name);
        expect(packed.bits).toBe(quant === 'q8_0' ? 8 : 4);
        expect(packed.blockOffsets !== undefined).toBe(quant === 'q4_1');
        expect(relativeError(dequantizePacked(packed), dequantize(t))).toBeLessThan(1e-6);
      }
    });
  }
});

describe('quantizing float weights (4-bit, block 32, symmetric)', () => {
  const rand = seededRandom(9);
  const n = 8;
  const k = 64;
  const w = Float32Array.from({ length: n * k }, () => rand() * 2 - 1);

  it('maps each block extreme exactly; values are within half a step (one step where clamped at q = 15)', () => {
    const p = quantizeQ4Symmetric(w, n, k);
    const back = dequantizePacked(p);
    for (let b = 0; b < (n * k) / 32; b++) {
      const block = w.subarray(b * 32, (b + 1) * 32);
      const extreme = block.reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0);
      const step = Math.abs(p.scales[b] as number);
      expect(step).toBeCloseTo(Math.abs(extreme) / 8, 6);
      for (let j = 0; j < 32; j++) {
        const v = block[j] as number;
        // Levels span [-8, 7] steps on the extreme's side: the far side can clamp at 7 steps.
        const clamped = Math.abs(v) > 7.5 * step && Math.sign(v) !== Math.sign(extreme);
        const err = Math.abs((back[b * 32 + j] as number) - v);
        expect(err).toBeLessThanOrEqual((clamped ? step : step / 2) + 1e-6);
      }
      expect(back[b * 32 + block.indexOf(extreme)]).toBeCloseTo(extreme, 6);
    }
  });

  it('8-bit tables stay within half a step of absmax / 127', () => {
    const p = quantizeQ8Symmetric(w, n, k);
    const back = dequantizePacked(p);
    for (let i = 0; i < w.length; i++) {
      const step = p.scales[Math.floor(i / 32)] as number;
      expect(Math.abs((back[i] as number) - (w[i] as number))).toBeLessThanOrEqual(step / 2 + 1e-6);
    }
  });

  it('row slices and scaling preserve the represented values', () => {
    const scales = Float32Array.from({ length: (n * k) / 32 }, (_, i) => 0.01 * (i + 1));
    const mins = Float32Array.from({ length: (n * k) / 32 }, (_, i) => -0.05 * i);
    const quants = Uint8Array.from({ length: n * k }, (_, i) => (i * 7) % 16);
    const p = packQ4Blocks(n, k, 32, scales, quants, mins);
    const full = dequantizePacked(p);
    const rows = dequantizePacked(sliceRows(p, 2, 3));
    expect(Array.from(rows)).toEqual(Array.from(full.subarray(2 * k, 5 * k)));
    const scaled = dequantizePacked(scaleLinear(p, 0.5));
    expect(
      relativeError(
        scaled,
        full.map((v) => v * 0.5),
      ),
    ).toBeLessThan(1e-6);
  });
});
