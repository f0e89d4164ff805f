import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ShardManifest } from '../shard/manifest.js';
import { createShardRunner, type GraphExecutor } from './runner.js';
import type { ShardRunner } from './types.js';

export interface OnnxRuntimeOptions {
  threads?: number;
  maxSessions?: number;
}

/** The `onnxruntime` engine: onnxruntime-node on CPU, all graph optimizations, one session per shard. */
export async function createOnnxRuntimeRunner(
  dir: string,
  manifest: ShardManifest,
  opts: OnnxRuntimeOptions = {},
): Promise<ShardRunner> {
  const session = await ort.InferenceSession.create(join(dir, manifest.graph), {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: opts.threads ?? availableParallelism(),
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
    // Worker threads sleep instead of spinning between runs: spinning pools of idle shards in the
    // same process (or of other processes) steal the cores of the running one — measured 2-4x
    // slower decode on a shared 2-core machine. CASCADIA_ORT_SPIN=1 turns spinning back on.
    extra: { session: { intra_op: { allow_spinning: process.env.CASCADIA_ORT_SPIN === '1' ? '1' : '0' } } },
  });
  const executor: GraphExecutor = {
    async run(feeds, outputs) {
      const tensors: Record<string, ort.Tensor> = {};
      for (const [name, f] of Object.entries(feeds)) tensors[name] = new ort.Tensor(f.type, f.data, f.dims);
      const result = await session.run(tensors, outputs);
      const out: Record<string, Float32Array> = {};
      for (const [name, t] of Object.entries(result)) out[name] = t.data as Float32Array;
      return out;
    },
    release: () => session.release(),
  };
  return createShardRunner(manifest, 'onnxruntime', 'cpu', executor, opts.maxSessions);
}
