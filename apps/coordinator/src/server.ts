/**
 * The coordinator process: persistent identity under the data directory, the app listening on
 * its port, graceful close on SIGTERM/SIGINT (see cli.ts).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateKeyFile } from '@cascadia/receipts/node';
import type { FastifyInstance } from 'fastify';
import { buildCoordinatorApp } from './app.js';
import { coordinatorIdOf } from './auth/identity.js';
import { MeshService, type MeshServiceOptions } from './mesh/mesh-service.js';

export interface CoordinatorServerOptions {
  host?: string;
  port?: number;
  dataDir?: string;
  joinToken?: string;
  apiKey?: string;
  maxSessions?: number;
  heartbeatMs?: number;
  plan?: Record<string, string[]>;
  expectNodes?: number;
  timeouts?: MeshServiceOptions['timeouts'];
  defaultMaxTokens?: number;
  maxPromptTokens?: number;
  bodyLimit?: number;
  logger?: boolean;
}

export interface RunningCoordinator {
  app: FastifyInstance;
  mesh: MeshService;
  url: string;
  port: number;
  joinToken: string;
  close(): Promise<void>;
}

export function defaultDataDir(): string {
  return process.env.CASCADIA_DATA ?? path.join(os.homedir(), '.local', 'share', 'cascadia', 'coordinator');
}

/** The join token from options/env, or one generated once and kept (mode 0600) in the data dir. */
async function resolveJoinToken(dataDir: string, given?: string): Promise<string> {
  if (given) return given;
  const file = path.join(dataDir, 'join-token');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const token = randomBytes(24).toString('base64url');
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    return token;
  }
}

export async function startCoordinator(opts: CoordinatorServerOptions = {}): Promise<RunningCoordinator> {
  const dataDir = path.resolve(opts.dataDir ?? defaultDataDir());
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const keys = await loadOrCreateKeyFile(path.join(dataDir, 'coordinator.key'));
  const joinToken = await resolveJoinToken(dataDir, opts.joinToken);
  const mesh = new MeshService({
    identity: { id: coordinatorIdOf(keys.publicKey), publicKey: keys.publicKey, privateKey: keys.privateKey },
    joinToken,
    dataDir,
    ...(opts.maxSessions ? { maxSessions: opts.maxSessions } : {}),
    ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
    ...(opts.plan ? { plan: opts.plan } : {}),
    ...(opts.expectNodes ? { expectNodes: opts.expectNodes } : {}),
    ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
  });
  const app = await buildCoordinatorApp({
    mesh,
    apiKey: opts.apiKey,
    ...(opts.defaultMaxTokens ? { defaultMaxTokens: opts.defaultMaxTokens } : {}),
    ...(opts.maxPromptTokens ? { maxPromptTokens: opts.maxPromptTokens } : {}),
    ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}),
    logger: opts.logger
      ? {
          level: process.env.LOG_LEVEL ?? 'info',
          redact: ['req.headers.authorization', 'req.headers.cookie'],
        }
      : false,
  });
  const host = opts.host ?? '127.0.0.1';
  await app.listen({ host, port: opts.port ?? 9090 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 9090);
  return {
    app,
    mesh,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    joinToken,
    close: () => app.close(),
  };
}
