/**
 * The HTTP surface with real nodes serving the engine's tiny model: validation and OpenAI-shaped
 * errors, limits, API key, models, fleet and key endpoints, metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from './helpers/fleet.js';
import { TINY_MODEL_ID, tinyShards } from './helpers/tiny.js';

const API_KEY = 'sk-test-coordinator-key';
let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({ apiKey: API_KEY, bodyLimit: 64 * 1024, maxPromptTokens: 200 });
  const { dirs } = await tinyShards(2, fleet.dir);
  for (const [i, dir] of dirs.entries()) await fleet.addNode(dir, `tiny-${i}`);
  // The first node uploads the tokenizer right after joining.
  for (let i = 0; i < 100 && !fleet.coordinator.mesh.tokenizers.ready(TINY_MODEL_ID); i++)
    await new Promise((r) => setTimeout(r, 20));
});

afterAll(async () => {
  await fleet?.close();
});

const auth = { authorization: `Bearer ${API_KEY}` };

function post(url: string, body: unknown, headers: Record<string, string> = auth) {
  return fleet.coordinator.app.inject({
    method: 'POST',
    url,
    headers: { ...headers, 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
}

function expectOpenAIError(
  res: { statusCode: number; json(): unknown },
  status: number,
  code: string | null,
) {
  expect(res.statusCode).toBe(status);
  const body = res.json() as { error: { message: string; type: string; param: unknown; code: unknown } };
  expect(typeof body.error.message).toBe('string');
  expect(typeof body.error.type).toBe('string');
  expect('param' in body.error).toBe(true);
  expect(body.error.code).toBe(code);
  return body.error;
}

describe('coordinator HTTP API', () => {
  it('lists the servable model and reports health', async () => {
    const models = await fleet.coordinator.app.inject({ url: '/v1/models', headers: auth });
    expect(models.json()).toMatchObject({ object: 'list', data: [{ id: TINY_MODEL_ID, object: 'model' }] });
    const health = await fleet.coordinator.app.inject({ url: '/health' });
    expect(health.json()).toMatchObject({ status: 'ok', models: [TINY_MODEL_ID], nodes: 2 });
  });

  it('requires the API key when one is configured, and keeps health and keys public', async () => {
    expectOpenAIError(await fleet.coordinator.app.inject({ url: '/v1/models' }), 401, 'invalid_api_key');
    expectOpenAIError(
      await post('/v1/chat/completions', {}, { authorization: 'Bearer wrong' }),
      401,
      'invalid_api_key',
    );
    expectOpenAIError(
      await fleet.coordinator.app.inject({ url: '/v1/cascadia/nodes' }),
      401,
      'invalid_api_key',
    );
    expect((await fleet.coordinator.app.inject({ url: '/v1/cascadia/keys' })).statusCode).toBe(200);
  });

  it('validates request bodies with OpenAI-shaped errors', async () => {
    const missing = expectOpenAIError(
      await post('/v1/chat/completions', { model: TINY_MODEL_ID }),
      400,
      null,
    );
    expect(missing.param).toBe('messages');
    const temp = expectOpenAIError(
      await post('/v1/chat/completions', {
        model: TINY_MODEL_ID,
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 3,
      }),
      400,
      null,
    );
    expect(temp.param).toBe('temperature');
    expectOpenAIError(
      await post('/v1/chat/completions', {
        model: TINY_MODEL_ID,
        messages: [{ role: 'user', content: 'hi' }],
        n: 2,
      }),
      400,
      null,
    );
    expectOpenAIError(
      await post('/v1/chat/completions', {
        model: 'no-such-model',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      404,
      'model_not_found',
    );
    const bad = await fleet.coordinator.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"model":',
    });
    expectOpenAIError(bad, 400, 'FST_ERR_CTP_INVALID_JSON_BODY');
    expectOpenAIError(
      await fleet.coordinator.app.inject({ url: '/v1/nothing', headers: auth }),
      404,
      'not_found',
    );
  });

  it('limits body size and prompt length with clear errors', async () => {
    const huge = 'x'.repeat(70 * 1024);
    expectOpenAIError(
      await post('/v1/chat/completions', {
        model: TINY_MODEL_ID,
        messages: [{ role: 'user', content: huge }],
      }),
      413,
      'request_too_large',
    );
    const long = 'the quick brown fox '.repeat(100);
    const err = expectOpenAIError(
      await post('/v1/chat/completions', {
        model: TINY_MODEL_ID,
        messages: [{ role: 'user', content: long }],
      }),
      400,
      'context_length_exceeded',
    );
    expect(err.message).toMatch(/at most 200/);
    expectOpenAIError(
      await post('/v1/completions', { model: TINY_MODEL_ID, prompt: 'hello', max_tokens: 100_000 }),
      400,
      'context_length_exceeded',
    );
  });

  it('shows nodes, devices, memory, shards, health and placement in the fleet endpoint', async () => {
    const res = await fleet.coordinator.app.inject({ url: '/v1/cascadia/nodes', headers: auth });
    const body = res.json() as {
      coordinator: { id: string; public_key: string };
      nodes: {
        node_id: string;
        public_key: string;
        health: string;
        device: string;
        memory: { total_bytes: number };
        shard: { layer_start: number; layer_end: number };
      }[];
      placement: {
        model_id: string;
        servable: boolean;
        route: { node_id: string }[];
        memory_weighted_plan: { layer_start: number; layer_end: number }[];
      }[];
    };
    expect(body.coordinator.id).toBe(fleet.coordinator.mesh.identity.id);
    expect(body.nodes.map((n) => n.node_id).sort()).toEqual(fleet.nodes.map((n) => n.nodeId).sort());
    for (const n of body.nodes) {
      expect(n.health).toBe('healthy');
      expect(n.device).toBe('cpu');
      expect(n.memory.total_bytes).toBeGreaterThan(0);
    }
    const placement = body.placement[0]!;
    expect(placement).toMatchObject({ model_id: TINY_MODEL_ID, servable: true });
    expect(placement.route.map((r) => r.node_id)).toEqual(fleet.nodes.map((n) => n.nodeId));
    expect(placement.memory_weighted_plan.at(-1)?.layer_end).toBe(4);

    const keys = (await fleet.coordinator.app.inject({ url: '/v1/cascadia/keys' })).json() as {
      coordinator: { id: string; public_key: string };
      nodes: { node_id: string; public_key: string }[];
    };
    expect(keys.coordinator.public_key).toBe(fleet.coordinator.mesh.identity.publicKey);
    expect(keys.nodes).toEqual(
      expect.arrayContaining(fleet.nodes.map((n) => ({ node_id: n.nodeId, public_key: n.publicKey }))),
    );
  });

  it('exposes Prometheus metrics', async () => {
    const res = await fleet.coordinator.app.inject({ url: '/metrics' });
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toMatch(/cascadia_nodes\{health="healthy"\} 2/);
    expect(res.body).toMatch(/cascadia_requests_total\{endpoint="chat_completions",status="400"\}/);
    expect(res.body).toMatch(/cascadia_node_joins_total\{outcome="accepted"\} 2/);
  });
});
