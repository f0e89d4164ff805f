/**
 * The coordinator's view of `@cascadia/engine`: tokenizer, sampler, shard loading and the default
 * model, typed by the agreed contract and loaded on first use, so the coordinator's HTTP surface
 * starts (and answers /health) even on a machine that only routes.
 */
import type { StageRunner } from './types.js';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface Tokenizer {
  encode(text: string): number[];
  decode(ids: number[], opts?: { skipSpecial?: boolean }): string;
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt: boolean }): string;
  eosTokenIds: number[];
  bosTokenId?: number;
}

export interface SamplingParams {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  seed?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
}

export interface Sampler {
  sample(logits: Float32Array, generated: number[]): number;
}

export interface ExportedShardManifest {
  modelId: string;
  shardIndex: number;
  shardCount: number;
  layerStart: number;
  layerEnd: number;
  digest: string;
}

export interface EngineModule {
  loadShard(
    dir: string,
    opts?: {
      engine?: 'auto' | 'onnxruntime' | 'openvino';
      device?: string;
      threads?: number;
      maxSessions?: number;
    },
  ): Promise<StageRunner>;
  loadTokenizer(dirOrManifest: string | object): Promise<Tokenizer> | Tokenizer;
  createSampler(params: SamplingParams): Sampler;
  exportShards(opts: {
    model: string;
    outDir: string;
    shards?: number;
    boundaries?: number[];
    memoryWeights?: number[];
    modelId?: string;
  }): Promise<ExportedShardManifest[]>;
  openModel(path: string): Promise<{ modelId: string; config: { numLayers: number } }>;
  defaultModelId(modelPath: string): string;
  pullDefaultModel(opts?: { cacheDir?: string; onProgress?: (p: unknown) => void }): Promise<string>;
}

let cached: Promise<EngineModule> | null = null;

export function engine(): Promise<EngineModule> {
  // A computed specifier keeps TypeScript from resolving the package's own (evolving) declarations;
  // the contract above is what this package relies on.
  const specifier = '@cascadia/engine';
  cached ??= import(specifier).then((m) => m as EngineModule);
  return cached;
}
