import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTinyModel } from '../src/model/index.js';
import { defaultModelId, exportShards } from '../src/shard/export.js';

describe('exportShards', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'export-'));
    await createTinyModel(join(dir, 'tiny'), { layers: 3, seed: 2 });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('derives the default model id from the file name', () => {
    expect(defaultModelId('/models/SmolLM2-135M-Instruct.Q4_1.gguf')).toBe('smollm2-135m-instruct');
    expect(defaultModelId('/models/Llama-3.2-1B-Instruct-f16.gguf')).toBe('llama-3.2-1b-instruct');
    expect(defaultModelId('/models/tiny-llama/')).toBe('tiny-llama');
  });

  it('splits by memory weights and records the float re-quantization scheme', async () => {
    const manifests = await exportShards({
      model: join(dir, 'tiny'),
      outDir: join(dir, 'out'),
      memoryWeights: [2, 1],
    });
    expect(manifests.map((m) => [m.layerStart, m.layerEnd])).toEqual([
      [0, 2],
      [2, 3],
    ]);
    expect(manifests[0]?.modelId).toBe('tiny');
    expect(manifests[0]?.quantization.tensors).toEqual({
      f32: expect.stringMatching(/4-bit, block 32, symmetric/),
    });
    expect(new Set(manifests.map((m) => m.tokenizer.sha256)).size).toBe(1);
  });

  it('rejects boundaries that do not fit the model', async () => {
    await expect(
      exportShards({ model: join(dir, 'tiny'), outDir: join(dir, 'bad'), boundaries: [0, 5] }),
    ).rejects.toThrow(/invalid shard boundaries/);
  });
});
