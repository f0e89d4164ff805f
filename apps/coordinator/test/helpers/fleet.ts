import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { StageRunner } from '../../src/mesh/types.js';
import { type RunningNode, runNode } from '../../src/node/run-node.js';
import {
  type CoordinatorServerOptions,
  type RunningCoordinator,
  startCoordinator,
} from '../../src/server.js';

/** Greedy choice for the stand-in runner (real shards use the engine's sampler). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

export const JOIN_TOKEN = 'test-join-token-0123456789';

export interface TestFleet {
  dir: string;
  coordinator: RunningCoordinator;
  nodes: RunningNode[];
  /** `source`: a runner, or a shard directory the node loads with the engine */
  addNode(
    source: StageRunner | string,
    name: string,
    opts?: { joinToken?: string; busyPoll?: boolean },
  ): Promise<RunningNode>;
  close(): Promise<void>;
}

/** A coordinator on 127.0.0.1:0 plus in-process nodes, each with its own key file. */
export async function startTestFleet(opts: CoordinatorServerOptions = {}): Promise<TestFleet> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cascadia-mesh-'));
  const coordinator = await startCoordinator({
    host: '127.0.0.1',
    port: 0,
    dataDir: path.join(dir, 'coordinator'),
    joinToken: JOIN_TOKEN,
    heartbeatMs: 500,
    ...opts,
  });
  const nodes: RunningNode[] = [];
  return {
    dir,
    coordinator,
    nodes,
    async addNode(source, name, nodeOpts = {}) {
      const node = await runNode({
        coordinatorUrl: coordinator.url,
        joinToken: nodeOpts.joinToken ?? JOIN_TOKEN,
        ...(typeof source === 'string'
          ? { shardDir: source, threads: 1 }
          : { runner: source, createSampler: () => ({ sample: argmax }) }),
        keyFile: path.join(dir, `${name}.key`),
        host: '127.0.0.1',
        port: 0,
        rejoinRetryMs: 100,
        ...(nodeOpts.busyPoll ? { busyPoll: true } : {}),
        ...(process.env.MESH_TEST_LOG
          ? { log: (m: string, e?: Record<string, unknown>) => console.log(name, m, e) }
          : {}),
      });
      nodes.push(node);
      return node;
    },
    async close() {
      for (const n of nodes) await n.stop().catch(() => {});
      await coordinator.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
