/**
 * Fault handling with in-process nodes over real sockets: a hung stage times out instead of
 * hanging the request, a client that goes away frees the session on every node, and a restarted
 * coordinator gets its nodes back without restarting them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MeshError } from '../src/mesh/errors.js';
import { PipelineSession } from '../src/mesh/pipeline-session.js';
import type { StageRunner } from '../src/mesh/types.js';
import { startCoordinator } from '../src/server.js';
import { arithRunner } from './helpers/arith-runner.js';
import { JOIN_TOKEN, startTestFleet, type TestFleet } from './helpers/fleet.js';
import { ssePayloads } from './helpers/sse.js';
import { TINY_MODEL_ID, tinyShards } from './helpers/tiny.js';

const GREEDY = { temperature: 0, seed: 1, generated: [] };
let fleet: TestFleet | undefined;

afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

/** A runner whose forwards never finish once `hang.on` is set: a stuck engine. */
function hangingRunner(inner: StageRunner, hang: { on: boolean }): StageRunner {
  return {
    ...inner,
    forward: (id, input, opts) => (hang.on ? new Promise(() => {}) : inner.forward(id, input, opts)),
  };
}

function session(f: TestFleet, requestId: string, timeouts = { controlMs: 2000, stepMs: 300 }) {
  const mesh = f.coordinator.mesh;
  const route = mesh.fleet.requireRoute('arith');
  return new PipelineSession(
    route.map((n) => ({ link: n.link, layerStart: n.shard.layer_start, layerEnd: n.shard.layer_end })),
    mesh.identity,
    requestId,
    timeouts,
  );
}

describe('faults', () => {
  it('times out a step on a hung node instead of waiting forever', async () => {
    fleet = await startTestFleet();
    const hang = { on: false };
    await fleet.addNode(arithRunner(0, 2, 4), 'a');
    await fleet.addNode(hangingRunner(arithRunner(2, 4, 4), hang), 'b');
    const s = session(fleet, 'req-hang');
    await s.open(GREEDY);
    expect(await s.forward(Int32Array.of(1, 2), 0)).toBeGreaterThanOrEqual(0);
    hang.on = true;
    const started = Date.now();
    const error = await s.forward(Int32Array.of(3), 2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MeshError);
    expect(error).toMatchObject({ code: 'timeout', nodeId: fleet.nodes[1]!.nodeId });
    expect(Date.now() - started).toBeLessThan(2000);
    s.abandon();
  });

  it('fails over within a few heartbeats when a node goes silent without closing its sockets', async () => {
    fleet = await startTestFleet();
    const hang = { on: false };
    await fleet.addNode(arithRunner(0, 2, 4), 'a');
    const b = await fleet.addNode(hangingRunner(arithRunner(2, 4, 4), hang), 'b');
    const s = session(fleet, 'req-silent', { controlMs: 2000, stepMs: 30_000 });
    await s.open(GREEDY);
    // The machine "vanishes": no more heartbeats, its engine stops answering, its sockets stay open.
    hang.on = true;
    await b.agent.stop(false);
    const started = Date.now();
    const error = await s.forward(Int32Array.of(1, 2), 0).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'node_lost', nodeId: b.nodeId });
    expect(Date.now() - started).toBeLessThan(10_000);
    s.abandon();
  });

  it('frees a session on every node when it is abandoned', async () => {
    fleet = await startTestFleet();
    await fleet.addNode(arithRunner(0, 2, 4), 'a');
    await fleet.addNode(arithRunner(2, 4, 4), 'b');
    const s = session(fleet, 'req-abandon');
    await s.open(GREEDY);
    await s.forward(Int32Array.of(1, 2, 3), 0);
    expect(fleet.nodes.map((n) => n.server.activeSessions)).toEqual([1, 1]);
    s.abandon();
    for (let i = 0; i < 50 && fleet.nodes.some((n) => n.server.activeSessions > 0); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(fleet.nodes.map((n) => n.server.activeSessions)).toEqual([0, 0]);
  });

  it('gets its nodes back after a coordinator restart, without restarting them', async () => {
    fleet = await startTestFleet();
    await fleet.addNode(arithRunner(0, 2, 4), 'a');
    await fleet.addNode(arithRunner(2, 4, 4), 'b');
    const { port } = fleet.coordinator;
    const dataDir = fleet.coordinator.mesh.opts.dataDir;
    const before = fleet.coordinator.mesh.identity;
    const joinsBefore = fleet.nodes.map((n) => n.agent.joins);
    await fleet.coordinator.close();

    const restarted = await startCoordinator({
      host: '127.0.0.1',
      port,
      dataDir,
      joinToken: JOIN_TOKEN,
      heartbeatMs: 500,
    });
    fleet.coordinator = restarted;
    expect(restarted.mesh.identity.publicKey).toBe(before.publicKey);
    const deadline = Date.now() + 10_000;
    // Nodes find out at their next heartbeat (refused by the new process) and join again.
    const nodes = fleet.nodes;
    const rejoined = () => nodes.every((n, i) => n.agent.joins > joinsBefore[i]!);
    while ((restarted.mesh.fleet.route('arith') === null || !rejoined()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(restarted.mesh.fleet.requireRoute('arith').map((n) => n.node_id)).toEqual(
      fleet.nodes.map((n) => n.nodeId),
    );
    // The same node processes joined again (a join may also have raced the old coordinator's close).
    for (const [i, n] of fleet.nodes.entries()) expect(n.agent.joins).toBeGreaterThan(joinsBefore[i]!);
    const s = session(fleet, 'req-after-restart', { controlMs: 2000, stepMs: 2000 });
    await s.open(GREEDY);
    expect(await s.forward(Int32Array.of(4, 5), 0)).toBeGreaterThanOrEqual(0);
    expect((await s.close()).map((st) => st.statement.node_id)).toEqual(fleet.nodes.map((n) => n.nodeId));
  });

  it('ends streams in flight with a clear error when the coordinator shuts down', async () => {
    fleet = await startTestFleet();
    const { dirs } = await tinyShards(2, fleet.dir);
    for (const [i, dir] of dirs.entries()) await fleet.addNode(dir, `tiny-${i}`);
    for (let i = 0; i < 100 && !fleet.coordinator.mesh.tokenizers.ready(TINY_MODEL_ID); i++)
      await new Promise((r) => setTimeout(r, 20));
    const res = await fetch(`${fleet.coordinator.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: TINY_MODEL_ID,
        messages: [{ role: 'user', content: 'Hi' }],
        max_tokens: 450,
        temperature: 0,
        stream: true,
      }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    const started = Date.now();
    const closing = fleet.coordinator.close();
    let body = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      body += new TextDecoder().decode(value);
    }
    await closing;
    expect(Date.now() - started).toBeLessThan(5000);
    const events = ssePayloads(body);
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.at(-2)).toMatchObject({ error: { code: 'shutting_down' } });
  });
});
