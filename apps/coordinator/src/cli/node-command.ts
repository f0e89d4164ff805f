import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runNode } from '../node/run-node.js';
import { onShutdown } from './shutdown.js';

/** Every option can also come from the environment (systemd EnvironmentFile); flags win. */
const env = process.env;
const opt = (value: string | undefined) => (value ? { default: value } : {});

export async function nodeCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      coordinator: { type: 'string', default: env.CASCADIA_COORDINATOR_URL ?? 'http://127.0.0.1:9090' },
      shard: { type: 'string', ...opt(env.CASCADIA_SHARD_DIR) },
      model: { type: 'string', ...opt(env.CASCADIA_MODEL) },
      'model-id': { type: 'string', ...opt(env.CASCADIA_MODEL_ID) },
      'shard-cache': { type: 'string', ...opt(env.CASCADIA_SHARD_CACHE) },
      host: { type: 'string', default: env.CASCADIA_NODE_HOST ?? '127.0.0.1' },
      port: { type: 'string', default: env.CASCADIA_NODE_PORT ?? '9100' },
      advertise: { type: 'string', ...opt(env.CASCADIA_ADVERTISE_HOST) },
      'key-file': { type: 'string', ...opt(env.CASCADIA_KEY_FILE) },
      engine: { type: 'string', default: env.CASCADIA_ENGINE ?? 'auto' },
      device: { type: 'string', ...opt(env.CASCADIA_DEVICE) },
      threads: { type: 'string', ...opt(env.CASCADIA_THREADS) },
      'max-sessions': { type: 'string', ...opt(env.CASCADIA_MAX_SESSIONS) },
      'busy-poll': { type: 'boolean', default: env.CASCADIA_BUSY_POLL === '1' },
    },
  });
  if (!values.shard && !values.model) {
    throw new Error(
      '--shard <shard dir> is required (or --model <gguf|hf dir> to take a layer range from the coordinator)',
    );
  }
  const joinToken = process.env.CASCADIA_JOIN_TOKEN;
  if (!joinToken)
    throw new Error('CASCADIA_JOIN_TOKEN must be set (the coordinator prints where its token is)');
  const engineName = values.engine as 'auto' | 'onnxruntime' | 'openvino';
  if (!['auto', 'onnxruntime', 'openvino'].includes(engineName))
    throw new Error(`unknown engine ${values.engine}`);
  const log = (msg: string, extra?: Record<string, unknown>) =>
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...extra })}\n`);
  const node = await runNode({
    coordinatorUrl: values.coordinator,
    joinToken,
    ...(values.shard ? { shardDir: values.shard } : {}),
    ...(values.model ? { model: values.model } : {}),
    ...(values['model-id'] ? { modelId: values['model-id'] } : {}),
    ...(values['shard-cache'] ? { cacheDir: values['shard-cache'] } : {}),
    keyFile: values['key-file'] ?? path.join(os.homedir(), '.config', 'cascadia', 'node.key'),
    host: values.host,
    port: Number(values.port),
    ...(values.advertise ? { advertiseHost: values.advertise } : {}),
    engine: engineName,
    ...(values.device ? { device: values.device } : {}),
    ...(values.threads ? { threads: Number(values.threads) } : {}),
    ...(values['max-sessions'] ? { maxSessions: Number(values['max-sessions']) } : {}),
    ...(values['busy-poll'] ? { busyPoll: true } : {}),
    log,
  });
  log('node serving', {
    node_id: node.nodeId,
    port: node.port,
    layers: [node.runner.manifest.layerStart, node.runner.manifest.layerEnd],
    engine: node.runner.engine,
    device: node.runner.device,
  });
  onShutdown(() => node.stop());
}
