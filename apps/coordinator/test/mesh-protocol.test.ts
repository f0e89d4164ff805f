import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { verifyStage } from '@cascadia/receipts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signMessage } from '../src/auth/ed25519.js';
import { handshakeMessage, issueTicket } from '../src/auth/tickets.js';
import { PipelineSession } from '../src/mesh/pipeline-session.js';
import { JoinRejected } from '../src/node/agent.js';
import { FramedConnection, openConnection } from '../src/protocol/connection.js';
import {
  encodeFrame,
  FrameType,
  jsonPayload,
  PayloadKind,
  parseJsonPayload,
} from '../src/protocol/frames.js';
import { ARITH_HIDDEN, arithRunner } from './helpers/arith-runner.js';
import { argmax, startTestFleet, type TestFleet } from './helpers/fleet.js';

const LAYERS = 6;
const GREEDY = { temperature: 0, seed: 1, generated: [] };

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet();
  await fleet.addNode(arithRunner(0, 2, LAYERS), 'first');
  await fleet.addNode(arithRunner(2, LAYERS, LAYERS), 'second');
});

afterAll(async () => {
  await fleet?.close();
});

function session(requestId: string) {
  const mesh = fleet.coordinator.mesh;
  const route = mesh.fleet.requireRoute('arith');
  return new PipelineSession(
    route.map((n) => ({ link: n.link, layerStart: n.shard.layer_start, layerEnd: n.shard.layer_end })),
    mesh.identity,
    requestId,
  );
}

/** Reads frames from a raw socket until it closes. */
function collect(socket: net.Socket): Promise<{ types: number[]; payloads: unknown[] }> {
  const conn = new FramedConnection(socket);
  const types: number[] = [];
  const payloads: unknown[] = [];
  conn.onFrame((f) => {
    types.push(f.type);
    try {
      payloads.push(parseJsonPayload(f));
    } catch {
      payloads.push(null);
    }
  });
  return new Promise((resolve) => conn.onClose(() => resolve({ types, payloads })));
}

