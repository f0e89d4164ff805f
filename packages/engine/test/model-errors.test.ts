import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CorruptModelError,
  createTinyGguf,
  createTinyModel,
  type GgufWriteTensor,
  type GgufWriteValue,
  MissingTensorError,
  ModelFormatError,
  NotAModelFileError,
  openModel,
  TruncatedModelError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
  writeGguf,
} from '../src/model/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bad-models-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A one-layer llama GGUF with f32 weights, from which single things can be broken. */
function oneLayerGguf(
  path: string,
  opts: { architecture?: string; drop?: string; typeOf?: Record<string, number>; tokenizer?: string } = {},
): void {
  const arch = opts.architecture ?? 'llama';
  const h = 32;
  const tokens = ['<|endoftext|>', 'a', 'b', 'ab'];
  const metadata: Record<string, GgufWriteValue> = {
    'general.architecture': { type: 'string', value: arch },
    [`${arch}.block_count`]: { type: 'u32', value: 1 },
    [`${arch}.context_length`]: { type: 'u32', value: 64 },
    [`${arch}.embedding_length`]: { type: 'u32', value: h },
    [`${arch}.feed_forward_length`]: { type: 'u32', value: h },
    [`${arch}.attention.head_count`]: { type: 'u32', value: 2 },
    'tokenizer.ggml.model': { type: 'string', value: opts.tokenizer ?? 'gpt2' },
    'tokenizer.ggml.tokens': { type: 'array', itemType: 'string', value: tokens },
    'tokenizer.ggml.token_type': { type: 'array', itemType: 'i32', value: [3, 1, 1, 1] },
    'tokenizer.ggml.merges': { type: 'array', itemType: 'string', value: ['a b'] },
  };
  const t = (name: string, dims: number[]): GgufWriteTensor => ({
    name,
    dims,
    ggmlType: opts.typeOf?.[name] ?? 0,
    data: new Uint8Array(dims.reduce((a, b) => a * b, 1) * 4),
  });
  const tensors = [
    t('token_embd.weight', [h, tokens.length]),
    t('output_norm.weight', [h]),
    t('blk.0.attn_norm.weight', [h]),
    t('blk.0.attn_q.weight', [h, h]),
    t('blk.0.attn_k.weight', [h, h]),
    t('blk.0.attn_v.weight', [h, h]),
    t('blk.0.attn_output.weight', [h, h]),
    t('blk.0.ffn_norm.weight', [h]),
    t('blk.0.ffn_gate.weight', [h, h]),
    t('blk.0.ffn_up.weight', [h, h]),
    t('blk.0.ffn_down.weight', [h, h]),
  ].filter((x) => x.name !== opts.drop);
  writeGguf(path, metadata, tensors);
}

