import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blocksOf, dequantize, type ModelSource, openModel } from '../src/model/index.js';
import { DEFAULT_MODEL } from '../src/pull/default-model.js';
import { SMOLLM2_MISSING_REASON, smollm2Path } from './support/smollm2.js';

const gguf = smollm2Path();
if (!gguf) console.warn(SMOLLM2_MISSING_REASON);

/** Reassemble values from 4-bit blocks the way the block formula documents it. */
function fromBlocks(b: NonNullable<ReturnType<typeof blocksOf>>): Float32Array {
  const out = new Float32Array(b.quants.length);
  for (let i = 0; i < out.length; i++) {
    const k = Math.floor(i / b.blockSize);
    out[i] = b.mins ? b.quants[i]! * b.scales[k]! + b.mins[k]! : (b.quants[i]! - b.zeroPoint!) * b.scales[k]!;
  }
  return out;
}

describe.skipIf(!gguf)('SmolLM2-135M-Instruct Q4_1 GGUF', () => {
  let model: ModelSource;
  beforeAll(async () => {
    model = await openModel(gguf!);
  });

  it('reads the configuration from the llama.* metadata', () => {
    expect(model.format).toBe('gguf');
    expect(model.modelId).toBe('smollm2-135m-instruct');
    expect(model.sourceDigest).toBe(DEFAULT_MODEL.sha256);
    expect(model.config).toMatchObject({
      architecture: 'llama',
      vocabSize: 49152,
      hiddenSize: 576,
      intermediateSize: 1536,
      numLayers: 30,
      numHeads: 9,
      numKvHeads: 3,
      headDim: 64,
      ropeTheta: 100000,
      tieWordEmbeddings: true,
      attentionBias: false,
    });
    expect(model.config.rmsNormEps).toBe(1e-5);
    expect(model.chatTemplate).toContain('<|im_start|>');
  });

  it('maps every tensor to its Hugging Face name and layout', () => {
    expect(model.tensors.size).toBe(1 + 30 * 9 + 1);
    const emb = model.tensors.get('model.embed_tokens.weight')!;
    expect(emb).toMatchObject({ type: 'q8_0', shape: [49152, 576] });
    expect(model.tensors.get('model.norm.weight')).toMatchObject({ type: 'f32', shape: [576] });
    expect(model.tensors.get('model.layers.29.self_attn.k_proj.weight')).toMatchObject({
      type: 'q4_1',
      shape: [192, 576],
    });
    expect(model.tensors.get('model.layers.0.mlp.down_proj.weight')).toMatchObject({
      type: 'q4_1',
      shape: [576, 1536],
    });
    expect(model.tensors.get('model.layers.0.mlp.down_proj.weight')!.data.length).toBe(
      ((576 * 1536) / 32) * 20,
    );
  });

  it('gives lossless 4-bit blocks that reproduce dequantize exactly', () => {
    const q = model.tensors.get('model.layers.3.self_attn.q_proj.weight')!;
    const blocks = blocksOf(q)!;
    expect(blocks.blockSize).toBe(32);
    expect(blocks.quants.length).toBe(576 * 576);
    expect(blocks.quants.every((q) => q <= 15)).toBe(true);
    expect(fromBlocks(blocks)).toEqual(dequantize(q));
    expect(blocksOf(model.tensors.get('model.norm.weight')!)).toBeNull();
    expect(blocksOf(model.tensors.get('model.embed_tokens.weight')!)).toBeNull();
  });

  it('un-permutes q/k rows into rotate-half order (whole block rows, same bytes)', () => {
    // Each Hugging Face row must be one of the file's rows, moved as a whole: compare row byte sets.
    const k = model.tensors.get('model.layers.0.self_attn.k_proj.weight')!;
    const rowBytes = (576 / 32) * 20;
    const rows = (data: Uint8Array) =>
      Array.from({ length: 192 }, (_, r) =>
        Buffer.from(data.subarray(r * rowBytes, (r + 1) * rowBytes)).toString('hex'),
      );
    const hf = rows(k.data);
    expect(new Set(hf).size).toBe(192);
    // Head 0: HF row i (first half) and row 32 + i come from interleaved file rows 2i and 2i + 1.
    expect(hf.slice(0, 32)).not.toEqual(hf.slice(32, 64));
  });
});

