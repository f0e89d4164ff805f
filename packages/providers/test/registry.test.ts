import { type FakeUpstream, readAll, startUpstream, writeRaw } from '@cascadia/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createCascadiaProvider,
  createOpenAICompatibleProvider,
  createProviderRegistry,
  InvalidModelStringError,
  ProviderConfigError,
  UnknownModelError,
  UpstreamUnavailableError,
} from '../src/index.js';

let mesh: FakeUpstream;
let partner: FakeUpstream;

beforeAll(async () => {
  mesh = await startUpstream();
  partner = await startUpstream();
  for (const upstream of [mesh, partner]) upstream.handle((_req, res) => writeRaw(res, 200, '{"ok":true}'));
});
afterAll(async () => {
  await mesh.close();
  await partner.close();
});
afterEach(() => {
  mesh.requests.length = 0;
  partner.requests.length = 0;
});

const messages = [{ role: 'user', content: 'hi' }];

function registry(routes: Parameters<typeof createProviderRegistry>[0] = {}) {
  return createProviderRegistry({
    providers: [createCascadiaProvider({ env: { CASCADIA_API_BASE: mesh.baseURL } })],
    ...routes,
  });
}

async function send(model: string, reg = registry()) {
  const resolved = reg.resolve(model);
  await readAll(await resolved.provider.chatCompletions({ model, messages }));
  return resolved;
}

describe('resolve by parsing', () => {
  it.each([
    ['cascadia:smollm2-135m-instruct', ':'],
    ['cascadia/smollm2-135m-instruct', '/'],
  ] as const)('routes %s to the mesh with the bare model id', async (model, separator) => {
    const resolved = await send(model);
    expect(resolved).toMatchObject({
      providerName: 'cascadia',
      upstreamModel: 'smollm2-135m-instruct',
      requested: model,
      via: { kind: 'parsed', separator },
    });
    expect(JSON.parse(mesh.requests[0]?.rawBody ?? '')).toEqual({ model: 'smollm2-135m-instruct', messages });
  });

  it('keeps everything after the first separator as the upstream model', async () => {
    await send('cascadia:org/model:q4');
    expect(JSON.parse(mesh.requests[0]?.rawBody ?? '').model).toBe('org/model:q4');
  });

  it('throws UnknownModelError for an unregistered provider', () => {
    let caught: unknown;
    try {
      registry().resolve('anthropic:claude');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnknownModelError);
    expect(caught).not.toBeInstanceOf(InvalidModelStringError);
    expect((caught as UnknownModelError).code).toBe('unknown_model');
    expect((caught as Error).message).toContain("no provider 'anthropic'");
    expect((caught as UnknownModelError).httpStatus).toBe(404);
    expect((caught as UnknownModelError).toErrorBody()).toEqual({
      error: {
        message: (caught as Error).message,
        type: 'invalid_request_error',
        param: 'model',
        code: 'unknown_model',
      },
    });
  });

  it('throws InvalidModelStringError for a bare name that no alias matches', () => {
    expect(() => registry().resolve('smollm2-135m-instruct')).toThrow(InvalidModelStringError);
    expect(() => registry().resolve('cascadia:')).toThrow(InvalidModelStringError);
    try {
      registry().resolve('smollm2-135m-instruct');
    } catch (error) {
      expect((error as InvalidModelStringError).httpStatus).toBe(400);
      expect((error as InvalidModelStringError).toErrorBody().error.code).toBe('invalid_model_string');
    }
  });

  it('uses cascadia and openai from the environment by default', () => {
    const reg = createProviderRegistry({ env: { CASCADIA_API_BASE: mesh.baseURL } });
    expect(reg.providerNames().sort()).toEqual(['cascadia', 'openai']);
    expect(reg.resolve('openai/gpt-4o-mini')).toMatchObject({
      providerName: 'openai',
      upstreamModel: 'gpt-4o-mini',
    });
  });

  it('lets a later provider replace an earlier one of the same name', async () => {
    const reg = createProviderRegistry({
      providers: [
        createCascadiaProvider({ env: { CASCADIA_API_BASE: mesh.baseURL } }),
        createOpenAICompatibleProvider({ name: 'cascadia', baseURL: partner.baseURL }),
      ],
    });
    await send('cascadia:m', reg);
    expect(mesh.requests).toHaveLength(0);
    expect(partner.requests).toHaveLength(1);
  });
});

