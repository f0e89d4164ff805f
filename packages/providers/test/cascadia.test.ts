import { type FakeUpstream, readAll, startUpstream, writeRaw } from '@cascadia/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CASCADIA_DEFAULT_BASE_URL,
  createCascadiaProvider,
  createOpenAIProvider,
  type FetchFunction,
} from '../src/index.js';

let upstream: FakeUpstream;
beforeAll(async () => {
  upstream = await startUpstream();
});
afterAll(async () => {
  await upstream.close();
});
afterEach(() => {
  upstream.requests.length = 0;
});

/** Records the URL and headers a provider would request, without a network. */
function recordingFetch(): { fetch: FetchFunction; calls: { url: string; headers: Headers }[] } {
  const calls: { url: string; headers: Headers }[] = [];
  return {
    calls,
    fetch: async (input, init) => {
      calls.push({ url: String(input), headers: new Headers(init?.headers) });
      return new Response('{}', { status: 200 });
    },
  };
}

describe('cascadia provider', () => {
  it('defaults to http://localhost:9090/v1 and keyless', async () => {
    const recorder = recordingFetch();
    await createCascadiaProvider({ env: {}, fetch: recorder.fetch }).chatCompletions({ model: 'x' });
    expect(CASCADIA_DEFAULT_BASE_URL).toBe('http://localhost:9090/v1');
    expect(recorder.calls[0]?.url).toBe('http://localhost:9090/v1/chat/completions');
    expect(recorder.calls[0]?.headers.has('authorization')).toBe(false);
  });

  it('reads CASCADIA_API_BASE and CASCADIA_API_KEY', async () => {
    const provider = createCascadiaProvider({
      env: { CASCADIA_API_BASE: upstream.baseURL, CASCADIA_API_KEY: 'mesh-key' },
    });
    upstream.handle((_req, res) => writeRaw(res, 200, '{"object":"list","data":[]}'));
    const response = await provider.models();
    expect(await response.json()).toEqual({ object: 'list', data: [] });
    expect(upstream.requests[0]?.url).toBe('/v1/models');
    expect(upstream.requests[0]?.headers.authorization).toBe('Bearer mesh-key');
    expect(provider.name).toBe('cascadia');
  });

  it('lets explicit settings win over the environment, and an explicit null key make it keyless', async () => {
    const recorder = recordingFetch();
    await createCascadiaProvider({
      baseURL: 'http://10.0.0.5:9090/v1',
      apiKey: null,
      env: { CASCADIA_API_BASE: 'http://ignored:1/v1', CASCADIA_API_KEY: 'ignored' },
      fetch: recorder.fetch,
    }).completions({ model: 'x', prompt: 'p' });
    expect(recorder.calls[0]?.url).toBe('http://10.0.0.5:9090/v1/completions');
    expect(recorder.calls[0]?.headers.has('authorization')).toBe(false);
  });

  it('passes a streamed mesh response with its cascadia block through unchanged', async () => {
    const sse =
      'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n' +
      'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"cascadia":{"node_ids":["node-a","node-b"],"receipt":{"v":1,"kind":"mesh","signature":"s"}}}\n\n' +
      'data: [DONE]\n\n';
    upstream.handle((_req, res) => writeRaw(res, 200, sse, { 'content-type': 'text/event-stream' }));
    const provider = createCascadiaProvider({ env: { CASCADIA_API_BASE: upstream.baseURL } });
    const response = await provider.chatCompletions(
      { model: 'cascadia:smollm2-135m-instruct', stream: true, messages: [] },
      { model: 'smollm2-135m-instruct' },
    );
    expect(new TextDecoder().decode(await readAll(response))).toBe(sse);
    expect(JSON.parse(upstream.requests[0]?.rawBody ?? '')).toEqual({
      model: 'smollm2-135m-instruct',
      stream: true,
      messages: [],
    });
  });
});

describe('openai provider', () => {
  it('reads OPENAI_API_BASE and OPENAI_API_KEY, defaulting to api.openai.com', async () => {
    const recorder = recordingFetch();
    await createOpenAIProvider({ env: { OPENAI_API_KEY: 'sk-1' }, fetch: recorder.fetch }).models();
    await createOpenAIProvider({
      env: { OPENAI_API_BASE: 'http://127.0.0.1:1/v1', OPENAI_API_KEY: 'sk-2' },
      fetch: recorder.fetch,
    }).models();
    expect(recorder.calls.map((c) => c.url)).toEqual([
      'https://api.openai.com/v1/models',
      'http://127.0.0.1:1/v1/models',
    ]);
    expect(recorder.calls.map((c) => c.headers.get('authorization'))).toEqual(['Bearer sk-1', 'Bearer sk-2']);
  });
});
