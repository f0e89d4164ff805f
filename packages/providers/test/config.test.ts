import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeUpstream, readAll, startUpstream, writeRaw } from '@cascadia/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCascadiaProvider,
  createProviderRegistry,
  createProviderRegistryFromConfig,
  createProvidersFromConfig,
  loadProviderRegistry,
  loadProvidersConfigFile,
  loadRoutesFile,
  ProviderConfigError,
  parseProvidersConfig,
} from '../src/index.js';

let dir: string;
let partner: FakeUpstream;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'providers-config-'));
  partner = await startUpstream();
  partner.handle((_req, res) => writeRaw(res, 200, '{"ok":true}'));
});
afterAll(async () => {
  await partner.close();
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function configError(promise: Promise<unknown> | (() => unknown)): Promise<ProviderConfigError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderConfigError);
    expect((error as ProviderConfigError).code).toBe('provider_config_error');
    return error as ProviderConfigError;
  }
  throw new Error('expected a ProviderConfigError');
}

const LITELLM_YAML = (base: string) => `
# pricing and owners belong to the gateway's reader and are ignored here
pricing:
  - { model: cascadia/smollm2-135m-instruct, input_per_million: 0.1, output_per_million: 0.2 }
model_list:
  - model_name: cascadia/smollm2-135m-instruct
    litellm_params: { model: openai/smollm2-135m-instruct, api_base: ${base}, api_key: os.environ/CASCADIA_PARTNER_TOKEN }
  - model_name: mesh-default
    litellm_params:
      model: cascadia/smollm2-135m-instruct
      extra_headers: { x-partner: acme }
      timeout: 30
`;

