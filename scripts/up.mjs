// `./stack up`: runs the whole stack locally (after `pnpm turbo run build`): the mesh (coordinator +
// 2 nodes serving SmolLM2), the gateway with a demo virtual key, and the web app on :3000.
// Ctrl-C (SIGINT) or SIGTERM stops everything; a part that fails to start or dies stops the rest
// and exits non-zero with the reason.
import { join } from 'node:path';
import { DEFAULT_PORTS, REPO_ROOT, StackError, startStack } from './stack-lib.mjs';

function portFromEnv(name, fallback) {
  const value = process.env[name];
  if (!value) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`[up] ${name}=${value} is not a port number`);
    process.exit(2);
  }
  return port;
}

const ports = {
  coordinator: portFromEnv('STACK_COORDINATOR_PORT', DEFAULT_PORTS.coordinator),
  nodes: portFromEnv('STACK_NODE_PORT', DEFAULT_PORTS.nodes),
  gateway: portFromEnv('STACK_GATEWAY_PORT', DEFAULT_PORTS.gateway),
  web: portFromEnv('STACK_WEB_PORT', DEFAULT_PORTS.web),
};
const dataDir = process.env.STACK_DATA_DIR || join(REPO_ROOT, '.cache/stack');
const log = (message) => console.log(`[up] ${message}`);

let stack;
let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  log('stopping…');
  if (stack) await stack.stop();
  process.exit(code);
}

// Signals arriving while parts are still starting are handled once startStack returns or fails.
let pendingSignal = null;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stack) void shutdown(0);
    else pendingSignal = signal;
  });
}

try {
  stack = await startStack({ ports, dataDir, log });
} catch (err) {
  if (pendingSignal) process.exit(0);
  const message = err instanceof StackError ? err.message : (err?.stack ?? String(err));
  console.error(`\n[up] the stack failed to start: ${message}`);
  console.error(`[up] logs are in ${join(dataDir, 'logs')}`);
  process.exit(1);
}
if (pendingSignal) await shutdown(0);

console.log(`
  Cascadia is running.
    web       ${stack.urls.web.replace('127.0.0.1', 'localhost')}
    gateway   ${stack.urls.gateway}   (OpenAI-compatible; master key in this process only)
    mesh      ${stack.urls.mesh}
  logs: ${stack.logDir}
  Press Ctrl-C to stop.
`);

const died = await stack.exited;
if (died && !stopping) {
  console.error(`\n[up] ${died.part} ${died.message}`);
  await shutdown(1);
}