describe('resolve config-only routes', () => {
  const route = {
    model: 'cascadia/smollm2-135m-instruct',
    provider: 'openai' as const,
    upstreamModel: 'smollm2-135m-instruct',
    apiBase: '',
    apiKey: { env: 'PARTNER_TOKEN' },
  };

  function withRoute(env: Record<string, string> = { PARTNER_TOKEN: 'partner-secret' }) {
    return registry({ routes: [{ ...route, apiBase: partner.baseURL }], env });
  }

  it('an exact alias wins over provider parsing and carries the partner token', async () => {
    const resolved = await send('cascadia/smollm2-135m-instruct', withRoute());
    expect(resolved).toMatchObject({
      providerName: 'openai',
      upstreamModel: 'smollm2-135m-instruct',
      via: { kind: 'route', alias: 'cascadia/smollm2-135m-instruct' },
    });
    expect(mesh.requests).toHaveLength(0);
    expect(partner.requests[0]?.headers.authorization).toBe('Bearer partner-secret');
    expect(JSON.parse(partner.requests[0]?.rawBody ?? '').model).toBe('smollm2-135m-instruct');
  });

  it('an undeclared cascadia/<id> still reaches the cascadia provider', async () => {
    await send('cascadia/other-model', withRoute());
    expect(partner.requests).toHaveLength(0);
    expect(mesh.requests[0]?.headers).not.toHaveProperty('authorization');
    expect(JSON.parse(mesh.requests[0]?.rawBody ?? '').model).toBe('other-model');
  });

  it('the other convention of the same id is not the alias', async () => {
    await send('cascadia:smollm2-135m-instruct', withRoute());
    expect(partner.requests).toHaveLength(0);
    expect(mesh.requests).toHaveLength(1);
  });

  it('resolves an alias with no separator', async () => {
    const reg = registry({
      routes: [{ ...route, model: 'fast', apiBase: partner.baseURL, apiKey: 'literal-key' }],
    });
    const resolved = await send('fast', reg);
    expect(resolved.via).toEqual({ kind: 'route', alias: 'fast' });
    expect(partner.requests[0]?.headers.authorization).toBe('Bearer literal-key');
  });

  it('lists routes without their credentials', () => {
    const listed = withRoute().routes();
    expect(listed).toEqual([
      {
        model: 'cascadia/smollm2-135m-instruct',
        provider: 'openai',
        upstreamModel: 'smollm2-135m-instruct',
        apiBase: partner.baseURL,
      },
    ]);
    expect(JSON.stringify(listed)).not.toContain('partner-secret');
  });

  it('names a missing token variable without printing any secret', () => {
    let caught: unknown;
    try {
      withRoute({ OTHER: 'other-secret' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ProviderConfigError);
    expect((caught as Error).message).toContain('PARTNER_TOKEN');
    expect((caught as Error).message).not.toContain('other-secret');
  });

  it('applies the registry timeout to routes that set none', async () => {
    const silent = await startUpstream();
    silent.handle(() => {
      // never answers
    });
    try {
      const reg = createProviderRegistry({
        providers: [],
        routes: [{ ...route, apiBase: silent.baseURL, apiKey: 'k' }],
        timeoutMs: 150,
      });
      const error = await reg
        .resolve(route.model)
        .provider.chatCompletions({ model: route.model })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect((error as UpstreamUnavailableError).httpStatus).toBe(504);
    } finally {
      await silent.close();
    }
  });

  it('rejects a duplicate alias', () => {
    expect(() =>
      registry({
        routes: [
          { ...route, apiBase: partner.baseURL, apiKey: 'a' },
          { ...route, apiBase: mesh.baseURL, apiKey: 'b' },
        ],
      }),
    ).toThrow(ProviderConfigError);
  });
});
