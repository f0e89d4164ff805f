export { type BuildOptions, buildCoordinatorApp, type CoordinatorAppOptions, coordinatorApp } from './app.js';
export { MeshError } from './mesh/errors.js';
export {
  type CompletionJob,
  type CompletionOutcome,
  MeshService,
  type MeshServiceOptions,
} from './mesh/mesh-service.js';
export { boundariesOf, findRoute, type LayerAssignment, planLayerSplit } from './mesh/placement.js';
export type { ShardInfo, StageRunner } from './mesh/types.js';
export { type RunNodeOptions, type RunningNode, runNode } from './node/run-node.js';
export { PROTOCOL_VERSION } from './protocol/frames.js';
export {
  type CoordinatorServerOptions,
  defaultDataDir,
  type RunningCoordinator,
  startCoordinator,
} from './server.js';
