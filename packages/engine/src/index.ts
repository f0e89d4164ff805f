export {
  blocksOf,
  CorruptModelError,
  createTinyModel,
  dequantize,
  type LlamaConfig,
  MissingTensorError,
  ModelFormatError,
  type ModelSource,
  NotAModelFileError,
  openModel,
  type TensorType,
  type TinyModelOptions,
  TruncatedModelError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
  type WeightTensor,
} from './model/index.js';
export {
  DEFAULT_MODEL,
  DigestMismatchError,
  defaultCacheDir,
  PullError,
  type PullOptions,
  type PullProgress,
  pullDefaultModel,
  stderrProgress,
} from './pull/index.js';
export { ReferenceShard } from './reference/forward.js';
export { loadShard, readShardManifest, verifyShardFiles } from './runtime/load.js';
export {
  argmax,
  findShardDirs,
  type GenerateOptions,
  generateTokens,
  loadPipeline,
  ShardPipeline,
} from './runtime/pipeline.js';
export type {
  EngineName,
  ForwardOptions,
  LoadShardOptions,
  ShardInput,
  ShardOutput,
  ShardRunner,
} from './runtime/types.js';
export { ShardInputError } from './runtime/types.js';
export {
  argmaxLogits,
  createSampler,
  type Sampler,
  type SamplingParams,
  SamplingParamsError,
  StopSequenceMatcher,
} from './sampling/index.js';
export { defaultModelId, type ExportShardsOptions, exportShards } from './shard/export.js';
export { buildShardGraph, ShardIO } from './shard/graph.js';
export {
  manifestDigest,
  type ShardFile,
  ShardIntegrityError,
  type ShardManifest,
  ShardManifestSchema,
} from './shard/manifest.js';
export { evenLayerSplit, normalizeBoundaries, planLayerSplit } from './shard/split.js';
export { prepareShardWeights, type ShardWeights, type WeightReader } from './shard/weights.js';
export { shardDirName, writeShards } from './shard/write.js';
export {
  type ChatMessage,
  createTokenizer,
  loadTokenizer,
  Tokenizer,
  type TokenizerSpec,
} from './tokenizer/index.js';
