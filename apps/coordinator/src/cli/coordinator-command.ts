import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startCoordinator } from '../server.js';
import { onShutdown } from './shutdown.js';

/** Every option can also come from the environment (systemd EnvironmentFile); flags win. */
const env = process.env;
const opt = (value: string | undefined) => (value ? { default: value } : {});

export async function coordinatorCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: env.CASCADIA_HOST ?? '127.0.0.1' },
      port: { type: 'string', default: env.CASCADIA_PORT ?? '9090' },
      data: { type: 'string', ...opt(env.CASCADIA_DATA) },
      plan: { type: 'string', ...opt(env.CASCADIA_PLAN) },
      'max-sessions': { type: 'string', ...opt(env.CASCADIA_MAX_SESSIONS) },
      'heartbeat-ms': { type: 'string' },
      'expect-nodes': { type: 'string', ...opt(env.CASCADIA_EXPECT_NODES) },
      'step-timeout-ms': { type: 'string' },
    },
  });
  const plan = values.plan
    ? (JSON.parse(await readFile(values.plan, 'utf8')) as Record<string, string[]>)
    : undefined;
  const coordinator = await startCoordinator({
    host: values.host,
    port: Number(values.port),
    ...(values.data ? { dataDir: values.data } : {}),
    ...(process.env.CASCADIA_JOIN_TOKEN ? { joinToken: process.env.CASCADIA_JOIN_TOKEN } : {}),
    ...(process.env.CASCADIA_API_KEY ? { apiKey: process.env.CASCADIA_API_KEY } : {}),
    ...(plan ? { plan } : {}),
    ...(values['max-sessions'] ? { maxSessions: Number(values['max-sessions']) } : {}),
    ...(values['expect-nodes'] ? { expectNodes: Number(values['expect-nodes']) } : {}),
    ...(values['heartbeat-ms'] ? { heartbeatMs: Number(values['heartbeat-ms']) } : {}),
    ...(values['step-timeout-ms']
      ? { timeouts: { controlMs: 10_000, stepMs: Number(values['step-timeout-ms']) } }
      : {}),
    logger: true,
  });
  const { mesh } = coordinator;
  coordinator.app.log.info(
    {
      coordinator_id: mesh.identity.id,
      public_key: mesh.identity.publicKey,
      api_key: Boolean(process.env.CASCADIA_API_KEY),
    },
    `coordinator listening on ${coordinator.url}/v1`,
  );
  if (!process.env.CASCADIA_JOIN_TOKEN) {
    coordinator.app.log.info(
      'no CASCADIA_JOIN_TOKEN set: using the join token stored in the data directory (file join-token)',
    );
  }
  onShutdown(async () => {
    await coordinator.close();
  });
}