describe('LiteLLM model_list in YAML', () => {
  it('loads routes with env references kept as references', async () => {
    const path = await file('litellm.yaml', LITELLM_YAML('http://127.0.0.1:9090/v1'));
    const routes = await loadRoutesFile(path, { env: { CASCADIA_PARTNER_TOKEN: 'tok-123' } });
    expect(routes).toEqual([
      {
        model: 'cascadia/smollm2-135m-instruct',
        provider: 'openai',
        upstreamModel: 'smollm2-135m-instruct',
        apiBase: 'http://127.0.0.1:9090/v1',
        apiKey: { env: 'CASCADIA_PARTNER_TOKEN' },
      },
      {
        model: 'mesh-default',
        provider: 'cascadia',
        upstreamModel: 'smollm2-135m-instruct',
        apiBase: 'http://localhost:9090/v1',
        headers: { 'x-partner': 'acme' },
        timeoutMs: 30_000,
      },
    ]);
    expect(JSON.stringify(routes)).not.toContain('tok-123');
  });

  it('builds a registry whose route sends the partner token to the api base', async () => {
    const path = await file('live.yaml', LITELLM_YAML(partner.baseURL));
    const env = { CASCADIA_PARTNER_TOKEN: 'tok-xyz' };
    const routes = await loadRoutesFile(path, { env });
    const registry = createProviderRegistry({
      providers: [createCascadiaProvider({ env: {} })],
      routes,
      env,
    });
    const resolved = registry.resolve('cascadia/smollm2-135m-instruct');
    await readAll(
      await resolved.provider.chatCompletions({ model: 'cascadia/smollm2-135m-instruct', messages: [] }),
    );
    expect(partner.requests.at(-1)?.headers.authorization).toBe('Bearer tok-xyz');
    expect(JSON.parse(partner.requests.at(-1)?.rawBody ?? '')).toEqual({
      model: 'smollm2-135m-instruct',
      messages: [],
    });
  });

  it('names the missing environment variable and the file, without values', async () => {
    const path = await file('missing.yaml', LITELLM_YAML('http://127.0.0.1:9090/v1'));
    const error = await configError(loadRoutesFile(path, { env: { UNRELATED: 'secret-value' } }));
    expect(error.message).toContain('CASCADIA_PARTNER_TOKEN');
    expect(error.message).toContain('is not set');
    expect(error.message).toContain(path);
    expect(error.message).not.toContain('secret-value');
  });

  it('treats an empty variable as missing', async () => {
    const path = await file('empty.yaml', LITELLM_YAML('http://127.0.0.1:9090/v1'));
    const error = await configError(loadRoutesFile(path, { env: { CASCADIA_PARTNER_TOKEN: '' } }));
    expect(error.message).toContain('CASCADIA_PARTNER_TOKEN');
  });

  it('uses the dialect default base and key variable when api_base is omitted', () => {
    const config = { model_list: [{ model_name: 'gpt', litellm_params: { model: 'openai/gpt-4o-mini' } }] };
    expect(
      parseProvidersConfig(config, { env: { OPENAI_API_KEY: 'k', OPENAI_API_BASE: 'http://127.0.0.1:5/v1' } })
        .routes,
    ).toEqual([
      {
        model: 'gpt',
        provider: 'openai',
        upstreamModel: 'gpt-4o-mini',
        apiBase: 'http://127.0.0.1:5/v1',
        apiKey: { env: 'OPENAI_API_KEY' },
      },
    ]);
    expect(parseProvidersConfig(config, { env: {} }).routes[0]).toEqual({
      model: 'gpt',
      provider: 'openai',
      upstreamModel: 'gpt-4o-mini',
      apiBase: 'https://api.openai.com/v1',
    });
  });

  it.each([
    [{ model_name: 'x', litellm_params: { model: 'anthropic/claude' } }, 'litellm_params.model'],
    [{ model_name: 'x', litellm_params: { model: 'openai/' } }, 'litellm_params.model'],
    [{ model_name: 'x', litellm_params: { model: 'openai-compatible/m' } }, 'api_base is required'],
    [{ model_name: 'x', litellm_params: { model: 'openai/m', api_base: 'nope' } }, 'not a valid URL'],
    [
      { model_name: 'x', litellm_params: { model: 'openai/m', api_base: 'http://u:p4ss@h/v1' } },
      'credentials',
    ],
    [{ model_name: '', litellm_params: { model: 'openai/m' } }, 'model_name'],
    [{ model_name: 'x' }, 'litellm_params'],
  ])('rejects a bad item %j', async (item, fragment) => {
    const error = await configError(() => parseProvidersConfig({ model_list: [item] }, { env: {} }));
    expect(error.message).toContain(fragment);
    expect(error.message).toContain('model_list[0]');
    expect(error.message).not.toContain('p4ss');
  });

  it('rejects a duplicate alias', async () => {
    const item = { model_name: 'x', litellm_params: { model: 'openai/m', api_base: 'http://h/v1' } };
    const error = await configError(() => parseProvidersConfig({ model_list: [item, item] }, { env: {} }));
    expect(error.message).toContain("'x' is declared more than once");
  });
});

