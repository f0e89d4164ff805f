/**
 * Automatic placement: two nodes that hold the whole tiny model join as assignable, the coordinator
 * splits the layers over them in proportion to their free memory, each node exports and loads its
 * own range, and the model becomes servable through them in plan order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTinyModel } from '@cascadia/engine';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningNode, runNode } from '../src/node/run-node.js';
import { type RunningCoordinator, startCoordinator } from '../src/server.js';
import { JOIN_TOKEN } from './helpers/fleet.js';

let dir = '';
let coordinator: RunningCoordinator | undefined;
const nodes: RunningNode[] = [];

afterAll(async () => {
  for (const n of nodes) await n.stop();
  await coordinator?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('automatic memory-weighted placement', () => {
  it('assigns layer ranges to assignable nodes, which then serve them', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cascadia-assign-'));
    const model = path.join(dir, 'tiny');
    await createTinyModel(model, { layers: 6 });
    coordinator = await startCoordinator({
      port: 0,
      dataDir: path.join(dir, 'coordinator'),
      joinToken: JOIN_TOKEN,
      heartbeatMs: 200,
      expectNodes: 2,
    });
    const started = ['a', 'b'].map((name) =>
      runNode({
        coordinatorUrl: coordinator!.url,
        joinToken: JOIN_TOKEN,
        model,
        modelId: 'tiny-assigned',
        cacheDir: path.join(dir, 'shards'),
        keyFile: path.join(dir, `${name}.key`),
        port: 0,
        threads: 1,
        rejoinRetryMs: 100,
      }),
    );
    nodes.push(...(await Promise.all(started)));
    const fleet = coordinator.mesh.fleet;
    const plan = fleet.assignedPlan('tiny-assigned');
    expect(plan).not.toBeNull();
    expect(plan!.flatMap((p) => [p.layer_start, p.layer_end]).at(-1)).toBe(6);
    // Contiguous, every node at least one layer (the memory weighting itself: placement.test.ts).
    expect(plan![0]!.layer_start).toBe(0);
    expect(plan![1]!.layer_start).toBe(plan![0]!.layer_end);
    expect(plan!.every((p) => p.layer_end > p.layer_start)).toBe(true);
    for (let i = 0; i < 100 && !fleet.route('tiny-assigned'); i++)
      await new Promise((r) => setTimeout(r, 50));
    const route = fleet.requireRoute('tiny-assigned');
    expect(route.map((n) => [n.node_id, n.shard.layer_start, n.shard.layer_end])).toEqual(
      plan!.map((p) => [p.node_id, p.layer_start, p.layer_end]),
    );
    expect(fleet.pending.size).toBe(0);
    for (let i = 0; i < 100 && !coordinator.mesh.tokenizers.ready('tiny-assigned'); i++)
      await new Promise((r) => setTimeout(r, 20));
    const res = await coordinator.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: {
        model: 'tiny-assigned',
        messages: [{ role: 'user', content: 'Hello' }],
        max_tokens: 3,
        temperature: 0,
      },
    });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { cascadia: { node_ids: string[] } }).cascadia.node_ids).toEqual(
      plan!.map((p) => p.node_id),
    );
    const view = (await coordinator.app.inject({ url: '/v1/cascadia/nodes' })).json() as {
      placement: { model_id: string; assigned_plan: unknown }[];
    };
    expect(view.placement.find((m) => m.model_id === 'tiny-assigned')?.assigned_plan).toEqual(plan);
  });
});
