/**
 * End to end with real processes over real sockets: SmolLM2-135M split across two `cascadia node`
 * processes behind a `cascadia coordinator` process, driven through @cascadia/openai, compared with
 * the same model served by one node alone; then faults (a node killed mid-stream with and without a
 * replacement, a restarted node rejoining, a malformed frame against a live node).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type ChatCompletionChunk, createClient } from '@cascadia/openai';
import {
  computeOutputDigest,
  computeRequestDigest,
  keyDirectoryFromPublished,
  verifyMeshReceipt,
} from '@cascadia/receipts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_ID, ensureShards } from '../src/cli/local-command.js';
import { findDefaultModel } from './helpers/default-model.js';
import {
  type MeshProcess,
  startCoordinatorProcess,
  startNodeProcess,
  startProcess,
  waitServable,
} from './helpers/processes.js';

const model = await findDefaultModel();
if (model.path === null) console.warn(`e2e-smollm2: not running: ${model.reason}`);

const TOKEN = 'e2e-join-token-abcdefghijklmnop';
const processes: MeshProcess[] = [];
let dir: string;
let pipelineUrl: string;
let singleUrl: string;
let shards2: string[];
const nodeIds: string[] = [];
/** node id → its process and key file, for the fault tests */
const byNodeId = new Map<string, { proc: MeshProcess; keyFile: string }>();

async function publishedKeys(url: string) {
  return keyDirectoryFromPublished(await (await fetch(`${url}/v1/cascadia/keys`)).json());
}