describe('dequantize of hand-made blocks', () => {
  const half = (v: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return [...b];
  };
  it('q8_0: d * int8', () => {
    const data = Uint8Array.from([...half(0x3800), ...Array.from({ length: 32 }, (_, j) => (j - 16) & 0xff)]); // d = 0.5
    const v = dequantize({ name: 'x', shape: [32], type: 'q8_0', data });
    expect(v[0]).toBe(-8);
    expect(v[31]).toBe(7.5);
  });
  it('q4_0: (nibble - 8) * d, low nibbles first then high', () => {
    const qs = Array.from({ length: 16 }, (_, j) => (j & 0xf) | (((15 - j) & 0xf) << 4));
    const data = Uint8Array.from([...half(0x4000), ...qs]); // d = 2
    const t = { name: 'x', shape: [32], type: 'q4_0' as const, data };
    const v = dequantize(t);
    expect(v[0]).toBe(-16);
    expect(v[15]).toBe(14);
    expect(v[16]).toBe(14);
    expect(v[31]).toBe(-16);
    const b = blocksOf(t)!;
    expect(b.zeroPoint).toBe(8);
    expect(b.quants[16]).toBe(15);
    expect(fromBlocks(b)).toEqual(v);
  });
  it('q4_1: nibble * d + m', () => {
    const data = Uint8Array.from([
      ...half(0x3c00),
      ...half(0xc000),
      ...Array.from({ length: 16 }, () => 0x31),
    ]); // d 1, m -2
    const v = dequantize({ name: 'x', shape: [32], type: 'q4_1', data });
    expect(v[0]).toBe(-1);
    expect(v[16]).toBe(1);
  });
  it('f16 and bf16', () => {
    expect(
      dequantize({
        name: 'x',
        shape: [2],
        type: 'f16',
        data: Uint8Array.from([...half(0x3c00), ...half(0xc200)]),
      }),
    ).toEqual(Float32Array.from([1, -3]));
    expect(
      dequantize({ name: 'x', shape: [1], type: 'bf16', data: Uint8Array.from(half(0x4049)) })[0],
    ).toBeCloseTo(3.140625, 6);
  });
});

