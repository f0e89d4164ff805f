import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTinyModel, exportShards } from '@cascadia/engine';

export const TINY_MODEL_ID = 'tiny-llama';

/** The engine's deterministic tiny Llama, exported as `shards` real ONNX shards (about a second). */
export async function tinyShards(shards: number, dir?: string): Promise<{ root: string; dirs: string[] }> {
  const root = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'cascadia-tiny-')));
  const model = path.join(root, 'model');
  await createTinyModel(model, { layers: 4 });
  const out = path.join(root, `shards-${shards}`);
  const manifests = await exportShards({ model, outDir: out, shards, modelId: TINY_MODEL_ID });
  return { root, dirs: manifests.map((m) => path.join(out, `shard-${m.shardIndex}-of-${m.shardCount}`)) };
}