describe('RouteConfig items and JSON files', () => {
  it('loads the contract RouteConfig shape from JSON', async () => {
    const routes = [
      {
        model: 'cascadia/smollm2-135m',
        provider: 'openai',
        upstreamModel: 'smollm2-135m-instruct',
        apiBase: 'http://127.0.0.1:9090/v1',
        apiKey: { env: 'TOKEN_A' },
      },
      {
        model: 'plain',
        provider: 'openai-compatible',
        upstreamModel: 'm',
        apiBase: 'http://127.0.0.1:1/v1',
        apiKey: 'lit',
      },
    ];
    const path = await file('routes.json', JSON.stringify({ routes }));
    expect(await loadRoutesFile(path, { env: { TOKEN_A: 'a' } })).toEqual(routes);
  });

  it('accepts os.environ/NAME in a RouteConfig apiKey, and a top-level list', () => {
    const list = [
      {
        model: 'm',
        provider: 'openai',
        upstreamModel: 'u',
        apiBase: 'http://h/v1',
        apiKey: 'os.environ/TOK',
      },
    ];
    expect(parseProvidersConfig(list, { env: { TOK: 't' } }).routes[0]?.apiKey).toEqual({ env: 'TOK' });
  });

  it('rejects unknown fields in a RouteConfig (a misspelt apiKey must not go unnoticed)', async () => {
    const list = [
      { model: 'm', provider: 'openai', upstreamModel: 'u', apiBase: 'http://h/v1', api_Key: 'sk-live-123' },
    ];
    const error = await configError(() => parseProvidersConfig(list, { env: {} }));
    expect(error.message).toContain('api_Key');
    expect(error.message).not.toContain('sk-live-123');
  });

  it('reports a syntax error by position without quoting the file', async () => {
    const path = await file(
      'broken.yaml',
      'model_list:\n  - model_name: x\n    api_key: "sk-live-secret\n  bad: [\n',
    );
    const error = await configError(loadRoutesFile(path, { env: {} }));
    expect(error.message).toContain('not valid YAML');
    expect(error.message).not.toContain('sk-live-secret');
  });

  it('reports an unreadable file', async () => {
    const error = await configError(loadRoutesFile(join(dir, 'does-not-exist.yaml')));
    expect(error.message).toContain('ENOENT');
  });
});

describe('providers section', () => {
  it('declares named OpenAI-compatible providers reachable by model string', async () => {
    const path = await file(
      'providers.yaml',
      `providers:\n  vllm:\n    api_base: ${partner.baseURL}\n    api_key: os.environ/VLLM_TOKEN\n    headers: { x-team: infra }\n`,
    );
    const env = { VLLM_TOKEN: 'vllm-secret' };
    const config = await loadProvidersConfigFile(path, { env });
    expect(config.providers).toEqual([
      {
        name: 'vllm',
        apiBase: partner.baseURL,
        apiKey: { env: 'VLLM_TOKEN' },
        headers: { 'x-team': 'infra' },
      },
    ]);
    const registry = createProviderRegistry({
      providers: createProvidersFromConfig(config.providers, { env }),
    });
    await readAll(
      await registry.resolve('vllm:meta/llama-3').provider.chatCompletions({ model: 'vllm:meta/llama-3' }),
    );
    const seen = partner.requests.at(-1);
    expect(seen?.headers.authorization).toBe('Bearer vllm-secret');
    expect(seen?.headers['x-team']).toBe('infra');
    expect(seen?.rawBody).toBe('{"model":"meta/llama-3"}');
  });

  it('rejects a provider without api_base, and a duplicate name', async () => {
    await configError(() => parseProvidersConfig({ providers: [{ name: 'a' }] }, { env: {} }));
    const dup = { name: 'a', api_base: 'http://h/v1' };
    await configError(() => parseProvidersConfig({ providers: [dup, dup] }, { env: {} }));
  });
});

describe('registry from config', () => {
  it('combines the default providers, declared providers (which may replace a default) and routes', async () => {
    const path = await file(
      'gateway.yaml',
      `${LITELLM_YAML(partner.baseURL)}providers:\n  - name: cascadia\n    api_base: ${partner.baseURL}\n`,
    );
    const registry = await loadProviderRegistry(path, { env: { CASCADIA_PARTNER_TOKEN: 't' } });
    expect(registry.providerNames().sort()).toEqual(['cascadia', 'openai']);
    expect(registry.routes().map((r) => r.model)).toEqual(['cascadia/smollm2-135m-instruct', 'mesh-default']);
    const before = partner.requests.length;
    await readAll(await registry.resolve('cascadia:x').provider.chatCompletions({ model: 'cascadia:x' }));
    expect(partner.requests.length).toBe(before + 1);
    expect(partner.requests.at(-1)?.rawBody).toBe('{"model":"x"}');
  });

  it('gives only the defaults without a config', () => {
    const registry = createProviderRegistryFromConfig(undefined, { env: {} });
    expect(registry.providerNames().sort()).toEqual(['cascadia', 'openai']);
    expect(registry.routes()).toEqual([]);
  });
});
