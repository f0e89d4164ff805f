import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runNode } from '../node/run-node.js';
import { onShutdown } from './shutdown.js';

export async function nodeCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      coordinator: { type: 'string', default: 'http://127.0.0.1:9090' },
      shard: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '9100' },
      advertise: { type: 'string' },
      'key-file': { type: 'string' },
      engine: { type: 'string', default: 'auto' },
      device: { type: 'string' },
      threads: { type: 'string' },
      'max-sessions': { type: 'string' },
    },
  });
  if (!values.shard) throw new Error('--shard <shard dir> is required');
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
    shardDir: values.shard,
    keyFile: values['key-file'] ?? path.join(os.homedir(), '.config', 'cascadia', 'node.key'),
    host: values.host,
    port: Number(values.port),
    ...(values.advertise ? { advertiseHost: values.advertise } : {}),
    engine: engineName,
    ...(values.device ? { device: values.device } : {}),
    ...(values.threads ? { threads: Number(values.threads) } : {}),
    ...(values['max-sessions'] ? { maxSessions: Number(values['max-sessions']) } : {}),
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
