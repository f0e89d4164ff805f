import { z } from 'zod';
import { CASCADIA_DEFAULT_BASE_URL } from './cascadia.js';
import { ProviderConfigError } from './errors.js';
import { OPENAI_DEFAULT_BASE_URL } from './openai.js';
import type { Env } from './provider.js';

/** A secret given literally, or the name of the environment variable that holds it. */
export type SecretRef = string | { env: string };

/**
 * A config-only route (the LiteLLM way): a model alias served by an OpenAI-compatible upstream,
 * with no provider code. Secrets stay references until the registry is built.
 */
export interface RouteConfig {
  /** The alias callers send as `model`, matched exactly (e.g. `cascadia/smollm2-135m-instruct`). */
  model: string;
  /** Upstream dialect; all are the OpenAI-compatible core. */
  provider: 'openai' | 'openai-compatible' | 'cascadia';
  /** The model id sent upstream. */
  upstreamModel: string;
  apiBase: string;
  apiKey?: SecretRef;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** A named OpenAI-compatible provider declared in config; reachable as `<name>:<model>` / `<name>/<model>`. */
export interface ProviderConfig {
  name: string;
  apiBase: string;
  apiKey?: SecretRef;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface ProvidersConfig {
  providers: ProviderConfig[];
  routes: RouteConfig[];
}

export interface ConfigOptions {
  /** Where `os.environ/NAME` references are read from; default `process.env`. */
  env?: Env;
  /** Named in error messages (e.g. the config file path). */
  source?: string;
}

const ENV_PREFIX = 'os.environ/';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const secretSchema = z.union([z.string().min(1), z.object({ env: z.string().regex(ENV_NAME) }).strict()]);
const headersSchema = z.record(z.string(), z.string());

const liteLLMRouteSchema = z
  .object({
    model_name: z.string().min(1),
    litellm_params: z
      .object({
        model: z.string().min(1),
        api_base: z.string().min(1).optional(),
        api_key: secretSchema.optional(),
        extra_headers: headersSchema.optional(),
        headers: headersSchema.optional(),
        timeout: z.number().positive().optional(),
      })
      .passthrough(),
  })
  .passthrough();

const routeSchema = z
  .object({
    model: z.string().min(1),
    provider: z.enum(['openai', 'openai-compatible', 'cascadia']),
    upstreamModel: z.string().min(1),
    apiBase: z.string().min(1),
    apiKey: secretSchema.optional(),
    headers: headersSchema.optional(),
    timeoutMs: z.number().positive().optional(),
  })
  .strict();

const providerSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-"'),
    api_base: z.string().min(1).optional(),
    apiBase: z.string().min(1).optional(),
    api_key: secretSchema.optional(),
    apiKey: secretSchema.optional(),
    headers: headersSchema.optional(),
    timeout: z.number().positive().optional(),
    timeoutMs: z.number().positive().optional(),
  })
  .strict();

/** The upstream dialects a LiteLLM `litellm_params.model` prefix may name, and where each defaults to. */
const LITELLM_PREFIXES: Record<
  RouteConfig['provider'],
  { baseEnv?: string; defaultBase?: string; keyEnv?: string }
> = {
  openai: { baseEnv: 'OPENAI_API_BASE', defaultBase: OPENAI_DEFAULT_BASE_URL, keyEnv: 'OPENAI_API_KEY' },
  cascadia: {
    baseEnv: 'CASCADIA_API_BASE',
    defaultBase: CASCADIA_DEFAULT_BASE_URL,
    keyEnv: 'CASCADIA_API_KEY',
  },
  'openai-compatible': {},
};

/**
 * Reads the provider part of a config: `model_list` (LiteLLM items or RouteConfig items), `routes`
 * (RouteConfig items) and `providers` (named OpenAI-compatible upstreams). Other top-level keys
 * (pricing, owners, ...) belong to other readers and are ignored. Every `os.environ/NAME` (or
 * `{ env: NAME }`) must name a set variable; the values themselves are never put in errors.
 */