describe('bad model files get typed, clear errors', () => {
  it('the well-formed one-layer file opens (so the failures below are about the damage)', async () => {
    oneLayerGguf(join(dir, 'ok.gguf'));
    const m = await openModel(join(dir, 'ok.gguf'));
    expect(m.config.numLayers).toBe(1);
  });

  it('a missing path', async () => {
    await expect(openModel(join(dir, 'nope.gguf'))).rejects.toThrow(NotAModelFileError);
  });

  it('a file that is not GGUF', async () => {
    const p = join(dir, 'text.gguf');
    writeFileSync(p, 'this is just some text, not a model\n');
    const err = await openModel(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAModelFileError);
    expect((err as ModelFormatError).code).toBe('not_a_model');
    expect((err as Error).message).toMatch(/GGUF/);
  });

  it('an empty file', async () => {
    const p = join(dir, 'empty.gguf');
    writeFileSync(p, '');
    await expect(openModel(p)).rejects.toThrow(NotAModelFileError);
  });

  it('a file truncated inside the tensor data', async () => {
    const p = join(dir, 'cut-data.gguf');
    await createTinyGguf(p, { quant: 'q4_1' });
    const size = readFileSync(p).length;
    truncateSync(p, Math.floor(size * 0.8));
    const err = await openModel(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TruncatedModelError);
    expect((err as Error).message).toMatch(/beyond the end of the file/);
  });

  it('a file truncated inside the header', async () => {
    const p = join(dir, 'cut-header.gguf');
    await createTinyGguf(p, { quant: 'q4_1' });
    truncateSync(p, 2000);
    const err = await openModel(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TruncatedModelError);
    expect((err as Error).message).toMatch(/truncated/);
  });

  it('a header whose counts are impossible for the file size', async () => {
    const p = join(dir, 'huge-count.gguf');
    const b = Buffer.alloc(64);
    b.write('GGUF', 0, 'latin1');
    b.writeUInt32LE(3, 4);
    b.writeBigUInt64LE(1n << 40n, 8);
    writeFileSync(p, b);
    await expect(openModel(p)).rejects.toThrow(CorruptModelError);
  });

  it('an unsupported architecture', async () => {
    const p = join(dir, 'mamba.gguf');
    oneLayerGguf(p, { architecture: 'mamba' });
    const err = await openModel(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedArchitectureError);
    expect((err as Error).message).toMatch(/"mamba" is not supported/);
  });

  it('an unsupported tensor type', async () => {
    const p = join(dir, 'q5_0.gguf');
    oneLayerGguf(p, { typeOf: { 'blk.0.ffn_up.weight': 6 } });
    const err = await openModel(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedTensorTypeError);
    expect((err as Error).message).toMatch(/blk\.0\.ffn_up\.weight has type Q5_0/);
  });

  it('a missing tensor', async () => {
    const p = join(dir, 'no-down.gguf');
    oneLayerGguf(p, { drop: 'blk.0.ffn_down.weight' });
    const err = await openModel(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingTensorError);
    expect((err as Error).message).toMatch(/model\.layers\.0\.mlp\.down_proj\.weight is missing/);
  });

  it('an unsupported tokenizer kind', async () => {
    const p = join(dir, 'bert-tokenizer.gguf');
    oneLayerGguf(p, { tokenizer: 'bert' });
    const err = await openModel(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as ModelFormatError).code).toBe('unsupported_tokenizer');
    expect((err as Error).message).toMatch(/tokenizer\.ggml\.model is "bert"/);
  });

  it('a safetensors tensor of an unsupported dtype', async () => {
    const folder = join(dir, 'hf-int8');
    await createTinyModel(folder);
    const st = join(folder, 'model.safetensors');
    const bytes = readFileSync(st);
    const len = Number(bytes.readBigUInt64LE(0));
    const header = bytes
      .subarray(8, 8 + len)
      .toString('utf8')
      .replace('"dtype":"F32"', '"dtype":"I8" ');
    writeFileSync(st, Buffer.concat([bytes.subarray(0, 8), Buffer.from(header), bytes.subarray(8 + len)]));
    const err = await openModel(folder).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedTensorTypeError);
    expect((err as Error).message).toMatch(/has type I8/);
  });

  it('Hugging Face folders: no config, unsupported model_type, truncated safetensors', async () => {
    const empty = join(dir, 'empty-folder');
    await mkdir(empty);
    await expect(openModel(empty)).rejects.toThrow(NotAModelFileError);

    const mamba = join(dir, 'hf-mamba');
    await createTinyModel(mamba);
    const cfg = JSON.parse(readFileSync(join(mamba, 'config.json'), 'utf8'));
    writeFileSync(
      join(mamba, 'config.json'),
      JSON.stringify({ ...cfg, model_type: 'mamba', architectures: ['MambaForCausalLM'] }),
    );
    await expect(openModel(mamba)).rejects.toThrow(UnsupportedArchitectureError);

    const cut = join(dir, 'hf-cut');
    await createTinyModel(cut);
    const st = join(cut, 'model.safetensors');
    truncateSync(st, readFileSync(st).length - 100);
    await expect(openModel(cut)).rejects.toThrow(TruncatedModelError);
  });
});
