import { createOpenAICompatibleProvider, type FetchFunction } from './openai-compatible.js';
import type { Env, Provider } from './provider.js';

export const CASCADIA_DEFAULT_BASE_URL = 'http://localhost:9090/v1';

export interface CascadiaProviderSettings {
  /** Default: env `CASCADIA_API_BASE`, else `http://localhost:9090/v1`. */
  baseURL?: string;
  /** Default: env `CASCADIA_API_KEY`; without one the provider is keyless (no Authorization header). */
  apiKey?: string | null;
  /** Where to read the variables from; default `process.env`. */
  env?: Env;
  headers?: Record<string, string>;
  timeoutMs?: number;
  fetch?: FetchFunction;
}

/**
 * The Cascadia mesh coordinator. It receives the bare model id (`smollm2-135m-instruct`), and its
 * responses, `cascadia` block included, come back untouched.
 */
export function createCascadiaProvider(settings: CascadiaProviderSettings = {}): Provider {
  const env = settings.env ?? process.env;
  return createOpenAICompatibleProvider({
    name: 'cascadia',
    baseURL: settings.baseURL || env.CASCADIA_API_BASE || CASCADIA_DEFAULT_BASE_URL,
    apiKey: settings.apiKey === undefined ? env.CASCADIA_API_KEY || null : settings.apiKey,
    headers: settings.headers,
    timeoutMs: settings.timeoutMs,
    fetch: settings.fetch,
  });
}
