import { createCascadiaProvider } from './cascadia.js';
import { type ProviderConfig, type RouteConfig, resolveSecret } from './config.js';
import { InvalidModelStringError, ProviderConfigError, UnknownModelError } from './errors.js';
import { type ModelSeparator, parseModelString } from './model-string.js';
import { createOpenAIProvider } from './openai.js';
import { createOpenAICompatibleProvider, type FetchFunction } from './openai-compatible.js';
import type { Env, Provider, ProviderCallInit } from './provider.js';

export interface ResolvedModel {
  /** Bound to the upstream model: its calls send `model: upstreamModel`, the rest of the body unchanged. */
  provider: Provider;
  upstreamModel: string;
  providerName: string;
  /** The model string as the caller sent it. */
  requested: string;
  /** How it resolved: an exact config route, or `provider<separator>model` parsing. */
  via: { kind: 'route'; alias: string } | { kind: 'parsed'; separator: ModelSeparator };
}

/** A route as listed by the registry: everything but the credentials. */
export interface RouteInfo {
  model: string;
  provider: RouteConfig['provider'];
  upstreamModel: string;
  apiBase: string;
}

export interface ProviderRegistry {
  /**
   * Resolves a model string: an exact route alias first, then `provider:model` / `provider/model`
   * against the registered providers. Throws UnknownModelError (InvalidModelStringError when the
   * string has no provider part and no alias matches).
   */
  resolve(model: string): ResolvedModel;
  /** The registered provider of that name. */
  get(name: string): Provider | undefined;
  providerNames(): string[];
  routes(): RouteInfo[];
}

export interface ProviderRegistryOptions {
  /** Default: `cascadia` and `openai` configured from `env`. A later provider replaces an earlier one of the same name. */
  providers?: Provider[];
  routes?: RouteConfig[];
  /** For `{ env: NAME }` references in routes and the default providers; default `process.env`. */
  env?: Env;
  /** Used by the providers the registry builds (default providers and routes). */
  fetch?: FetchFunction;
  /** Response-header timeout for the providers the registry builds, unless a route sets its own. */
  timeoutMs?: number;
}

export interface BuiltProviderOptions {
  env?: Env;
  fetch?: FetchFunction;
  /** Time allowed until the upstream's response headers arrive; unbounded when absent. */
  timeoutMs?: number;
}

/** The providers every deployment has: the mesh (`cascadia`) and `openai`, configured from the environment. */
export function createDefaultProviders(options: BuiltProviderOptions = {}): Provider[] {
  const settings = { env: options.env, fetch: options.fetch, timeoutMs: options.timeoutMs };
  return [createCascadiaProvider(settings), createOpenAIProvider(settings)];
}

/** Providers for the `providers:` section of a config file: thin OpenAI-compatible configurations. */
export function createProvidersFromConfig(
  configs: ProviderConfig[],
  options: BuiltProviderOptions = {},
): Provider[] {
  const env = options.env ?? process.env;
  return configs.map((config) =>
    createOpenAICompatibleProvider({
      name: config.name,
      baseURL: config.apiBase,
      apiKey: resolveSecret(config.apiKey, env, `Provider '${config.name}': api key`),
      headers: config.headers,
      timeoutMs: config.timeoutMs ?? options.timeoutMs,
      fetch: options.fetch,
    }),
  );
}

export function createProviderRegistry(options: ProviderRegistryOptions = {}): ProviderRegistry {
  const env = options.env ?? process.env;
  const providers = new Map<string, Provider>();
  const defaults = () => createDefaultProviders({ env, fetch: options.fetch, timeoutMs: options.timeoutMs });
  for (const provider of options.providers ?? defaults()) {
    providers.set(provider.name, provider);
  }

  const routes = new Map<string, { info: RouteInfo; provider: Provider }>();
  for (const route of options.routes ?? []) {
    if (routes.has(route.model))
      throw new ProviderConfigError(`Route '${route.model}' is declared more than once`);
    const provider = createOpenAICompatibleProvider({
      name: route.provider,
      baseURL: route.apiBase,
      apiKey: resolveSecret(route.apiKey, env, `Route '${route.model}': api key`),
      headers: route.headers,
      timeoutMs: route.timeoutMs ?? options.timeoutMs,
      fetch: options.fetch,
    });
    const info: RouteInfo = {
      model: route.model,
      provider: route.provider,
      upstreamModel: route.upstreamModel,
      apiBase: route.apiBase,
    };
    routes.set(route.model, { info, provider });
  }

  const resolve = (requested: string): ResolvedModel => {
    const route = routes.get(requested);
    if (route) {
      return {
        provider: bindModel(route.provider, route.info.upstreamModel),
        upstreamModel: route.info.upstreamModel,
        providerName: route.info.provider,
        requested,
        via: { kind: 'route', alias: requested },
      };
    }
    let parsed: ReturnType<typeof parseModelString>;
    try {
      parsed = parseModelString(requested);
    } catch (error) {
      if (error instanceof InvalidModelStringError) {
        throw new InvalidModelStringError(requested, `${error.reason}, and no route is named '${requested}'`);
      }
      throw error;
    }
    const provider = providers.get(parsed.provider);
    if (!provider) {
      throw new UnknownModelError(
        requested,
        `Unknown model '${requested}': no route has this name and there is no provider '${parsed.provider}' (known: ${[...providers.keys()].join(', ') || 'none'})`,
      );
    }
    return {
      provider: bindModel(provider, parsed.model),
      upstreamModel: parsed.model,
      providerName: provider.name,
      requested,
      via: { kind: 'parsed', separator: parsed.separator },
    };
  };

  return {
    resolve,
    get: (name) => providers.get(name),
    providerNames: () => [...providers.keys()],
    routes: () => [...routes.values()].map((route) => ({ ...route.info })),
  };
}

/** A view of a provider whose calls always send `model: upstreamModel`. */
function bindModel(provider: Provider, upstreamModel: string): Provider {
  const bound = (init: ProviderCallInit | undefined): ProviderCallInit => ({ ...init, model: upstreamModel });
  return {
    name: provider.name,
    chatCompletions: (body, init) => provider.chatCompletions(body, bound(init)),
    completions: (body, init) => provider.completions(body, bound(init)),
    models: (init) => provider.models(init),
    prepareCall: provider.prepareCall
      ? (endpoint, body, init) => provider.prepareCall?.(endpoint, body, bound(init)) ?? null
      : undefined,
  };
}
