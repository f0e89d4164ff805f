import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTinyModel, dequantize, generateTinyModel, openModel } from '../src/model/index.js';
import { createTokenizer, loadTokenizer } from '../src/tokenizer/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tiny-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createTinyModel', () => {
  it('is deterministic in its seed', async () => {
    await createTinyModel(join(dir, 'a'), { seed: 5 });
    await createTinyModel(join(dir, 'b'), { seed: 5 });
    await createTinyModel(join(dir, 'c'), { seed: 6 });
    const bytes = (d: string) => readFileSync(join(dir, d, 'model.safetensors'));
    expect(bytes('a').equals(bytes('b'))).toBe(true);
    expect(bytes('a').equals(bytes('c'))).toBe(false);
    expect(readFileSync(join(dir, 'a', 'tokenizer.json'), 'utf8')).toBe(
      readFileSync(join(dir, 'c', 'tokenizer.json'), 'utf8'),
    );
  });

  it('round-trips through openModel: config, names, shapes and the generated values', async () => {
    const { config } = await createTinyModel(join(dir, 'rt'), {
      seed: 9,
      layers: 3,
      hidden: 96,
      heads: 6,
      kvHeads: 2,
    });
    const model = await openModel(join(dir, 'rt'));
    expect(model.format).toBe('safetensors');
    expect(model.config).toEqual(config);
    expect(model.config).toMatchObject({
      numLayers: 3,
      hiddenSize: 96,
      numHeads: 6,
      numKvHeads: 2,
      headDim: 16,
    });
    const expected = generateTinyModel({ seed: 9, layers: 3, hidden: 96, heads: 6, kvHeads: 2 });
    expect(model.tensors.size).toBe(expected.weights.length);
    for (const w of expected.weights) {
      const t = model.tensors.get(w.name)!;
      expect(t.shape, w.name).toEqual(w.shape);
      expect(dequantize(t), w.name).toEqual(w.values);
    }
    expect(model.sourceDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(model.chatTemplate).toContain('<|im_start|>');
  });

  it('reads a sharded checkpoint through model.safetensors.index.json', async () => {
    const { readSafetensors, writeSafetensors } = await import('../src/model/index.js');
    const folder = join(dir, 'sharded');
    await createTinyModel(folder, { seed: 4 });
    const all = readSafetensors(join(folder, 'model.safetensors')).map((t) => ({ ...t, data: t.data }));
    const { rmSync, writeFileSync } = await import('node:fs');
    rmSync(join(folder, 'model.safetensors'));
    const half = Math.floor(all.length / 2);
    writeSafetensors(join(folder, 'model-00001-of-00002.safetensors'), all.slice(0, half));
    writeSafetensors(join(folder, 'model-00002-of-00002.safetensors'), all.slice(half));
    const weightMap = Object.fromEntries(
      all.map((t, i) => [
        t.name,
        i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors',
      ]),
    );
    writeFileSync(
      join(folder, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    // A stray file outside the index is ignored.
    writeSafetensors(join(folder, 'consolidated.safetensors'), all.slice(0, 1));
    const model = await openModel(folder);
    expect(model.tensors.size).toBe(all.length);
    const ref = generateTinyModel({ seed: 4 }).weights;
    for (const w of ref) expect(dequantize(model.tensors.get(w.name)!), w.name).toEqual(w.values);
  });

  it('writes f16 weights when asked, within f16 rounding of the f32 ones', async () => {
    await createTinyModel(join(dir, 'h'), { seed: 2, dtype: 'f16' });
    const model = await openModel(join(dir, 'h'));
    const t = model.tensors.get('model.layers.0.mlp.up_proj.weight')!;
    expect(t.type).toBe('f16');
    const ref = generateTinyModel({ seed: 2 }).weights.find((w) => w.name === t.name)!.values;
    const got = dequantize(t);
    for (let i = 0; i < ref.length; i += 97)
      expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(Math.abs(ref[i]!) / 1024 + 1e-7);
  });

  it('writes a Qwen2-style model with q/k/v biases', async () => {
    await createTinyModel(join(dir, 'q'), { attentionBias: true, tieWordEmbeddings: false });
    const model = await openModel(join(dir, 'q'));
    expect(model.config.architecture).toBe('qwen2');
    expect(model.config.attentionBias).toBe(true);
    expect(model.config.tieWordEmbeddings).toBe(false);
    expect(model.tensors.get('model.layers.1.self_attn.k_proj.bias')!.shape).toEqual([32]);
    expect(model.tensors.has('lm_head.weight')).toBe(true);
  });

  it('ships a working byte-level BPE tokenizer with ChatML special tokens and template', async () => {
    await createTinyModel(join(dir, 't'));
    const tok = loadTokenizer(join(dir, 't'));
    expect(tok.vocabSize).toBe(320);
    const text = '<|im_start|>user\nWhat is the capital of France? 42 ünïcödé 🙂<|im_end|>';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(1);
    expect(ids.at(-1)).toBe(2);
    expect(ids.length).toBeLessThan(new TextEncoder().encode(text).length);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.eosTokenIds).toEqual([0, 2]);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true })).toBe(
      '<|im_start|>system\nYou are a tiny test model.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
    );
    // The in-memory spec and the file agree.
    const mem = createTokenizer(generateTinyModel().tokenizer);
    expect(mem.encode(text)).toEqual(ids);
  });
});
