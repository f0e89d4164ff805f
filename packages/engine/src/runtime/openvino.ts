import { join } from 'node:path';
import type { InferRequest, NodeAddon, Tensor } from 'openvino-node';
import { ShardIO } from '../shard/graph.js';
import type { ShardManifest } from '../shard/manifest.js';
import { TokenEmbeddings } from './embedding.js';
import { createShardRunner, type GraphExecutor } from './runner.js';
import type { ShardRunner } from './types.js';

/**
 * Loads openvino-node's native addon. Its npm install downloads the OpenVINO runtime from a
 * host outside the npm registry; where that did not happen, importing throws and the caller
 * falls back to onnxruntime with the reason.
 */
export async function loadOpenVinoAddon(): Promise<NodeAddon> {
  const mod = (await import('openvino-node')) as { addon: NodeAddon };
  return mod.addon;
}

export interface OpenVinoOptions {
  /** CPU, GPU or NPU (OpenVINO device names; default CPU). */
  device?: string;
  threads?: number;
  maxSessions?: number;
  addon?: NodeAddon;
}

/**
 * The `openvino` engine: the same shard graph through OpenVINO's ONNX frontend. Inputs wrap the
 * runner's typed arrays (the KV cache included) without copying; infer requests are pooled so
 * concurrent runs never share request state.
 */
export async function createOpenVinoRunner(
  dir: string,
  manifest: ShardManifest,
  opts: OpenVinoOptions = {},
): Promise<ShardRunner> {
  const ov = opts.addon ?? (await loadOpenVinoAddon());
  const core = new ov.Core();
  const available = core.getAvailableDevices();
  const device = (opts.device ?? 'CPU').toUpperCase();
  if (!available.some((d) => d === device || d.startsWith(`${device}.`))) {
    throw new Error(`OpenVINO device ${device} is not available (found: ${available.join(', ') || 'none'})`);
  }
  const model = await core.readModel(join(dir, manifest.graph));
  if (manifest.kvCacheType === 'float16') {
    // openvino-node has no f16 tensors: the cache inputs and this step's keys/values are f32 on
    // the JavaScript side, converted to and from the graph's f16 by OpenVINO's pre/post-processing.
    const ppp = new ov.preprocess.PrePostProcessor(model);
    for (let l = manifest.layerStart; l < manifest.layerEnd; l++) {
      for (const name of [ShardIO.pastKey(l), ShardIO.pastValue(l)])
        ppp.input(name).tensor().setElementType('f32');
      for (const name of [ShardIO.newKey(l), ShardIO.newValue(l)])
        ppp.output(name).tensor().setElementType('f32');
    }
    ppp.build();
  }
  const config: Record<string, string | number> = {};
  if (opts.threads && device === 'CPU') config.INFERENCE_NUM_THREADS = opts.threads;
  const compiled = await core.compileModel(model, device, config);
  // Infer requests are reused; concurrent runs (different sessions) each take their own.
  const idle: InferRequest[] = [];
  const executor: GraphExecutor = {
    // An int8 cache is fed as it is; an f16 one as f32 (converted by the pre/post-processing).
    cacheType: manifest.kvCacheType === 'int8' ? 'int8' : 'float32',
    async run(feeds, outputs) {
      const request = idle.pop() ?? compiled.createInferRequest();
      const tensors: Record<string, Tensor> = {};
      for (const [name, f] of Object.entries(feeds)) {
        if (f.type === 'float16') throw new Error(`openvino feeds are never float16 (${name})`);
        const type = f.type === 'int32' ? 'i32' : f.type === 'int8' ? 'i8' : 'f32';
        tensors[name] = new ov.Tensor(type, f.dims, f.data);
      }
      try {
        await request.inferAsync(tensors);
        const out: Record<string, Float32Array | Int8Array> = {};
        // Copied out: the request (and its output memory) is reused by the next run.
        for (const name of outputs) {
          const data = request.getTensor(name).getData();
          out[name] =
            data instanceof Int8Array ? Int8Array.from(data) : Float32Array.from(data as Float32Array);
        }
        return out;
      } finally {
        idle.push(request);
      }
    },
    release: async () => {},
  };
  return createShardRunner(
    manifest,
    'openvino',
    device,
    executor,
    opts.maxSessions,
    TokenEmbeddings.open(dir, manifest),
  );
}
