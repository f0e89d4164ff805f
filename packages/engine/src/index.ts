export { ReferenceShard } from './reference/forward.js';
export { loadShard, readShardManifest, verifyShardFiles } from './runtime/load.js';
export type {
  EngineName,
  ForwardOptions,
  LoadShardOptions,
  ShardInput,
  ShardOutput,
  ShardRunner,
} from './runtime/types.js';
export { ShardInputError } from './runtime/types.js';
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