export function parseProvidersConfig(config: unknown, options: ConfigOptions = {}): ProvidersConfig {
  const env = options.env ?? process.env;
  const where = options.source ? ` in ${options.source}` : '';
  if (Array.isArray(config))
    return { providers: [], routes: parseRouteList(config, env, where, 'model_list') };
  if (typeof config !== 'object' || config === null) {
    throw new ProviderConfigError(
      `Provider config${where} must be an object with 'model_list' and/or 'providers'`,
    );
  }
  const record = config as Record<string, unknown>;
  const routes: RouteConfig[] = [];
  for (const key of ['model_list', 'routes'] as const) {
    const list = record[key];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new ProviderConfigError(`'${key}'${where} must be a list`);
    routes.push(...parseRouteList(list, env, where, key));
  }
  const seen = new Set<string>();
  for (const route of routes) {
    if (seen.has(route.model)) {
      throw new ProviderConfigError(`Route '${route.model}'${where} is declared more than once`);
    }
    seen.add(route.model);
  }
  const providers = parseProviderList(record.providers, env, where);
  return { providers, routes };
}

/** Only the routes of a config (see parseProvidersConfig). */
export function parseRoutes(config: unknown, options: ConfigOptions = {}): RouteConfig[] {
  return parseProvidersConfig(config, options).routes;
}

function parseRouteList(list: unknown[], env: Env, where: string, key: string): RouteConfig[] {
  return list.map((item, index) => {
    const label = `${key}[${index}]${where}`;
    if (typeof item === 'object' && item !== null && 'model_name' in item) {
      return fromLiteLLM(liteLLMRouteSchema, item, env, label);
    }
    const parsed = routeSchema.safeParse(item);
    if (!parsed.success) throw invalid(label, parsed.error);
    const route: RouteConfig = {
      ...parsed.data,
      apiBase: resolveValue(parsed.data.apiBase, env, label, 'apiBase'),
    };
    if (route.apiKey !== undefined) route.apiKey = checkSecret(route.apiKey, env, label, 'apiKey');
    checkBaseURL(route.apiBase, label);
    return route;
  });
}

function fromLiteLLM(schema: typeof liteLLMRouteSchema, item: unknown, env: Env, label: string): RouteConfig {
  const parsed = schema.safeParse(item);
  if (!parsed.success) throw invalid(label, parsed.error);
  const { model_name: alias, litellm_params: params } = parsed.data;
  const slash = params.model.indexOf('/');
  const prefix = slash === -1 ? '' : params.model.slice(0, slash);
  const upstreamModel = slash === -1 ? '' : params.model.slice(slash + 1);
  if (!(prefix in LITELLM_PREFIXES) || upstreamModel === '') {
    throw new ProviderConfigError(
      `${label} (${alias}): litellm_params.model must be '<${Object.keys(LITELLM_PREFIXES).join('|')}>/<model id>', got '${params.model}'`,
    );
  }
  const provider = prefix as RouteConfig['provider'];
  const defaults = LITELLM_PREFIXES[provider];
  let apiBase: string;
  if (params.api_base !== undefined) apiBase = resolveValue(params.api_base, env, label, 'api_base');
  else if (defaults.defaultBase !== undefined)
    apiBase = (defaults.baseEnv && env[defaults.baseEnv]) || defaults.defaultBase;
  else
    throw new ProviderConfigError(
      `${label} (${alias}): litellm_params.api_base is required for '${prefix}/'`,
    );
  checkBaseURL(apiBase, label);

  const route: RouteConfig = { model: alias, provider, upstreamModel, apiBase };
  if (params.api_key !== undefined) {
    route.apiKey = checkSecret(secretRef(params.api_key), env, label, 'api_key');
  } else if (params.api_base === undefined && defaults.keyEnv && env[defaults.keyEnv]) {
    // No api_base: the upstream is the dialect's default one, with its usual key variable.
    route.apiKey = { env: defaults.keyEnv };
  }
  const headers = { ...params.extra_headers, ...params.headers };
  if (Object.keys(headers).length > 0) route.headers = headers;
  if (params.timeout !== undefined) route.timeoutMs = params.timeout * 1000;
  return route;
}

