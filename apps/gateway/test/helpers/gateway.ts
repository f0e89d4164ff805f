import {
  createOpenAICompatibleProvider,
  createProviderRegistry,
  type ProviderRegistry,
} from '@cascadia/providers';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { buildApp } from '../../src/app.js';
import type { GatewaySettings } from '../../src/settings.js';
import { type GatewayStore, openStore } from '../../src/store/index.js';
import { createUpstreamFetch } from '../../src/upstream-fetch.js';
import type { TestDatabase } from './databases.js';
import type { MockUpstream } from './upstream.js';

export const MASTER_KEY = 'test-master-key-0123456789abcdef';

/** Prices used by the tests: $1 per million tokens in and out = 1000 nano-USD per token. */
export const TEST_PRICES = [
  'mock:echo',
  'mock:slow',
  'mock:no-usage',
  'mock:overrun',
  'mock:fail-500',
  'mock:bad-request',
  'mock:unauthorized',
  'mock:hang',
  'alias/echo',
];

export function testRegistry(upstream: MockUpstream) {
  const fetch = createUpstreamFetch();
  return createProviderRegistry({
    providers: [createOpenAICompatibleProvider({ name: 'mock', baseURL: upstream.url, fetch })],
    routes: [{ model: 'alias/echo', provider: 'openai', upstreamModel: 'echo', apiBase: upstream.url }],
    env: {},
    fetch,
  });
}

export async function priceTestModels(store: GatewayStore): Promise<void> {
  for (const model of TEST_PRICES) {
    await store.setPrice({ model, inputPerMillion: 1, outputPerMillion: 1, effectiveFrom: 0 });
  }
}

export async function testApp(
  db: TestDatabase,
  upstream: MockUpstream,
  options: {
    settings?: Partial<GatewaySettings>;
    logStream?: DestinationStream;
    store?: GatewayStore;
    registry?: ProviderRegistry;
  } = {},
): Promise<{ app: FastifyInstance; store: GatewayStore }> {
  const store = options.store ?? (await openStore(db.url, db.pg, { serving: true }));
  const app = await buildApp({
    store,
    registry: options.registry ?? testRegistry(upstream),
    masterKey: MASTER_KEY,
    settings: { defaultMaxTokens: 16, ...options.settings },
    log: options.logStream ? { level: 'debug', stream: options.logStream } : false,
  });
  app.addHook('onClose', async () => {
    if (!options.store) await store.close();
  });
  return { app, store };
}

export const adminHeaders = { authorization: `Bearer ${MASTER_KEY}` };
export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
