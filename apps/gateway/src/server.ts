import type { FastifyInstance } from 'fastify';
import pino from 'pino';
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

const LOG_FLUSH_MS = 1000;

/** Opens the database (migrating it), applies the config, listens, and closes cleanly on SIGTERM/SIGINT. */
export async function serve(options: ServeOptions = {}): Promise<FastifyInstance> {
  const env = process.env;
  const config = await loadGatewayConfig(options.configPath ?? env.GATEWAY_CONFIG);
  const registry = registryFromConfig(config);
  // Serving: on SQLite this process takes the file's serving lock, holds reservations in memory and
  // settles through the settlement journal (failures to fold it go to the log once it exists).
  let logger: FastifyInstance['log'] | null = null;
  const store = await openStore(
    options.databaseUrl ?? env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    { schema: env.GATEWAY_PG_SCHEMA },
    {
      serving: true,
      onJournalWarning: (warning) => {
        if (logger) logger.error({ err: warning }, warning.message);
        else process.emitWarning(warning);
      },
    },
  );
  await bootstrapStore(store, config);
  const masterKey = options.masterKey !== undefined ? options.masterKey : env.GATEWAY_MASTER_KEY || null;
  // Log lines are buffered (up to 4 KiB, written off the event loop) and flushed at least every
  // LOG_FLUSH_MS and on exit: one synchronous write per call line was a measurable syscall per call.
  // A kill -9 can lose the last second of log lines; never money, which is in the database.
  const logStream = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const logFlushTimer = setInterval(() => logStream.flush(), LOG_FLUSH_MS);
  logFlushTimer.unref();
  const app = await buildApp({
    store,
    registry,
    settings: config.settings,
    masterKey,
    log: { level: options.logLevel ?? env.LOG_LEVEL ?? 'info', stream: logStream },
  });
  logger = app.log;
  app.addHook('onClose', async () => {
    clearInterval(logFlushTimer);
    await store.close();
  });
  if (!masterKey) app.log.warn('GATEWAY_MASTER_KEY is not set: the admin API is disabled');
  const host = options.host ?? env.HOST ?? '127.0.0.1';
  const port = options.port ?? Number(env.PORT ?? 4000);
  await app.listen({ host, port });
  app.log.info({ database: store.dialect, routes: registry.routes().map((r) => r.model) }, 'gateway ready');
  logStream.flush();

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
