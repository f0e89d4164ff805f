import type { FastifyInstance } from 'fastify';
import { buildApp, closeGracefully } from './app.js';
import { bootstrapStore, loadGatewayConfig, registryFromConfig } from './config.js';
import { DEFAULT_DATABASE_URL } from './db/open.js';
import { openStore } from './store/index.js';

export interface ServeOptions {
  configPath?: string;
  databaseUrl?: string;
  host?: string;
  port?: number;
  masterKey?: string | null;
  logLevel?: string;
}

/** Opens the database (migrating it), applies the config, listens, and closes cleanly on SIGTERM/SIGINT. */
export async function serve(options: ServeOptions = {}): Promise<FastifyInstance> {
  const env = process.env;
  const config = await loadGatewayConfig(options.configPath ?? env.GATEWAY_CONFIG);
  const registry = registryFromConfig(config);
  const store = await openStore(options.databaseUrl ?? env.DATABASE_URL ?? DEFAULT_DATABASE_URL, {
    schema: env.GATEWAY_PG_SCHEMA,
  });
  await bootstrapStore(store, config);
  const masterKey = options.masterKey !== undefined ? options.masterKey : env.GATEWAY_MASTER_KEY || null;
  const app = await buildApp({
    store,
    registry,
    settings: config.settings,
    masterKey,
    log: { level: options.logLevel ?? env.LOG_LEVEL ?? 'info' },
  });
  app.addHook('onClose', async () => store.close());
  if (!masterKey) app.log.warn('GATEWAY_MASTER_KEY is not set: the admin API is disabled');
  const host = options.host ?? env.HOST ?? '127.0.0.1';
  const port = options.port ?? Number(env.PORT ?? 4000);
  await app.listen({ host, port });
  app.log.info({ database: store.dialect, routes: registry.routes().map((r) => r.model) }, 'gateway ready');

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight calls');
    closeGracefully(app, Number(process.env.GATEWAY_SHUTDOWN_GRACE_MS ?? 30_000)).then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return app;
}
