import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ShardManifest } from '../shard/manifest.js';
import { TokenEmbeddings } from './embedding.js';
import { createShardRunner, type GraphExecutor, type GraphFeed, type GraphResult } from './runner.js';
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
    // With an int8 cache, attention has more intermediates of chunk × capacity elements than the
    // float paths. Planned as one memory-pattern block per input shape, they kept 15-20 MB more of
    // onnxruntime's arena through a 1024-token prefill (SmolLM2, peak over the process's base
    // 249 → 229-236 MB without patterns); allocating them one by one cost about 4% of decode
    // speed at context 64 and none at 1024.
    ...(manifest.kvCacheType === 'int8' ? { enableMemPattern: false } : {}),
    // Worker threads sleep instead of spinning between runs: spinning pools of idle shards in the
    // same process (or of other processes) steal the cores of the running one — measured 2-4x
    // slower decode on a shared 2-core machine. CASCADIA_ORT_SPIN=1 turns spinning back on.
    extra: { session: { intra_op: { allow_spinning: process.env.CASCADIA_ORT_SPIN === '1' ? '1' : '0' } } },
  });
  const executor: GraphExecutor = {
    cacheType: manifest.kvCacheType ?? 'float32',
    async run(feeds, outputs) {
      const tensors: Record<string, ort.Tensor> = {};
      for (const [name, f] of Object.entries(feeds)) tensors[name] = toTensor(f);
      const result = await session.run(tensors, outputs);
      const out: GraphResult = {};
      for (const [name, t] of Object.entries(result)) {
        const data = t.data as ArrayBufferView;
        out[name] =
          t.type === 'float16'
            ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
            : (data as Float32Array | Int8Array);
      }
      return out;
    },
    release: () => session.release(),
  };
  return createShardRunner(
    manifest,
    'onnxruntime',
    'cpu',
    executor,
    opts.maxSessions,
    TokenEmbeddings.open(dir, manifest),
  );
}

/**
 * A float16 tensor over `bits` without copying. onnxruntime-common turns a Uint16Array into a
 * Float16Array view where the runtime has one (Node 24), but onnxruntime-node's native binding
 * only accepts a Uint16Array for float16 data (it reads a Float16Array as 0 bytes), so the
 * tensor is pointed back at the Uint16Array view of the same memory.
 */
function toTensor(f: GraphFeed): ort.Tensor {
  return f.type === 'float16' ? float16Tensor(f.data, f.dims) : new ort.Tensor(f.type, f.data, f.dims);
}

function float16Tensor(bits: Uint16Array, dims: number[]): ort.Tensor {
  const tensor = new ort.Tensor('float16', bits, dims);
  (tensor as unknown as { cpuData: Uint16Array }).cpuData = bits;
  return tensor;
}