function parseProviderList(list: unknown, env: Env, where: string): ProviderConfig[] {
  if (list === undefined || list === null) return [];
  let items: unknown[];
  if (Array.isArray(list)) items = list;
  else if (typeof list === 'object') {
    // Also accept a map keyed by provider name.
    items = Object.entries(list as Record<string, unknown>).map(([name, value]) =>
      typeof value === 'object' && value !== null ? { name, ...value } : value,
    );
  } else throw new ProviderConfigError(`'providers'${where} must be a list or a map`);
  const seen = new Set<string>();
  return items.map((item, index) => {
    const label = `providers[${index}]${where}`;
    const parsed = providerSchema.safeParse(item);
    if (!parsed.success) throw invalid(label, parsed.error);
    const data = parsed.data;
    if (seen.has(data.name))
      throw new ProviderConfigError(`Provider '${data.name}'${where} is declared more than once`);
    seen.add(data.name);
    const rawBase = data.api_base ?? data.apiBase;
    if (rawBase === undefined) throw new ProviderConfigError(`${label} (${data.name}): api_base is required`);
    const apiBase = resolveValue(rawBase, env, label, 'api_base');
    checkBaseURL(apiBase, label);
    const provider: ProviderConfig = { name: data.name, apiBase };
    const key = data.api_key ?? data.apiKey;
    if (key !== undefined) provider.apiKey = checkSecret(secretRef(key), env, label, 'api_key');
    if (data.headers) provider.headers = data.headers;
    const timeoutMs = data.timeoutMs ?? (data.timeout === undefined ? undefined : data.timeout * 1000);
    if (timeoutMs !== undefined) provider.timeoutMs = timeoutMs;
    return provider;
  });
}

/** `os.environ/NAME` → `{ env: NAME }`; anything else is a literal. */
function secretRef(value: SecretRef): SecretRef {
  if (typeof value === 'string' && value.startsWith(ENV_PREFIX))
    return { env: value.slice(ENV_PREFIX.length) };
  return value;
}

function checkSecret(ref: SecretRef, env: Env, label: string, field: string): SecretRef {
  const normalized = secretRef(ref);
  resolveSecret(normalized, env, `${label}: ${field}`);
  return normalized;
}

/**
 * The value of a secret reference. A missing variable is a ProviderConfigError that names the
 * variable (never a value).
 */
export function resolveSecret(
  ref: SecretRef | undefined | null,
  env: Env,
  context: string,
): string | undefined {
  if (ref === undefined || ref === null) return undefined;
  if (typeof ref === 'string') return ref;
  if (!ENV_NAME.test(ref.env))
    throw new ProviderConfigError(`${context}: '${ref.env}' is not a variable name`);
  const value = env[ref.env];
  if (value === undefined || value === '') {
    throw new ProviderConfigError(`${context}: environment variable ${ref.env} is not set`);
  }
  return value;
}

/** Non-secret settings may also come from the environment (`os.environ/NAME`). */
function resolveValue(value: string, env: Env, label: string, field: string): string {
  if (!value.startsWith(ENV_PREFIX)) return value;
  return resolveSecret({ env: value.slice(ENV_PREFIX.length) }, env, `${label}: ${field}`)!;
}

function checkBaseURL(value: string, label: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ProviderConfigError(`${label}: api base is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProviderConfigError(`${label}: api base must be http(s)`);
  }
  if (url.username || url.password) {
    throw new ProviderConfigError(`${label}: api base must not carry credentials; use api_key`);
  }
}

function invalid(label: string, error: z.ZodError): ProviderConfigError {
  // Zod issues name paths and expectations, not input values, so no secret can leak through them.
  const detail = error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(item)'}: ${issue.message}`)
    .join('; ');
  return new ProviderConfigError(`${label} is invalid: ${detail}`);
}
