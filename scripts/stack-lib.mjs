// Starts the whole local stack as child processes: the mesh (`cascadia local`: coordinator + 2
// nodes), the gateway (SQLite ledger, generated master key, a demo virtual key with a small
// budget) and the web app (`next start`). Used by scripts/up.mjs and by the web app's end-to-end
// test, which starts it on random free ports. Plain Node ESM, no build step.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The model the demos call, as the gateway sees it, and its id on the mesh. */
export const DEMO_MODEL = 'cascadia:smollm2-135m-instruct';
export const MESH_MODEL_ID = 'smollm2-135m-instruct';
/** Illustrative prices (USD per million tokens) so the usage views show real, non-zero costs. */
export const DEMO_PRICING = { input_per_million: 0.5, output_per_million: 1.5 };
/** `nodes` is the first node's port; the second node takes the next one. */
export const DEFAULT_PORTS = { coordinator: 9090, nodes: 9100, gateway: 4000, web: 3000 };

export class StackError extends Error {
  constructor(part, message) {
    super(`${part}: ${message}`);
    this.name = 'StackError';
    this.part = part;
  }
}

/** What must be built before the stack can start; each entry names the part and how to fix it. */
export function missingStackParts(root = REPO_ROOT) {
  const parts = [
    ['mesh (apps/coordinator)', 'apps/coordinator/dist/cli.js', 'the `cascadia` CLI is not built'],
    ['engine (packages/engine)', 'packages/engine/dist/index.js', 'the inference engine is not built'],
    ['gateway (apps/gateway)', 'apps/gateway/dist/cli.js', 'the `cascadia-gateway` CLI is not built'],
    ['web (apps/web)', 'apps/web/.next/BUILD_ID', 'the Next.js app is not built'],
  ];
  return parts
    .filter(([, file]) => !existsSync(join(root, file)))
    .map(([part, file, why]) => ({
      part,
      file,
      message: `${why} (${file} is missing; run \`pnpm turbo run build\`)`,
    }));
}

export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

async function portIsFree(port) {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}

async function freePortPair() {
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    if (port < 65535 && (await portIsFree(port + 1))) return port;
  }
  throw new StackError('mesh', 'found no two consecutive free ports for the nodes');
}

/** A child process whose output goes to a log file, with its last lines kept for error messages. */
function startChild(name, command, args, { cwd, env, logDir, onLine }) {
  const logPath = join(logDir, `${name}.log`);
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const tail = [];
  const lineHandler = (stream) => {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      log.write(chunk);
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        onLine?.(line);
      }
    });
  };
  lineHandler(child.stdout);
  lineHandler(child.stderr);
  const exited = new Promise((resolveExit) => {
    child.on('exit', (code, signal) => resolveExit({ code, signal }));
    child.on('error', (err) => resolveExit({ code: null, signal: null, error: err }));
  });
  exited.then(() => log.end());
  return { name, child, exited, tail, logPath, stopped: false };
}