describe('mesh data protocol over real sockets', () => {
  it('registers both nodes and builds a route in layer order', () => {
    const route = fleet.coordinator.mesh.fleet.requireRoute('arith');
    expect(route.map((n) => [n.shard.layer_start, n.shard.layer_end])).toEqual([
      [0, 2],
      [2, LAYERS],
    ]);
    expect(route.map((n) => n.node_id)).toEqual(fleet.nodes.map((n) => n.nodeId));
  });

  it('produces the same tokens through two nodes as one runner with every layer, prefill and decode', async () => {
    const whole = arithRunner(0, LAYERS, LAYERS);
    const s = session('req-same');
    await s.open(GREEDY);
    const prompt = Int32Array.from([3, 14, 15, 9, 26]);
    const viaMesh = [await s.forward(prompt, 0)];
    const alone = [
      argmax(
        (
          (await whole.forward('x', { tokens: prompt }, { position: 0, length: 5 })) as {
            logits: Float32Array;
          }
        ).logits,
      ),
    ];
    for (let i = 0; i < 6; i++) {
      viaMesh.push(await s.forward(Int32Array.of(viaMesh.at(-1)!), 5 + i));
      const out = await whole.forward(
        'x',
        { tokens: Int32Array.of(alone.at(-1)!) },
        { position: 5 + i, length: 1 },
      );
      alone.push(argmax((out as { logits: Float32Array }).logits));
    }
    expect(viaMesh).toEqual(alone);
    expect(new Set(viaMesh).size).toBeGreaterThan(1);
    const stages = await s.close();
    expect(stages.map((st) => st.statement.node_id)).toEqual(fleet.nodes.map((n) => n.nodeId));
    expect(stages.map((st) => st.statement.tokens)).toEqual([11, 11]);
    expect(stages[0]!.statement.output_digest).toBe(stages[1]!.statement.input_digest);
    for (const st of stages) {
      const check = await verifyStage(st, { nodes: { [st.statement.node_id]: st.statement.public_key } });
      expect(check.ok).toBe(true);
    }
  });

  it('keeps sessions independent when their steps interleave, with prefill fed in chunks', async () => {
    const a = session('req-a');
    const b = session('req-b');
    await Promise.all([a.open(GREEDY), b.open(GREEDY)]);
    await a.feed(Int32Array.of(1, 2), 0);
    const [ta, tb] = await Promise.all([a.forward(Int32Array.of(3), 2), b.forward(Int32Array.of(4, 5), 0)]);
    const whole = arithRunner(0, LAYERS, LAYERS);
    const ea = (
      (await whole.forward('a', { tokens: Int32Array.of(1, 2, 3) }, { position: 0, length: 3 })) as {
        logits: Float32Array;
      }
    ).logits;
    const eb = (
      (await whole.forward('b', { tokens: Int32Array.of(4, 5) }, { position: 0, length: 2 })) as {
        logits: Float32Array;
      }
    ).logits;
    expect([ta, tb]).toEqual([argmax(ea), argmax(eb)]);
    const [sa] = await Promise.all([a.close(), b.close()]);
    expect(sa[0]!.statement.tokens).toBe(3);
  });

  it('refuses a node with a bad join token', async () => {
    await expect(
      fleet.addNode(arithRunner(0, LAYERS, LAYERS), 'stranger', { joinToken: 'wrong-token' }),
    ).rejects.toBeInstanceOf(JoinRejected);
    expect(fleet.coordinator.mesh.fleet.nodes.size).toBe(2);
  });

  it('rejects a data connection whose ticket is not signed by the coordinator', async () => {
    const target = fleet.coordinator.mesh.fleet.requireRoute('arith')[1]!;
    const forger = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    const forgedTicket = issueTicket(
      { iss: 'coord-x', sub: 'intruder', sub_key: forger.x!, aud: target.node_id, exp: Date.now() + 60_000 },
      forger.d!,
    );
    await expect(
      openConnection(
        {
          host: target.host,
          port: target.port,
          nodeId: target.node_id,
          publicKey: target.public_key,
          modelId: 'arith',
          shardDigest: target.shard.digest,
        },
        { id: 'intruder', privateKey: forger.d!, ticket: forgedTicket },
      ),
    ).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('rejects activations sent without authenticating, and keeps serving', async () => {
    const target = fleet.coordinator.mesh.fleet.requireRoute('arith')[1]!;
    const socket = net.connect({ host: target.host, port: target.port });
    const done = collect(socket);
    await new Promise((r) => socket.once('connect', r));
    const hidden = new Float32Array(ARITH_HIDDEN);
    for (const part of encodeFrame(
      { type: FrameType.Forward, kind: PayloadKind.HiddenF32, count: 1 },
      hidden,
    ))
      socket.write(part);
    const { types, payloads } = await done;
    expect(types).toEqual([FrameType.Hello, FrameType.Reject]);
    expect(payloads[1]).toMatchObject({ code: 'unauthenticated' });
    expect(fleet.nodes[1]!.server.stats.rejectedConnections).toBeGreaterThan(0);
    const s = session('req-after-intruder');
    await s.open(GREEDY);
    expect(await s.forward(Int32Array.of(1), 0)).toBeGreaterThanOrEqual(0);
    await s.close();
  });

  it('rejects a malformed frame without crashing the node', async () => {
    const target = fleet.coordinator.mesh.fleet.requireRoute('arith')[0]!;
    // Garbage that claims a 1 GiB frame.
    const socket = net.connect({ host: target.host, port: target.port });
    const done = collect(socket);
    await new Promise((r) => socket.once('connect', r));
    socket.write(Buffer.from([0, 0, 0, 0x40, 1, 2, 3, 4, 5, 6, 7, 8]));
    const { types, payloads } = await done;
    expect(types.at(-1)).toBe(FrameType.Reject);
    expect(payloads.at(-1)).toMatchObject({ code: 'frame_too_large' });

    // An authenticated client sending a Forward whose payload does not match its header.
    const mesh = fleet.coordinator.mesh;
    const last = mesh.fleet.requireRoute('arith')[1]!;
    const ticket = issueTicket(
      {
        iss: mesh.identity.id,
        sub: mesh.identity.id,
        sub_key: mesh.identity.publicKey,
        aud: last.node_id,
        exp: Date.now() + 60_000,
      },
      mesh.identity.privateKey,
    );
    const conn = await openConnection(
      {
        host: last.host,
        port: last.port,
        nodeId: last.node_id,
        publicKey: last.public_key,
        modelId: 'arith',
        shardDigest: last.shard.digest,
      },
      { id: mesh.identity.id, privateKey: mesh.identity.privateKey, ticket },
    );
    const closed = new Promise<Error | undefined>((r) => conn.onClose(r));
    conn.onFrame(() => {});
    const s = Buffer.alloc(16, 7);
    conn.send(
      { type: FrameType.Open, kind: PayloadKind.Json, session: s },
      jsonPayload({ request_id: 'r', upstream: mesh.identity.id, next: null, sampling: GREEDY }),
    );
    conn.send(
      { type: FrameType.Forward, kind: PayloadKind.HiddenF32, session: s, count: 3 },
      new Float32Array(ARITH_HIDDEN),
    );
    expect((await closed)?.message).toMatch(/connection closed/);
    expect(fleet.nodes[1]!.server.stats.protocolErrors).toBe(1);

    const ok = session('req-after-malformed');
    await ok.open(GREEDY);
    expect(await ok.forward(Int32Array.of(2, 3), 0)).toBeGreaterThanOrEqual(0);
    await ok.close();
  });

  it('answers a repeated Close once and keeps serving', async () => {
    const mesh = fleet.coordinator.mesh;
    const last = mesh.fleet.requireRoute('arith')[1]!;
    const ticket = issueTicket(
      {
        iss: mesh.identity.id,
        sub: mesh.identity.id,
        sub_key: mesh.identity.publicKey,
        aud: last.node_id,
        exp: Date.now() + 60_000,
      },
      mesh.identity.privateKey,
    );
    const conn = await openConnection(
      {
        host: last.host,
        port: last.port,
        nodeId: last.node_id,
        publicKey: last.public_key,
        modelId: 'arith',
        shardDigest: last.shard.digest,
      },
      { id: mesh.identity.id, privateKey: mesh.identity.privateKey, ticket },
    );
    const types: number[] = [];
    conn.onFrame((f) => types.push(f.type));
    const s = Buffer.alloc(16, 9);
    conn.send(
      { type: FrameType.Open, kind: PayloadKind.Json, session: s },
      jsonPayload({ request_id: 'r2', upstream: mesh.identity.id, next: null, sampling: GREEDY }),
    );
    conn.send(
      { type: FrameType.Forward, kind: PayloadKind.HiddenF32, flags: 1, session: s, count: 1 },
      new Float32Array(ARITH_HIDDEN),
    );
    conn.send({ type: FrameType.Close, session: s });
    conn.send({ type: FrameType.Close, session: s });
    for (
      let i = 0;
      i < 100 && types.filter((t) => t === FrameType.Stage || t === FrameType.Error).length < 2;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(types).toEqual([FrameType.Opened, FrameType.Token, FrameType.Stage]);
    conn.close();
    const ok = session('req-after-double-close');
    await ok.open(GREEDY);
    expect(await ok.forward(Int32Array.of(5), 0)).toBeGreaterThanOrEqual(0);
    await ok.close();
  });

  it('refuses a handshake whose protocol version, model or shard digest does not match', async () => {
    const mesh = fleet.coordinator.mesh;
    const target = mesh.fleet.requireRoute('arith')[0]!;
    const ticket = issueTicket(
      {
        iss: mesh.identity.id,
        sub: mesh.identity.id,
        sub_key: mesh.identity.publicKey,
        aud: target.node_id,
        exp: Date.now() + 60_000,
      },
      mesh.identity.privateKey,
    );
    const attempt = async (auth: Record<string, unknown>) => {
      const socket = net.connect({ host: target.host, port: target.port });
      const conn = new FramedConnection(socket);
      const hello = parseJsonPayload(await conn.nextFrame(2000)) as { nonce: string; shard_digest: string };
      conn.sendJson(FrameType.Auth, {
        v: 1,
        client_id: mesh.identity.id,
        model_id: 'arith',
        shard_digest: hello.shard_digest,
        ticket,
        signature: signMessage(
          handshakeMessage('client', hello.nonce, target.node_id, mesh.identity.id),
          mesh.identity.privateKey,
        ),
        nonce: 'n',
        ...auth,
      });
      const reply = await conn.nextFrame(2000);
      conn.close();
      return { type: reply.type, body: parseJsonPayload(reply) };
    };
    expect(await attempt({})).toMatchObject({ type: FrameType.Ready });
    expect(await attempt({ v: 2 })).toMatchObject({
      type: FrameType.Reject,
      body: { code: 'version_mismatch' },
    });
    expect(await attempt({ model_id: 'other' })).toMatchObject({
      type: FrameType.Reject,
      body: { code: 'model_mismatch' },
    });
    expect(await attempt({ shard_digest: 'f'.repeat(64) })).toMatchObject({
      type: FrameType.Reject,
      body: { code: 'shard_mismatch' },
    });
    expect(await attempt({ signature: 'x' })).toMatchObject({
      type: FrameType.Reject,
      body: { code: 'unauthenticated' },
    });
    // And the client side refuses a node that serves another shard than the registry says.
    await expect(
      openConnection(
        {
          host: target.host,
          port: target.port,
          nodeId: target.node_id,
          publicKey: target.public_key,
          modelId: 'arith',
          shardDigest: 'e'.repeat(64),
        },
        { id: mesh.identity.id, privateKey: mesh.identity.privateKey, ticket },
      ),
    ).rejects.toMatchObject({ code: 'shard_mismatch' });
  });
});
