/**
 * Real mesh processes for end-to-end tests: `cascadia coordinator` and `cascadia node` from the
 * built CLI, on 127.0.0.1 with port 0, their addresses read from their logs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface MeshProcess {
  child: ChildProcess;
  /** every log line so far */
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** resolves with the exit code when the process ends by itself */
  exited: Promise<number | null>;
}

export function startProcess(args: string[], env: Record<string, string>): MeshProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) lines.push(line);
    for (const w of waiters) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const line of lines) {
            const m = line.match(pattern);
            if (m) {
              cleanup();
              resolve(m);
              return;
            }
          }
          if (child.exitCode !== null) {
            cleanup();
            reject(
              new Error(
                `process exited (${child.exitCode}) before ${pattern}:\n${lines.slice(-10).join('\n')}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}:\n${lines.slice(-10).join('\n')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', check);
        };
        waiters.add(check);
        child.once('exit', check);
        check();
      });
    },
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function startCoordinatorProcess(dataDir: string, joinToken: string, extra: string[] = []) {
  const proc = startProcess(
    [
      'coordinator',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data',
      dataDir,
      '--heartbeat-ms',
      '500',
      ...extra,
    ],
    {
      CASCADIA_JOIN_TOKEN: joinToken,
    },
  );
  const m = await proc.waitFor(/coordinator listening on (http:\/\/[0-9.]+:\d+)\/v1/);
  return { proc, url: m[1]! };
}

export async function startNodeProcess(
  coordinatorUrl: string,
  shardDir: string,
  keyFile: string,
  joinToken: string,
) {
  const proc = startProcess(
    [
      'node',
      '--coordinator',
      coordinatorUrl,
      '--shard',
      shardDir,
      '--port',
      '0',
      '--key-file',
      keyFile,
      '--threads',
      '1',
    ],
    { CASCADIA_JOIN_TOKEN: joinToken },
  );
  const m = await proc.waitFor(/"msg":"node serving","node_id":"([^"]+)"/);
  return { proc, nodeId: m[1]! };
}

/** Polls /health until `modelId` is servable by exactly the expected number of nodes. */
export async function waitServable(
  url: string,
  modelId: string,
  nodes: number,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const health = (await (await fetch(`${url}/health`)).json()) as { models: string[]; nodes: number };
      if (health.models.includes(modelId) && health.nodes === nodes) return;
    } catch {}
    if (Date.now() > deadline)
      throw new Error(`${modelId} not servable by ${nodes} nodes within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
