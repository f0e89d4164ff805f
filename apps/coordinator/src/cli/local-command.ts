/**
 * `cascadia local`: the whole mesh on this machine. Pulls the default model, exports it once into
 * N shards under the cache, starts a coordinator and N node processes on loopback, prints
 * `ready http://127.0.0.1:<port>/v1` once the model is servable, and stops every child on
 * SIGINT/SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { engine } from '../mesh/engine-binding.js';
import { boundariesOf, lmHeadLayerEquivalents, planLayerSplit } from '../mesh/placement.js';
import { ensureShardSet } from '../mesh/shard-cache.js';

export const DEFAULT_MODEL_ID = 'smollm2-135m-instruct';

/** Exports `model` into `n` even shards under the cache once; later calls reuse them. */
export function ensureShards(model: string, n: number, modelId = DEFAULT_MODEL_ID): Promise<string[]> {
  return ensureShardSet(model, { shards: n, modelId });
}

/**
 * `n` shards of `model` for equal nodes, compute-balanced: the last stage gets fewer layers for the
 * LM head it also runs (SmolLM2 over two nodes: layers 0-19 and 19-30).
 */
export async function balancedShards(
  model: string,
  n: number,
  modelId = DEFAULT_MODEL_ID,
): Promise<string[]> {
  const { config } = await (await engine()).openModel(model);
  const equal = Array.from({ length: n }, (_, i) => ({ node_id: String(i), memory_bytes: 1 }));
  const split = planLayerSplit(config.numLayers, equal, { lastStageExtra: lmHeadLayerEquivalents(config) });
  return ensureShardSet(model, { boundaries: boundariesOf(split), modelId });
}

/** The default model's GGUF: $SMOLLM2_GGUF, else the engine's pull (cached after the first time). */
export async function resolveDefaultModel(): Promise<string> {
  if (process.env.SMOLLM2_GGUF) return process.env.SMOLLM2_GGUF;
  const e = await engine();
  return e.pullDefaultModel();
}

function cacheRoot(): string {
  const models = process.env.CASCADIA_CACHE ?? path.join(os.homedir(), '.cache', 'cascadia', 'models');
  return path.dirname(models);
}

async function waitServable(
  url: string,
  modelId: string,
  children: ChildProcess[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (children.some((c) => c.exitCode !== null)) throw new Error('a mesh process exited during start-up');
    try {
      const res = await fetch(`${url}/health`);
      const body = (await res.json()) as { models?: string[] };
      if (body.models?.includes(modelId)) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the mesh did not become ready within ${timeoutMs} ms`);
}

export async function localCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string', default: '2' },
      port: { type: 'string', default: '9090' },
      'node-port': { type: 'string', default: '9100' },
      engine: { type: 'string', default: 'auto' },
      data: { type: 'string' },
    },
  });
  const n = Number(values.nodes);
  if (!Number.isInteger(n) || n < 1) throw new Error('--nodes must be a positive integer');
  const log = (msg: string) => process.stderr.write(`[cascadia local] ${msg}\n`);
  const gguf = await resolveDefaultModel();
  log(`model ${path.basename(gguf)}; exporting ${n} shard(s) into the cache if needed`);
  const shardDirs = await balancedShards(gguf, n);

  const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
  const joinToken = process.env.CASCADIA_JOIN_TOKEN ?? randomBytes(24).toString('base64url');
  const env = { ...process.env, CASCADIA_JOIN_TOKEN: joinToken };
  const dataDir = values.data ?? path.join(cacheRoot(), 'local');
  const children: ChildProcess[] = [];
  const start = (args: string[], name: string, onLine?: (line: string) => void) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        onLine?.(line);
        process.stderr.write(`[${name}] ${line}\n`);
      }
    };
    child.stdout?.on('data', prefix);
    child.stderr?.on('data', prefix);
    children.push(child);
    return child;
  };
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))),
    );
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  // The coordinator's log names its address (so `--port 0` works): nodes start once it is known.
  const url = await new Promise<string>((resolve, reject) => {
    const coordinator = start(
      ['coordinator', '--host', '127.0.0.1', '--port', values.port, '--data', dataDir],
      'coordinator',
      (line) => {
        const m = /coordinator listening on (http:\/\/[0-9.]+:\d+)\/v1/.exec(line);
        if (m?.[1]) resolve(m[1]);
      },
    );
    coordinator.once('exit', (code) => reject(new Error(`the coordinator exited with code ${code}`)));
  }).catch(async (error: Error) => {
    log(error.message);
    await stopAll(1);
    throw error;
  });
  const threads = Math.max(1, Math.floor(os.availableParallelism() / n));
  shardDirs.forEach((dir, i) => {
    const child = start(
      [
        'node',
        '--coordinator',
        url,
        '--shard',
        dir,
        '--port',
        // --node-port 0: every node takes a free port (tests); otherwise consecutive ports.
        String(Number(values['node-port']) === 0 ? 0 : Number(values['node-port']) + i),
        '--key-file',
        path.join(dataDir, `node-${i}.key`),
        '--engine',
        values.engine,
        '--threads',
        String(threads),
      ],
      `node ${i}`,
    );
    child.once('exit', (code) => {
      if (!stopping) {
        log(`node ${i} exited with code ${code}; stopping`);
        void stopAll(1);
      }
    });
  });
  children[0]!.once('exit', (code) => {
    if (!stopping) {
      log(`coordinator exited with code ${code}; stopping`);
      void stopAll(1);
    }
  });
  try {
    await waitServable(url, DEFAULT_MODEL_ID, children, 300_000);
  } catch (error) {
    log((error as Error).message);
    await stopAll(1);
    return;
  }
  process.stdout.write(`ready ${url}/v1\n`);
}
