/**
 * A mesh node: loads one shard with the engine, serves its stage over the data protocol and keeps
 * itself joined to the coordinator. `cascadia node` calls this; tests call it in-process too.
 */
import os from 'node:os';
import path from 'node:path';
import { signStage } from '@cascadia/receipts';
import { loadOrCreateKeyFile } from '@cascadia/receipts/node';
import { nodeIdOf } from '../auth/identity.js';
import { engine, type Sampler, type SamplingParams } from '../mesh/engine-binding.js';
import { lmHeadLayerEquivalents } from '../mesh/placement.js';
import { ensureShardSet } from '../mesh/shard-cache.js';
import { type StageRunner, shardInfoOf } from '../mesh/types.js';
import { NodeAgent } from './agent.js';
import { StageServer } from './stage-server.js';

export interface RunNodeOptions {
  coordinatorUrl: string;
  joinToken: string;
  /** shard directory (with manifest.json); ignored when `runner` is given */
  shardDir?: string;
  /**
   * Or the whole model (.gguf or HF folder): the node joins as assignable, the coordinator assigns
   * its layer range (memory-weighted), and the node exports and loads that shard itself.
   */
  model?: string;
  /** model id for an assignable node (default: derived from the file name, as the engine does) */
  modelId?: string;
  /** where an assignable node keeps its exported shards */
  cacheDir?: string;
  /** an already-loaded runner (tests) */
  runner?: StageRunner;
  /** sampler factory; defaults to the engine's createSampler */
  createSampler?: (params: SamplingParams) => Pick<Sampler, 'sample'>;
  keyFile: string;
  host?: string;
  port?: number;
  /** host other machines use to reach this node (defaults to host) */
  advertiseHost?: string;
  engine?: 'auto' | 'onnxruntime' | 'openvino';
  device?: string;
  threads?: number;
  maxSessions?: number;
  /** keep polling while sessions are open (see StageServerOptions.busyPoll) */
  busyPoll?: boolean;
  /** first retry delay when the coordinator is unreachable (doubles up to 10x) */
  rejoinRetryMs?: number;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

export interface RunningNode {
  nodeId: string;
  publicKey: string;
  port: number;
  agent: NodeAgent;
  server: StageServer;
  runner: StageRunner;
  stop(): Promise<void>;
}

export async function runNode(opts: RunNodeOptions): Promise<RunningNode> {
  const keys = await loadOrCreateKeyFile(opts.keyFile);
  const nodeId = nodeIdOf(keys.publicKey);
  let runner = opts.runner;
  let shardDir = opts.shardDir;
  const e = await engine();
  if (!runner && !shardDir && opts.model) {
    shardDir = await assignedShard(opts, nodeId, keys);
  }
  if (!runner) {
    if (!shardDir) throw new Error('a shard directory (or a model to take an assignment for) is required');
    runner = await e.loadShard(shardDir, {
      engine: opts.engine ?? 'auto',
      ...(opts.device ? { device: opts.device } : {}),
      ...(opts.threads ? { threads: opts.threads } : {}),
      maxSessions: opts.maxSessions ?? 64,
    });
  }
  const host = opts.host ?? '127.0.0.1';
  let agent: NodeAgent | null = null;
  const server = new StageServer({
    runner,
    nodeId,
    publicKey: keys.publicKey,
    privateKey: keys.privateKey,
    signStage: (statement) => signStage(statement, keys.privateKey),
    createSampler: opts.createSampler ?? ((params) => e.createSampler(params)),
    coordinator: () => agent?.coordinator ?? null,
    maxSessions: opts.maxSessions ?? 64,
    ...(opts.busyPoll ? { busyPoll: true } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  const bound = await server.listen(opts.port ?? 0, host);
  agent = new NodeAgent({
    coordinatorUrl: opts.coordinatorUrl,
    joinToken: opts.joinToken,
    nodeId,
    publicKey: keys.publicKey,
    privateKey: keys.privateKey,
    shard: shardInfoOf(runner.manifest),
    ...(shardDir ? { shardDir: path.resolve(shardDir) } : {}),
    advertise: { host: opts.advertiseHost ?? (host === '0.0.0.0' ? os.hostname() : host), port: bound.port },
    device: runner.device,
    engine: runner.engine,
    activeSessions: () => server.activeSessions,
    ...(opts.rejoinRetryMs ? { retryMs: opts.rejoinRetryMs } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  await agent.start();
  const stop = async () => {
    await agent.stop(true);
    await server.close();
    await runner.close();
  };
  return { nodeId, publicKey: keys.publicKey, port: bound.port, agent, server, runner, stop };
}

/**
 * Assignable node: join with the whole model, wait for the coordinator's memory-weighted layer
 * range, export the shards for that plan (cached by boundaries) and return this node's shard.
 */
async function assignedShard(
  opts: RunNodeOptions,
  nodeId: string,
  keys: { publicKey: string; privateKey: string },
): Promise<string> {
  const e = await engine();
  const model = opts.model!;
  const source = await e.openModel(model);
  const modelId = opts.modelId ?? e.defaultModelId(model);
  const waiting = new NodeAgent({
    coordinatorUrl: opts.coordinatorUrl,
    joinToken: opts.joinToken,
    nodeId,
    publicKey: keys.publicKey,
    privateKey: keys.privateKey,
    shard: null,
    assignable: {
      model_id: modelId,
      num_layers: source.config.numLayers,
      last_stage_extra: lmHeadLayerEquivalents(source.config),
    },
    device: opts.device ?? 'auto',
    engine: opts.engine ?? 'auto',
    activeSessions: () => 0,
    ...(opts.rejoinRetryMs ? { retryMs: opts.rejoinRetryMs } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  await waiting.start();
  const assignment = await waiting.waitAssignment();
  await waiting.stop(false);
  const dirs = await ensureShardSet(model, {
    boundaries: assignment.boundaries,
    modelId,
    ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
  });
  const mine = dirs[assignment.index];
  if (!mine) throw new Error(`assignment index ${assignment.index} is outside the plan`);
  return mine;
}
