import type { ProviderRegistry } from '@cascadia/providers';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { corePlugin, newRequestId } from './plugins/core.js';
import { virtualKeyAuthPlugin } from './plugins/virtual-key-auth.js';
import { adminRoutes } from './routes/admin.js';
import { dataPlaneRoutes } from './routes/data-plane.js';
import { keyHolderRoutes } from './routes/key-holder.js';
import { opsRoutes } from './routes/ops.js';
import { type GatewaySettings, resolveSettings } from './settings.js';
import type { GatewayStore } from './store/types.js';

export interface GatewayAppOptions {
  store: GatewayStore;
  registry: ProviderRegistry;
  settings?: Partial<GatewaySettings>;
  /** GATEWAY_MASTER_KEY; null or absent disables the admin API. */
  masterKey?: string | null;
  /** false: no logs. Otherwise pino at `level` (default info) to `stream` (default stdout). */
  log?: false | { level?: string; stream?: DestinationStream };
}

/** Paths pino censors wherever they appear: credentials and key material. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'key',
  'secret',
  'apiKey',
  'api_key',
  'masterKey',
  '*.key',
  '*.secret',
  '*.apiKey',
  '*.api_key',
  '*.masterKey',
];

function loggerOptions(
  log: GatewayAppOptions['log'],
): false | (LoggerOptions & { stream?: DestinationStream }) {
  if (log === false) return false;
  return {
    level: log?.level ?? 'info',
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    ...(log?.stream ? { stream: log.stream } : {}),
  };
}

/**
 * The logger of the per-call `call settled` lines: same level and destination as the app's, without
 * the redaction pass, whose wildcard paths walked every line's object (the lines carry ids, the
 * model, tokens, cost and timings, never credentials or request content).
 */
function callLogger(log: GatewayAppOptions['log']): Logger | null {
  if (log === false) return null;
  const options = { level: log?.level ?? 'info' };
  return log?.stream ? pino(options, log.stream) : pino(options);
}

/** Builds the gateway (not listening): tests drive it with `inject` or `listen({ port: 0 })`. */
export async function buildApp(options: GatewayAppOptions): Promise<FastifyInstance> {
  const settings = resolveSettings(options.settings);
  const app = Fastify({
    logger: loggerOptions(options.log),
    genReqId: () => newRequestId(),
    // One structured line per settled call is logged instead of Fastify's two per request (proxy/call.ts).
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    // No child logger per request (a measurable cost per call): lines about a request carry its
    // request_id explicitly.
    childLoggerFactory: (logger) => logger,
    bodyLimit: settings.bodyLimitBytes,
    return503OnClosing: true,
    // Bodies and queries are validated with zod; no route declares a JSON schema. Without these,
    // Fastify loads Ajv and fast-json-stringify at start (about 1.5 MB of heap kept for nothing).
    schemaController: {
      compilersFactory: {
        buildValidator: () => () => {
          throw new Error('route JSON schemas are not used by the gateway (zod validates)');
        },
        buildSerializer: () => () => {
          throw new Error('route JSON schemas are not used by the gateway');
        },
      },
    },
  });
  await app.register(corePlugin, {
    store: options.store,
    registry: options.registry,
    settings,
    callLog: callLogger(options.log),
  });
  await app.register(virtualKeyAuthPlugin);
  await app.register(opsRoutes);
  await app.register(dataPlaneRoutes);
  await app.register(keyHolderRoutes);
  await app.register(adminRoutes, { masterKey: options.masterKey ?? null });
  return app;
}

/**
 * Stops accepting connections and waits for in-flight calls (streams included) to settle; after
 * `graceMs`, connections still open are cut. Without that cut, a client's idle pre-opened
 * keep-alive socket (no request on it yet) would hold the close until the headers timeout.
 */
export async function closeGracefully(app: FastifyInstance, graceMs = 10_000): Promise<void> {
  const timer = setTimeout(() => app.server.closeAllConnections(), graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}