describe('tiny models written as GGUF and as a Hugging Face folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tiny-gguf-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('f32 GGUF and safetensors folder give identical tensors (names, shapes, q/k order)', async () => {
    const { createTinyModel, createTinyGguf } = await import('../src/model/index.js');
    await createTinyModel(join(dir, 'hf'), { seed: 7, layers: 2 });
    await createTinyGguf(join(dir, 'tiny-f32.gguf'), { seed: 7, layers: 2, quant: 'f32' });
    const hf = await openModel(join(dir, 'hf'));
    const gg = await openModel(join(dir, 'tiny-f32.gguf'));
    expect(gg.config).toEqual(hf.config);
    expect([...gg.tensors.keys()].sort()).toEqual([...hf.tensors.keys()].sort());
    for (const [name, t] of hf.tensors) {
      const other = gg.tensors.get(name)!;
      expect(other.shape, name).toEqual(t.shape);
      expect(dequantize(other), name).toEqual(dequantize(t));
    }
    expect(gg.tokenizer.tokens).toEqual(hf.tokenizer.tokens);
    expect(gg.tokenizer.merges).toEqual(hf.tokenizer.merges);
  });

  it('a Qwen2-style GGUF (qwen2.* metadata, biases, rows not permuted) reads back like its Hugging Face folder', async () => {
    const { createTinyModel, createTinyGguf } = await import('../src/model/index.js');
    await createTinyModel(join(dir, 'hf-qwen2'), { seed: 11, attentionBias: true });
    await createTinyGguf(join(dir, 'tiny-qwen2.gguf'), { seed: 11, attentionBias: true, quant: 'f32' });
    const hf = await openModel(join(dir, 'hf-qwen2'));
    const gg = await openModel(join(dir, 'tiny-qwen2.gguf'));
    expect(gg.config).toEqual(hf.config);
    expect(gg.config).toMatchObject({ architecture: 'qwen2', attentionBias: true });
    for (const name of ['model.layers.0.self_attn.q_proj.weight', 'model.layers.1.self_attn.k_proj.bias']) {
      expect(dequantize(gg.tensors.get(name)!), name).toEqual(dequantize(hf.tensors.get(name)!));
    }
  });

  it('Llama 3.1 RoPE scaling: config.json parameters and the GGUF rope_freqs tensor give the same factors', async () => {
    const { createTinyModel, createTinyGguf } = await import('../src/model/index.js');
    const ropeScaling = {
      type: 'llama3' as const,
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxContext: 64,
    };
    await createTinyModel(join(dir, 'hf-rope'), { ropeScaling, hidden: 128, heads: 2, kvHeads: 1 });
    await createTinyGguf(join(dir, 'tiny-rope.gguf'), {
      ropeScaling,
      hidden: 128,
      heads: 2,
      kvHeads: 1,
      quant: 'f32',
    });
    const hf = await openModel(join(dir, 'hf-rope'));
    const gg = await openModel(join(dir, 'tiny-rope.gguf'));
    expect(hf.config.ropeScaling).toEqual(ropeScaling);
    const factors = hf.config.ropeFreqFactors!;
    expect(factors).toHaveLength(32);
    expect(factors[0]).toBe(1);
    expect(factors.at(-1)).toBe(8);
    expect(factors.some((f) => f > 1 && f < 8)).toBe(true);
    expect(gg.config.ropeFreqFactors).toEqual(factors);
  });

  it('a Llama GGUF with q/k/v biases un-permutes the q and k biases like the weights', async () => {
    const { createTinyModel, createTinyGguf } = await import('../src/model/index.js');
    const opts = { seed: 12, attentionBias: true, architecture: 'llama' as const };
    await createTinyModel(join(dir, 'hf-llama-bias'), opts);
    await createTinyGguf(join(dir, 'tiny-llama-bias.gguf'), { ...opts, quant: 'f32' });
    const hf = await openModel(join(dir, 'hf-llama-bias'));
    const gg = await openModel(join(dir, 'tiny-llama-bias.gguf'));
    expect(gg.config).toMatchObject({ architecture: 'llama', attentionBias: true });
    expect(gg.config).toEqual(hf.config);
    for (const name of ['model.layers.0.self_attn.q_proj.bias', 'model.layers.1.self_attn.k_proj.bias']) {
      expect(dequantize(gg.tensors.get(name)!), name).toEqual(dequantize(hf.tensors.get(name)!));
    }
  });

  for (const quant of ['q4_0', 'q4_1', 'q8_0'] as const) {
    it(`${quant} GGUF dequantizes close to the f32 weights, and 4-bit blocks are exact`, async () => {
      const { createTinyModel, createTinyGguf } = await import('../src/model/index.js');
      await createTinyModel(join(dir, `hf-${quant}`), { seed: 3 });
      await createTinyGguf(join(dir, `tiny-${quant}.gguf`), { seed: 3, quant });
      const hf = await openModel(join(dir, `hf-${quant}`));
      const gg = await openModel(join(dir, `tiny-${quant}.gguf`));
      const name = 'model.layers.1.self_attn.q_proj.weight';
      const t = gg.tensors.get(name)!;
      expect(t.type).toBe(quant);
      const ref = dequantize(hf.tensors.get(name)!);
      const got = dequantize(t);
      let maxErr = 0;
      let maxAbs = 0;
      for (let i = 0; i < ref.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(ref[i]! - got[i]!));
        maxAbs = Math.max(maxAbs, Math.abs(ref[i]!));
      }
      // 4-bit: at most about half a step of a block's range; 8-bit: far less.
      expect(maxErr / maxAbs).toBeLessThan(quant === 'q8_0' ? 0.01 : 0.12);
      const blocks = blocksOf(t);
      if (quant === 'q8_0') expect(blocks).toBeNull();
      else expect(fromBlocks(blocks!)).toEqual(got);
    });
  }
});