async function stopChild(proc, graceMs = 10_000) {
  if (proc.stopped) return;
  proc.stopped = true;
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  try {
    process.kill(proc.child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = new Promise((r) => setTimeout(() => r('timeout'), graceMs));
  if ((await Promise.race([proc.exited, timer])) === 'timeout') {
    // The child did not stop in time: end its whole process group (it was started detached).
    try {
      process.kill(-proc.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await proc.exited;
  }
}

function describeExit(proc, result) {
  const how = result.error
    ? result.error.message
    : result.signal
      ? `signal ${result.signal}`
      : `exit code ${result.code}`;
  const tail = proc.tail.slice(-12).join('\n');
  return `stopped (${how}). Last output (full log: ${proc.logPath}):\n${tail}`;
}

/** Resolves when `check` returns a value; rejects when the process exits first or time runs out. */
async function waitFor(proc, part, what, timeoutMs, check, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let exited = null;
  proc.exited.then((result) => {
    exited = result;
  });
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (exited) throw new StackError(part, describeExit(proc, exited));
    if (Date.now() > deadline) {
      throw new StackError(
        part,
        `${what} did not happen within ${Math.round(timeoutMs / 1000)} s (log: ${proc.logPath})`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function httpOk(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

function runToCompletion(command, args, { cwd, env, timeoutMs = 60_000 }) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** The gateway config: the route alias for LiteLLM-style callers and prices for the demo model. */
export function gatewayConfig(coordinatorBase) {
  const effective_from = '2025-01-01T00:00:00Z';
  return {
    model_list: [
      {
        model_name: `cascadia/${MESH_MODEL_ID}`,
        litellm_params: { model: `openai/${MESH_MODEL_ID}`, api_base: `${coordinatorBase}/v1` },
      },
    ],
    pricing: [
      { model: DEMO_MODEL, ...DEMO_PRICING, effective_from },
      { model: `cascadia/${MESH_MODEL_ID}`, ...DEMO_PRICING, effective_from },
    ],
  };
}

/** The key (shown once) and its id from what `cascadia-gateway keys create --json` prints. */
export function createdKeyFromCliOutput(stdout) {
  try {
    const parsed = JSON.parse(stdout.slice(stdout.indexOf('{'), stdout.lastIndexOf('}') + 1));
    if (typeof parsed.key === 'string' && typeof parsed.id === 'string')
      return { key: parsed.key, id: parsed.id };
  } catch {
    // not the expected output: reported by the caller
  }
  return undefined;
}

/**
 * Starts mesh, gateway and web; returns their URLs, the demo key, and `stop()`. `ports` entries of
 * 0 pick free ports. `exited` resolves with the part that stopped on its own (the caller decides
 * whether to tear the rest down). Throws StackError naming the part that failed to start.
 */
export async function startStack(options = {}) {
  const root = options.root ?? REPO_ROOT;
  const dataDir = resolve(options.dataDir ?? join(root, '.cache/stack'));
  const logDir = join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const log = options.log ?? (() => {});
  const timeouts = { mesh: 20 * 60_000, gateway: 60_000, web: 60_000, ...options.timeouts };
  const budgetUsd = options.budgetUsd ?? 1;
  const missing = missingStackParts(root);
  if (missing.length > 0)
    throw new StackError(missing[0].part, missing.map((m) => `${m.part}: ${m.message}`).join('; '));

  const ports = { ...DEFAULT_PORTS, ...options.ports };
  for (const name of Object.keys(ports)) {
    if (ports[name]) continue;
    // The nodes take `nodes` and `nodes + 1`; look for a free pair.
    ports[name] = name === 'nodes' ? await freePortPair() : await freePort();
  }
  const baseEnv = { ...process.env, ...options.env };
  const node = process.execPath;
  const procs = [];
  const stop = async () => {
    for (const proc of [...procs].reverse()) await stopChild(proc);
  };

  try {
    // 1. The mesh: coordinator + two nodes on loopback, ready when the model is servable.
    log(
      `starting the mesh (coordinator on :${ports.coordinator}, 2 nodes); the first run exports the model shards`,
    );
    let meshUrl;
    const mesh = startChild(
      'mesh',
      node,
      [
        join(root, 'apps/coordinator/dist/cli.js'),
        'local',
        '--nodes',
        '2',
        '--port',
        String(ports.coordinator),
        '--node-port',
        String(ports.nodes),
        '--data',
        join(dataDir, 'mesh'),
      ],
      {
        cwd: root,
        env: baseEnv,
        logDir,
        onLine: (line) => {
          const match = /^ready (\S+)/.exec(line.trim());
          if (match) meshUrl = match[1];
        },
      },
    );
    procs.push(mesh);
    await waitFor(mesh, 'mesh', 'the "ready" line', timeouts.mesh, () => meshUrl);
    const coordinatorBase = meshUrl.replace(/\/v1\/?$/, '');
    log(`mesh ready at ${meshUrl}`);

    // 2. The gateway with its SQLite ledger and a config routing both model-string conventions.
    const masterKey = `sk-master-${randomBytes(24).toString('base64url')}`;
    const configPath = join(dataDir, 'gateway.json');
    writeFileSync(configPath, `${JSON.stringify(gatewayConfig(coordinatorBase), null, 2)}\n`);
    const gatewayEnv = {
      ...baseEnv,
      GATEWAY_MASTER_KEY: masterKey,
      DATABASE_URL: `file:${join(dataDir, 'gateway.db')}`,
      PORT: String(ports.gateway),
      HOST: '127.0.0.1',
      CASCADIA_API_BASE: `${coordinatorBase}/v1`,
    };
    const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
    const gatewayCli = join(root, 'apps/gateway/dist/cli.js');
    log(`starting the gateway on :${ports.gateway}`);
    const gateway = startChild('gateway', node, [gatewayCli, 'serve', '--config', configPath], {
      cwd: root,
      env: gatewayEnv,
      logDir,
    });
    procs.push(gateway);
    await waitFor(gateway, 'gateway', '/health answering', timeouts.gateway, () =>
      httpOk(`${gatewayUrl}/health`),
    );

    // 3. A demo virtual key with a small budget, created through the gateway CLI (printed once).
    /** Runs a `cascadia-gateway` management command against this stack's database. */
    const gatewayCliRun = (args) =>
      runToCompletion(node, [gatewayCli, ...args], { cwd: root, env: gatewayEnv });
    const created = await runToCompletion(
      node,
      [
        gatewayCli,
        'keys',
        'create',
        '--alias',
        `web-demo-${Date.now()}`,
        '--budget',
        String(budgetUsd),
        '--json',
      ],
      { cwd: root, env: { ...gatewayEnv, GATEWAY_URL: gatewayUrl } },
    );
    const createdKey = created.code === 0 ? createdKeyFromCliOutput(created.stdout) : undefined;
    const virtualKey = createdKey?.key;
    if (!virtualKey) {
      const stderrTail = created.stderr.trim().split('\n').slice(-5).join('\n');
      throw new StackError(
        'gateway',
        `could not create the demo virtual key (exit code ${created.code}): ${stderrTail}`,
      );
    }
    log(`created a demo virtual key with a $${budgetUsd} budget`);

    // 4. The web app, holding the key server-side.
    const webUrl = `http://127.0.0.1:${ports.web}`;
    log(`starting the web app on :${ports.web}`);
    const web = startChild(
      'web',
      node,
      [
        join(root, 'apps/web/node_modules/next/dist/bin/next'),
        'start',
        '-p',
        String(ports.web),
        '-H',
        '127.0.0.1',
      ],
      {
        cwd: join(root, 'apps/web'),
        env: {
          ...baseEnv,
          NODE_ENV: 'production',
          GATEWAY_URL: gatewayUrl,
          GATEWAY_VIRTUAL_KEY: virtualKey,
          DEMO_MODEL,
          CASCADIA_KEYS_URL: `${coordinatorBase}/v1/cascadia/keys`,
          CASCADIA_NODES_URL: `${coordinatorBase}/v1/cascadia/nodes`,
        },
        logDir,
      },
    );
    procs.push(web);
    await waitFor(web, 'web', 'the home page answering', timeouts.web, () => httpOk(`${webUrl}/`));

    const exited = Promise.race(
      procs.map((proc) =>
        proc.exited.then((result) => ({ part: proc.name, ...result, message: describeExit(proc, result) })),
      ),
    );
    return {
      urls: { web: webUrl, gateway: gatewayUrl, coordinator: coordinatorBase, mesh: meshUrl },
      ports,
      virtualKey,
      virtualKeyId: createdKey.id,
      masterKey,
      gatewayCli: gatewayCliRun,
      dataDir,
      logDir,
      exited: exited.then((result) =>
        procs.some((p) => p.name === result.part && p.stopped) ? null : result,
      ),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
