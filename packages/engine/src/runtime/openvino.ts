import { join } from 'node:path';
import type { CompiledModel, InferRequest, NodeAddon, Tensor } from 'openvino-node';
import { ShardIO } from '../shard/graph.js';
import type { ShardManifest } from '../shard/manifest.js';
import { SessionCache } from './session-cache.js';
import {
  type ForwardOptions,
  type ShardInput,
  type ShardOutput,
  type ShardRunner,
  validateForward,
} from './types.js';

/**
 * Loads openvino-node's native addon. Its npm install downloads the OpenVINO runtime from a
 * host outside the npm registry; where that did not happen, importing throws and the caller
 * falls back to onnxruntime with the reason.
 */
export async function loadOpenVinoAddon(): Promise<NodeAddon> {
  const mod = (await import('openvino-node')) as { addon: NodeAddon };
  return mod.addon;
}

/**
 * One session: its own infer request plus the present key/value tensors of the last step,
 * which stay in native memory and are set as the next step's past inputs (OpenVINO's
 * GroupQueryAttention concatenates past and new positions, so the past inputs are exact-length).
 */
class OpenVinoSession {
  length = 0;
  keys: Tensor[] | null = null;
  values: Tensor[] | null = null;
  constructor(readonly request: InferRequest) {}
}

export async function createOpenVinoRunner(
  dir: string,
  manifest: ShardManifest,
  opts: { device?: string; threads?: number; maxSessions?: number; addon?: NodeAddon },
): Promise<ShardRunner> {
  const ov = opts.addon ?? (await loadOpenVinoAddon());
  const core = new ov.Core();
  const available = core.getAvailableDevices();
  const device = (opts.device ?? 'CPU').toUpperCase();
  if (!available.some((d) => d === device || d.startsWith(`${device}.`))) {
    throw new Error(`OpenVINO device ${device} is not available (found: ${available.join(', ') || 'none'})`);
  }
  const model = await core.readModel(join(dir, manifest.graph));
  const config: Record<string, string | number> = {};
  if (opts.threads && device === 'CPU') config.INFERENCE_NUM_THREADS = opts.threads;
  const compiled: CompiledModel = await core.compileModel(model, device, config);
  const m = manifest;
  const layers = m.layerEnd - m.layerStart;
  const sessions = new SessionCache(
    opts.maxSessions ?? 16,
    () => new OpenVinoSession(compiled.createInferRequest()),
  );
  const outputName = m.hasLmHead ? ShardIO.logits : ShardIO.hiddenOut;

  const emptyCache = (): Tensor => new ov.Tensor('f32', [1, m.numKvHeads, 0, m.headDim]);
  /** Rewind: keep the first `length` positions (copies, only on replay). */
  const truncate = (t: Tensor, length: number): Tensor => {
    const [, heads = m.numKvHeads, cached = 0, dim = m.headDim] = t.getShape();
    const src = t.getData() as Float32Array;
    const out = new Float32Array(heads * length * dim);
    for (let h = 0; h < heads; h++)
      out.set(src.subarray(h * cached * dim, h * cached * dim + length * dim), h * length * dim);
    return new ov.Tensor('f32', [1, heads, length, dim], out);
  };

  const forward = (sessionId: string, input: ShardInput, fo: ForwardOptions): Promise<ShardOutput> =>
    sessions.run(sessionId, async (s) => {
      validateForward(m, s.length, input, fo);
      const { position, length } = fo;
      const total = position + length;
      const feeds: Record<string, Tensor> = {
        [ShardIO.seqlensK]: new ov.Tensor('i32', [1], Int32Array.of(total - 1)),
        [ShardIO.totalSequenceLength]: new ov.Tensor('i32', [], Int32Array.of(total)),
      };
      if ('tokens' in input) feeds[ShardIO.inputIds] = new ov.Tensor('i32', [1, length], input.tokens);
      else feeds[ShardIO.hiddenIn] = new ov.Tensor('f32', [1, length, m.hiddenSize], input.hidden);
      for (let i = 0; i < layers; i++) {
        const l = m.layerStart + i;
        let key = s.keys?.[i] ?? emptyCache();
        let value = s.values?.[i] ?? emptyCache();
        if (position === 0) {
          key = emptyCache();
          value = emptyCache();
        } else if (position < s.length) {
          key = truncate(key, position);
          value = truncate(value, position);
        }
        feeds[ShardIO.pastKey(l)] = key;
        feeds[ShardIO.pastValue(l)] = value;
      }
      s.length = position;
      const result = await s.request.inferAsync(feeds);
      const keys: Tensor[] = [];
      const values: Tensor[] = [];
      for (let i = 0; i < layers; i++) {
        const l = m.layerStart + i;
        const key = result[ShardIO.presentKey(l)];
        const value = result[ShardIO.presentValue(l)];
        if (!key || !value) throw new Error(`OpenVINO returned no KV cache for layer ${l}`);
        keys.push(key);
        values.push(value);
      }
      s.keys = keys;
      s.values = values;
      s.length = total;
      const out = result[outputName];
      if (!out) throw new Error(`OpenVINO returned no ${outputName}`);
      const data = Float32Array.from(out.getData() as Float32Array);
      return m.hasLmHead ? { logits: data } : { hidden: data };
    });

  return {
    manifest,
    engine: 'openvino',
    device,
    forward,
    dropSession: (id) => sessions.drop(id),
    close: async () => {
      sessions.clear();
    },
  };
}