describe.skipIf(!model.path)('SmolLM2-135M across two node processes', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cascadia-e2e-'));
    const [one, two] = [await ensureShards(model.path!, 1), await ensureShards(model.path!, 2)];
    shards2 = two;
    const [pipeline, single] = await Promise.all([
      startCoordinatorProcess(path.join(dir, 'coord-pipeline'), TOKEN, ['--step-timeout-ms', '20000']),
      startCoordinatorProcess(path.join(dir, 'coord-single'), TOKEN),
    ]);
    processes.push(pipeline.proc, single.proc);
    pipelineUrl = pipeline.url;
    singleUrl = single.url;
    const nodes = await Promise.all([
      startNodeProcess(pipelineUrl, two[0]!, path.join(dir, 'a.key'), TOKEN),
      startNodeProcess(pipelineUrl, two[1]!, path.join(dir, 'b.key'), TOKEN),
      startNodeProcess(singleUrl, one[0]!, path.join(dir, 'c.key'), TOKEN),
    ]);
    for (const n of nodes) processes.push(n.proc);
    nodeIds.push(nodes[0]!.nodeId, nodes[1]!.nodeId);
    byNodeId.set(nodes[1]!.nodeId, { proc: nodes[1]!.proc, keyFile: path.join(dir, 'b.key') });
    await Promise.all([
      waitServable(pipelineUrl, DEFAULT_MODEL_ID, 2),
      waitServable(singleUrl, DEFAULT_MODEL_ID, 1),
    ]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGTERM')));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const request = {
    model: DEFAULT_MODEL_ID,
    messages: [{ role: 'user' as const, content: 'What is the capital of France? Answer in one sentence.' }],
    temperature: 0,
    max_tokens: 24,
  };
  let pipelineText = '';
  let victimId = '';

  it('answers through the OpenAI client with node ids in order and a verifiable receipt', async () => {
    const client = createClient({ baseURL: `${pipelineUrl}/v1` });
    const models = await client.models();
    expect(models.data.map((m) => m.id)).toEqual([DEFAULT_MODEL_ID]);
    const res = await client.chat.create(request);
    pipelineText = res.choices[0]!.message.content ?? '';
    expect(pipelineText).toMatch(/Paris/);
    expect(res.cascadia?.node_ids).toEqual(nodeIds);
    const check = await verifyMeshReceipt(res.cascadia?.receipt, {
      keys: await publishedKeys(pipelineUrl),
      requestDigest: computeRequestDigest(request),
      outputDigest: computeOutputDigest(pipelineText),
    });
    expect(check).toMatchObject({ ok: true });
  });

  it('refuses a node process with a bad join token, and a tampered receipt', async () => {
    const stranger = startProcess(
      [
        'node',
        '--coordinator',
        pipelineUrl,
        '--shard',
        shards2[0]!,
        '--port',
        '0',
        '--key-file',
        path.join(dir, 'stranger.key'),
      ],
      { CASCADIA_JOIN_TOKEN: 'not-the-fleet-token' },
    );
    processes.push(stranger);
    expect(await stranger.exited).toBe(1);
    expect(stranger.lines.join('\n')).toMatch(/refused the join: join proof does not match/);
    const health = (await (await fetch(`${pipelineUrl}/health`)).json()) as { nodes: number };
    expect(health.nodes).toBe(2);

    const res = await createClient({ baseURL: `${pipelineUrl}/v1` }).chat.create({
      ...request,
      max_tokens: 6,
    });
    const keys = await publishedKeys(pipelineUrl);
    const tampered = structuredClone(res.cascadia!.receipt) as unknown as {
      stages: { statement: { node_id: string } }[];
    };
    tampered.stages.reverse();
    const check = await verifyMeshReceipt(tampered, { keys });
    expect(check.ok).toBe(false);
    expect(
      await verifyMeshReceipt(res.cascadia!.receipt, {
        keys,
        outputDigest: computeOutputDigest(`${res.choices[0]!.message.content}!`),
      }),
    ).toMatchObject({
      ok: false,
      reason: 'digest_mismatch',
    });
  });

  it('gives the same greedy output as one node holding every layer', async () => {
    const alone = await createClient({ baseURL: `${singleUrl}/v1` }).chat.create(request);
    expect(alone.cascadia?.node_ids).toHaveLength(1);
    expect(alone.choices[0]!.message.content).toBe(pipelineText);
  });

  it('streams the same text with usage and the receipt in the final chunk', async () => {
    const client = createClient({ baseURL: `${pipelineUrl}/v1` });
    let text = '';
    const chunks = [];
    for await (const chunk of client.stream({ ...request, stream_options: { include_usage: true } })) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe(pipelineText);
    const last = chunks.at(-1)!;
    expect(last.usage?.completion_tokens).toBeGreaterThan(0);
    expect(last.cascadia?.node_ids).toEqual(nodeIds);
    const check = await verifyMeshReceipt(last.cascadia?.receipt, {
      keys: await publishedKeys(pipelineUrl),
      outputDigest: computeOutputDigest(text),
    });
    expect(check).toMatchObject({ ok: true });
  });

  it('samples with temperature, top_p, top_k and penalties: same seed same text, other seeds differ', async () => {
    const client = createClient({ baseURL: `${pipelineUrl}/v1` });
    const sampled = async (seed: number) =>
      (
        await client.chat.create({
          ...request,
          messages: [{ role: 'user', content: 'Write a short poem about the sea.' }],
          temperature: 1,
          top_p: 0.95,
          top_k: 50,
          presence_penalty: 0.3,
          frequency_penalty: 0.2,
          max_tokens: 20,
          seed,
        } as typeof request)
      ).choices[0]!.message.content;
    const first = await sampled(11);
    expect(await sampled(11)).toBe(first);
    const others = [await sampled(12), await sampled(13)];
    expect(others.some((o) => o !== first)).toBe(true);
  });

  it('serves concurrent sessions with independent outputs', async () => {
    const client = createClient({ baseURL: `${pipelineUrl}/v1` });
    const prompts = ['Name three colors.', 'What is 2 + 2?', 'Say hello in French.'];
    const ask = (content: string) =>
      client.chat.create({ ...request, messages: [{ role: 'user', content }], max_tokens: 16 });
    const sequential = [];
    for (const p of prompts) sequential.push((await ask(p)).choices[0]!.message.content);
    const concurrent = await Promise.all([...prompts, request.messages[0]!.content].map(ask));
    expect(concurrent.slice(0, 3).map((r) => r.choices[0]!.message.content)).toEqual(sequential);
    expect(pipelineText.startsWith(concurrent[3]!.choices[0]!.message.content ?? '-')).toBe(true);
  });

  it('refuses a malformed frame on a live node and keeps serving', async () => {
    const nodes = (await (await fetch(`${pipelineUrl}/v1/cascadia/nodes`)).json()) as {
      nodes: { address: string }[];
    };
    const [host, port] = nodes.nodes[0]!.address.split(':');
    const reply = await new Promise<Buffer>((resolve) => {
      const socket = net.connect({ host: host!, port: Number(port) });
      const parts: Buffer[] = [];
      socket.on('data', (d) => parts.push(d));
      socket.on('close', () => resolve(Buffer.concat(parts)));
      socket.on('connect', () => socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')));
    });
    expect(reply.toString('latin1')).toMatch(
      /"code":"(frame_too_large|bad_header|unknown_type|unauthenticated)"/,
    );
    const res = await createClient({ baseURL: `${pipelineUrl}/v1` }).chat.create({
      ...request,
      max_tokens: 4,
    });
    expect(res.cascadia?.node_ids).toEqual(nodeIds);
  });

  it('finishes a stream on a replacement when a node is killed mid-stream, then fails fast without one', async () => {
    // A spare node with the same layers as the second stage.
    const spare = await startNodeProcess(pipelineUrl, shards2[1]!, path.join(dir, 'spare.key'), TOKEN);
    processes.push(spare.proc);
    byNodeId.set(spare.nodeId, { proc: spare.proc, keyFile: path.join(dir, 'spare.key') });
    await waitServable(pipelineUrl, DEFAULT_MODEL_ID, 3);
    // Kill whichever second-stage node the coordinator routes through; the other one takes over.
    const fleet = (await (await fetch(`${pipelineUrl}/v1/cascadia/nodes`)).json()) as {
      placement: { route: { node_id: string }[] }[];
    };
    victimId = fleet.placement[0]!.route[1]!.node_id;
    const survivorId = victimId === spare.nodeId ? nodeIds[1]! : spare.nodeId;
    const victim = byNodeId.get(victimId)!.proc;
    const client = createClient({ baseURL: `${pipelineUrl}/v1` });
    let text = '';
    let killed = false;
    let last: ChatCompletionChunk | undefined;
    for await (const chunk of client.stream({ ...request, stream_options: { include_usage: true } })) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (!killed && text.length > 0) {
        killed = true;
        await victim.kill('SIGKILL');
      }
      last = chunk;
    }
    expect(killed).toBe(true);
    expect(text).toBe(pipelineText);
    expect(last?.cascadia?.node_ids).toEqual([nodeIds[0], survivorId]);
    expect(
      (await verifyMeshReceipt(last?.cascadia?.receipt, { keys: await publishedKeys(pipelineUrl) })).ok,
    ).toBe(true);

    // Now kill the spare too: no node holds those layers, the stream must end with an error, quickly.
    const started = Date.now();
    let error: unknown = null;
    let killedSpare = false;
    try {
      for await (const chunk of client.stream({ ...request, max_tokens: 200 })) {
        if (!killedSpare && (chunk.choices[0]?.delta.content ?? '').length > 0) {
          killedSpare = true;
          await byNodeId.get(survivorId)!.proc.kill('SIGKILL');
        }
      }
    } catch (e) {
      error = e;
    }
    expect(killedSpare).toBe(true);
    expect(String(error)).toMatch(/generation failed|no other node/);
    expect(Date.now() - started).toBeLessThan(15_000);
    const unavailable = await fetch(`${pipelineUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    expect(unavailable.status).toBe(503);
    expect(((await unavailable.json()) as { error: { code: string } }).error.code).toBe('model_unavailable');
  }, 120_000);

  it('lets a restarted node rejoin with the same identity', async () => {
    const again = await startNodeProcess(pipelineUrl, shards2[1]!, byNodeId.get(victimId)!.keyFile, TOKEN);
    processes.push(again.proc);
    expect(again.nodeId).toBe(victimId);
    await waitServable(pipelineUrl, DEFAULT_MODEL_ID, 3);
    const res = await createClient({ baseURL: `${pipelineUrl}/v1` }).chat.create(request);
    expect(res.cascadia?.node_ids).toEqual([nodeIds[0], victimId]);
    expect(res.choices[0]!.message.content).toBe(pipelineText);
  }, 60_000);
});

describe.skipIf(!model.path)('cascadia local', () => {
  it('runs the default model over two node processes, prints ready, and stops every child on SIGTERM', async () => {
    const data = await mkdtemp(path.join(os.tmpdir(), 'cascadia-local-'));
    const local = startProcess(['local', '--port', '0', '--node-port', '0', '--data', data], {
      ...(model.path ? { SMOLLM2_GGUF: model.path } : {}),
    });
    try {
      const ready = await local.waitFor(/^ready (http:\/\/127\.0\.0\.1:\d+\/v1)$/, 120_000);
      const client = createClient({ baseURL: ready[1]! });
      const res = await client.chat.create({
        model: DEFAULT_MODEL_ID,
        messages: [{ role: 'user', content: 'Say hi.' }],
        temperature: 0,
        max_tokens: 8,
      });
      expect(res.cascadia?.node_ids).toHaveLength(2);
      expect(await local.kill('SIGTERM')).toBe(0);
      await expect(fetch(ready[1]!.replace(/\/v1$/, '/health'))).rejects.toThrow();
    } finally {
      await local.kill('SIGKILL');
      await rm(data, { recursive: true, force: true });
    }
  }, 180_000);
});
