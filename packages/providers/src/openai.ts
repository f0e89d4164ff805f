import { createOpenAICompatibleProvider, type FetchFunction } from './openai-compatible.js';
import type { Env, Provider } from './provider.js';

export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export interface OpenAIProviderSettings {
  /** Default: env `OPENAI_API_BASE`, else `https://api.openai.com/v1`. */
  baseURL?: string;
  /** Default: env `OPENAI_API_KEY`. */
  apiKey?: string | null;
  env?: Env;
  headers?: Record<string, string>;
  timeoutMs?: number;
  fetch?: FetchFunction;
}

/** OpenAI itself, or any server configured in its place through `OPENAI_API_BASE`. */
export function createOpenAIProvider(settings: OpenAIProviderSettings = {}): Provider {
  const env = settings.env ?? process.env;
  return createOpenAICompatibleProvider({
    name: 'openai',
    baseURL: settings.baseURL || env.OPENAI_API_BASE || OPENAI_DEFAULT_BASE_URL,
    apiKey: settings.apiKey === undefined ? env.OPENAI_API_KEY || null : settings.apiKey,
    headers: settings.headers,
    timeoutMs: settings.timeoutMs,
    fetch: settings.fetch,
  });
}
