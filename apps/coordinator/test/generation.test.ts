/**
 * Generation through a real two-node pipeline of the engine's tiny model (in-process nodes, real
 * sockets, real ONNX shards): receipts, streaming, stop sequences, sampling, session limits.
 */
import { createCascadiaProvider } from '@cascadia/providers';
import { keyDirectoryFromPublished, verifyMeshReceipt } from '@cascadia/receipts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from './helpers/fleet.js';
import { ssePayloads } from './helpers/sse.js';
import { TINY_MODEL_ID, tinyShards } from './helpers/tiny.js';

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({ maxSessions: 2 });
  const { dirs } = await tinyShards(2, fleet.dir);
  for (const [i, dir] of dirs.entries()) await fleet.addNode(dir, `tiny-${i}`);
  for (let i = 0; i < 100 && !fleet.coordinator.mesh.tokenizers.ready(TINY_MODEL_ID); i++)
    await new Promise((r) => setTimeout(r, 20));
});

afterAll(async () => {
  await fleet?.close();
});

function chat(body: Record<string, unknown>) {
  return fleet.coordinator.app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    payload: { model: TINY_MODEL_ID, ...body },
  });
}

async function keys() {
  return keyDirectoryFromPublished((await fleet.coordinator.app.inject({ url: '/v1/cascadia/keys' })).json());
}

const messages = [{ role: 'user', content: 'What is the capital of France?' }];

