import { basename } from 'node:path';
import { blocksOf, dequantize, openModel } from '../model/index.js';
import { tokenizerJson } from '../tokenizer/index.js';
import type { KvCacheType } from './graph.js';
import type { ShardManifest } from './manifest.js';
import { evenLayerSplit, normalizeBoundaries, planLayerSplit } from './split.js';
import { writeShards } from './write.js';

export interface ExportShardsOptions {
  /** A .gguf file or a Hugging Face folder. */
  model: string;
  outDir: string;
  /** Even split into this many shards (default 1) unless boundaries or memoryWeights are given. */
  shards?: number;
  /** Explicit layer boundaries, e.g. [0, 15, 30] (the leading 0 / trailing layer count may be omitted). */
  boundaries?: number[];
  /** Split proportional to these weights (e.g. each node's free memory); one shard per weight. */
  memoryWeights?: number[];
  modelId?: string;
  /** MatMulNBits accuracy_level (default 4: int8 activations). */
  accuracyLevel?: number;
  maxContext?: number;
  /** KV cache element type (default float16; float32 at accuracy level 0). */
  kvCacheType?: KvCacheType;
}

/** A model id from the file or folder name: `SmolLM2-135M-Instruct.Q4_1.gguf` → `smollm2-135m-instruct`. */
export function defaultModelId(modelPath: string): string {
  const name = basename(modelPath.replace(/[\\/]+$/, ''))
    .replace(/\.gguf$/i, '')
    .replace(/[.-](q\d+_[0-9a-z_]+|f16|f32|bf16)$/i, '');
  return name.toLowerCase();
}

/** Imports a model and writes it as layer-range shards under `<outDir>/shard-<i>-of-<n>/`. */
export async function exportShards(opts: ExportShardsOptions): Promise<ShardManifest[]> {
  const source = await openModel(opts.model);
  const layers = source.config.numLayers;
  let boundaries: number[];
  if (opts.boundaries) boundaries = normalizeBoundaries(layers, opts.boundaries);
  else if (opts.memoryWeights) boundaries = planLayerSplit(layers, opts.memoryWeights);
  else boundaries = evenLayerSplit(layers, opts.shards ?? 1);
  const tokenizerBytes = new TextEncoder().encode(JSON.stringify(tokenizerJson(source.tokenizer)));
  return writeShards(
    { config: source.config, tensors: source.tensors, dequantize, blocksOf },
    {
      modelId: opts.modelId ?? (source.modelId || defaultModelId(opts.model)),
      sourceDigest: source.sourceDigest,
      tokenizer: { file: 'tokenizer.json', bytes: tokenizerBytes },
    },
    {
      outDir: opts.outDir,
      boundaries,
      ...(opts.accuracyLevel !== undefined ? { accuracyLevel: opts.accuracyLevel } : {}),
      ...(opts.maxContext !== undefined ? { maxContext: opts.maxContext } : {}),
      ...(opts.kvCacheType !== undefined ? { kvCacheType: opts.kvCacheType } : {}),
    },
  );
}