interface ChatCompletionJson {
  choices: { message: { content: string }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  cascadia: {
    node_ids: string[];
    receipt: Record<string, unknown> & { node_ids: string[]; stages: { statement: { tokens: number } }[] };
  };
}

describe('generation through the two-node pipeline', () => {
  let greedy: ChatCompletionJson;

  it('answers a chat completion with node ids in pipeline order and a receipt that verifies', async () => {
    const body = { model: TINY_MODEL_ID, messages, temperature: 0, max_tokens: 12 };
    const res = await fleet.coordinator.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    greedy = res.json() as ChatCompletionJson;
    expect(greedy.usage.completion_tokens).toBeGreaterThan(0);
    expect(greedy.usage.total_tokens).toBe(greedy.usage.prompt_tokens + greedy.usage.completion_tokens);
    expect(greedy.cascadia.node_ids).toEqual(fleet.nodes.map((n) => n.nodeId));
    const { computeOutputDigest, computeRequestDigest } = await import('@cascadia/receipts');
    const check = await verifyMeshReceipt(greedy.cascadia.receipt, {
      keys: await keys(),
      requestDigest: computeRequestDigest(body),
      outputDigest: computeOutputDigest(greedy.choices[0]!.message.content),
    });
    expect(check).toMatchObject({ ok: true });
    // Each stage processed the prompt plus every generated token except the last one sampled.
    const positions =
      greedy.usage.prompt_tokens +
      greedy.usage.completion_tokens -
      (greedy.choices[0]!.finish_reason === 'length' ? 1 : 0);
    expect(greedy.cascadia.receipt.stages.map((s) => s.statement.tokens)).toEqual([positions, positions]);
  });

  it('streams the same greedy text, then usage and the cascadia block in the final chunk', async () => {
    const res = await chat({
      messages,
      temperature: 0,
      max_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.headers['content-type']).toMatch(/text\/event-stream/);
    const events = ssePayloads(res.body);
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.filter((e): e is Record<string, unknown> => e !== '[DONE]');
    const text = chunks
      .flatMap((c) => (c.choices as { delta: { content?: string } }[]).map((ch) => ch.delta.content ?? ''))
      .join('');
    expect(text).toBe(greedy.choices[0]!.message.content);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(greedy.usage);
    const cascadia = last.cascadia as ChatCompletionJson['cascadia'];
    expect(cascadia.node_ids).toEqual(greedy.cascadia.node_ids);
    expect((await verifyMeshReceipt(cascadia.receipt, { keys: await keys() })).ok).toBe(true);
    expect(chunks.filter((c) => 'cascadia' in c)).toHaveLength(1);
  });

  it('puts the cascadia block in the finishing chunk when usage is not requested', async () => {
    const events = ssePayloads((await chat({ messages, temperature: 0, max_tokens: 4, stream: true })).body);
    const chunks = events.filter((e): e is Record<string, unknown> => e !== '[DONE]');
    const last = chunks.at(-1)!;
    expect((last.choices as { finish_reason: string }[])[0]!.finish_reason).toBe('length');
    expect(last.cascadia).toBeDefined();
    expect(last.usage).toBeUndefined();
  });

  it('cuts the output at a stop sequence', async () => {
    const full = greedy.choices[0]!.message.content;
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
    expect(stop.length).toBe(2);
    const res = (
      await chat({ messages, temperature: 0, max_tokens: 12, stop: [stop] })
    ).json() as ChatCompletionJson;
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.choices[0]!.message.content).toBe(full.slice(0, full.indexOf(stop)));
  });

  it('streams text cut at a stop sequence, never any of the stop itself', async () => {
    const full = greedy.choices[0]!.message.content;
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
    const events = ssePayloads(
      (await chat({ messages, temperature: 0, max_tokens: 12, stop: [stop], stream: true })).body,
    );
    const chunks = events.filter((e): e is Record<string, unknown> => e !== '[DONE]');
    const text = chunks
      .flatMap((c) => (c.choices as { delta: { content?: string } }[]).map((ch) => ch.delta.content ?? ''))
      .join('');
    expect(text).toBe(full.slice(0, full.indexOf(stop)));
    const finish = chunks.flatMap((c) =>
      (c.choices as { finish_reason: string | null }[]).map((ch) => ch.finish_reason),
    );
    expect(finish.filter(Boolean)).toEqual(['stop']);
  });

  it('serves /v1/completions without the chat template', async () => {
    const res = await fleet.coordinator.app.inject({
      method: 'POST',
      url: '/v1/completions',
      payload: { model: TINY_MODEL_ID, prompt: 'The quick brown fox', temperature: 0, max_tokens: 5 },
    });
    const body = res.json() as {
      object: string;
      choices: { text: string }[];
      usage: { prompt_tokens: number };
      cascadia: unknown;
    };
    expect(body.object).toBe('text_completion');
    expect(body.usage.prompt_tokens).toBeLessThan(greedy.usage.prompt_tokens);
    expect(body.cascadia).toBeDefined();
  });

  it('keeps concurrent sessions independent and refuses sessions beyond the limit', async () => {
    const prompts = ['Hello! How can I help you today?', 'function add(a, b) { return a + b; }'];
    const alone = [];
    for (const p of prompts)
      alone.push(
        (
          (
            await chat({ messages: [{ role: 'user', content: p }], temperature: 0, max_tokens: 10 })
          ).json() as ChatCompletionJson
        ).choices[0]!.message.content,
      );
    const together = await Promise.all(
      [...prompts, prompts[0]!].map((p) =>
        chat({ messages: [{ role: 'user', content: p }], temperature: 0, max_tokens: 10 }),
      ),
    );
    const ok = together
      .filter((r) => r.statusCode === 200)
      .map((r) => (r.json() as ChatCompletionJson).choices[0]!.message.content);
    const refused = together.filter((r) => r.statusCode === 429);
    expect(refused).toHaveLength(1);
    expect((refused[0]!.json() as { error: { code: string } }).error.code).toBe('too_many_sessions');
    expect(ok.slice(0, 2)).toEqual(alone);
  });

  it('is reachable through the any-llm-style cascadia provider, keyless, with the model id as sent', async () => {
    const provider = createCascadiaProvider({ baseURL: `${fleet.coordinator.url}/v1`, env: {} });
    const body = { model: TINY_MODEL_ID, messages, temperature: 0, max_tokens: 12 };
    const res = await provider.chatCompletions(body, {});
    expect(res.status).toBe(200);
    const json = (await res.json()) as ChatCompletionJson;
    expect(json.choices[0]!.message.content).toBe(greedy.choices[0]!.message.content);
    expect(json.cascadia.node_ids).toEqual(fleet.nodes.map((n) => n.nodeId));
    const models = (await (await provider.models({})).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual([TINY_MODEL_ID]);
  });

  it('frees the session on every node when a streaming client disconnects', async () => {
    const controller = new AbortController();
    const res = await fetch(`${fleet.coordinator.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: TINY_MODEL_ID, messages, temperature: 0, max_tokens: 400, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    expect(fleet.coordinator.mesh.active).toBe(1);
    controller.abort();
    for (
      let i = 0;
      i < 100 && (fleet.coordinator.mesh.active > 0 || fleet.nodes.some((n) => n.server.activeSessions > 0));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(fleet.coordinator.mesh.active).toBe(0);
    expect(fleet.nodes.map((n) => n.server.activeSessions)).toEqual([0, 0]);
  });

  it('rejects a tampered receipt with a reason', async () => {
    const directory = await keys();
    const receipt = structuredClone(greedy.cascadia.receipt) as unknown as {
      usage: { completion_tokens: number };
      node_ids: string[];
    };
    receipt.usage.completion_tokens += 1;
    expect(await verifyMeshReceipt(receipt, { keys: directory })).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    const reordered = structuredClone(greedy.cascadia.receipt) as { node_ids: string[] };
    reordered.node_ids.reverse();
    expect((await verifyMeshReceipt(reordered, { keys: directory })).ok).toBe(false);
    const wrongOutput = await verifyMeshReceipt(greedy.cascadia.receipt, {
      keys: directory,
      outputDigest: '0'.repeat(64),
    });
    expect(wrongOutput).toMatchObject({ ok: false, reason: 'digest_mismatch' });
  });
});
