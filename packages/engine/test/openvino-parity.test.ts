import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenEmbeddings } from '../src/runtime/embedding.js';
import { loadShard } from '../src/runtime/load.js';
import type { ShardRunner } from '../src/runtime/types.js';
import { exportShards } from '../src/shard/export.js';
import { writeShards } from '../src/shard/write.js';
import { randomModel, smallConfig } from './helpers/random-model.js';
import { randomSource } from './helpers/random-shards.js';
import { relativeError } from './helpers/relative-error.js';
import { SMOLLM2_MISSING_REASON, smollm2Path } from './support/smollm2.js';

const script = fileURLToPath(new URL('./openvino_parity.py', import.meta.url));
const probe = spawnSync('python3', ['-c', 'import openvino, numpy; print(openvino.get_version())'], {
  encoding: 'utf8',
});
const unavailable =
  probe.error?.message ?? (probe.status !== 0 ? (probe.stderr.trim().split('\n').pop() ?? 'failed') : null);
if (unavailable) {
  console.warn(
    `OpenVINO parity test skipped: python3 with openvino and numpy is unavailable (${unavailable})`,
  );
}

interface Step {
  input: { tokens: Int32Array } | { hidden: Float32Array };
  position: number;
  length: number;
}

function runOpenVino(dir: string, runner: ShardRunner, rawSteps: Step[]): Float32Array[] {
  const m = runner.manifest;
  // A first shard's graph takes hidden states: token rows come from its embedding table, as the
  // runtime reads them.
  const embeddings = TokenEmbeddings.open(dir, m);
  const steps = rawSteps.map((s) =>
    embeddings && 'tokens' in s.input ? { ...s, input: { hidden: embeddings.lookup(s.input.tokens) } } : s,
  );
  embeddings?.close();
  const layers = Array.from({ length: m.layerEnd - m.layerStart }, (_, i) => m.layerStart + i);
  const request = {
    model: join(dir, m.graph),
    kv_heads: m.numKvHeads,
    capacity: 24,
    head_dim: m.headDim,
    layers,
    main_output: m.hasLmHead ? 'logits' : 'hidden_out',
    kv_cache: m.kvCacheType ?? 'float32',
    steps: steps.map((s) => ({
      input_name: 'tokens' in s.input ? 'input_ids' : 'hidden_in',
      dtype: 'tokens' in s.input ? 'int32' : 'float32',
      shape: 'tokens' in s.input ? [1, s.length] : [1, s.length, m.hiddenSize],
      data: Array.from('tokens' in s.input ? s.input.tokens : s.input.hidden),
      position: s.position,
    })),
  };
  const r = spawnSync('python3', [script], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`openvino run failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { outputs: number[][] }).outputs.map((o) => Float32Array.from(o));
}

describe.skipIf(unavailable !== null)(
  'exported shards under OpenVINO (Python runtime) match onnxruntime',
  () => {
    let dir: string;
    const runners: ShardRunner[] = [];

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ov-parity-'));
      const bias = randomModel({ ...smallConfig, architecture: 'qwen2', attentionBias: true }, 7);
      await writeShards(randomModel(), randomSource, {
        outDir: join(dir, 'llama'),
        boundaries: [0, 2, 4],
        accuracyLevel: 0,
      });
      await writeShards(bias, randomSource, {
        outDir: join(dir, 'qwen2'),
        boundaries: [0, 4],
        accuracyLevel: 0,
      });
      for (const d of ['llama/shard-0-of-2', 'llama/shard-1-of-2', 'qwen2/shard-0-of-1']) {
        runners.push(await loadShard(join(dir, d), { engine: 'onnxruntime', threads: 1 }));
      }
    });

    afterAll(async () => {
      for (const r of runners) await r.close();
      await rm(dir, { recursive: true, force: true });
    });

    const prompt = Int32Array.from([5, 9, 33, 71, 2, 40]);

    it('prefill and two decode steps agree on every shard (relative error < 1e-3)', async () => {
      const [first, second, whole] = runners as [ShardRunner, ShardRunner, ShardRunner];
      const tokenSteps: Step[] = [
        { input: { tokens: prompt }, position: 0, length: prompt.length },
        { input: { tokens: Int32Array.of(12) }, position: prompt.length, length: 1 },
        { input: { tokens: Int32Array.of(80) }, position: prompt.length + 1, length: 1 },
      ];
      for (const [runner, subdir] of [
        [first, 'llama/shard-0-of-2'],
        [whole, 'qwen2/shard-0-of-1'],
      ] as const) {
        const ov = runOpenVino(join(dir, subdir), runner, tokenSteps);
        for (const [i, step] of tokenSteps.entries()) {
          const out = await runner.forward('p', step.input, step);
          const ort = 'logits' in out ? out.logits : out.hidden;
          expect(ov[i]?.length).toBe(ort.length);
          expect(relativeError(ov[i] as Float32Array, ort)).toBeLessThan(1e-3);
        }
      }
      // The second shard gets the first shard's hidden states as input.
      const hiddenSteps: Step[] = [];
      for (const step of tokenSteps) {
        const h = await first.forward('q', step.input, step);
        if (!('hidden' in h)) throw new Error('expected hidden states');
        hiddenSteps.push({ input: { hidden: h.hidden }, position: step.position, length: step.length });
      }
      const ov = runOpenVino(join(dir, 'llama/shard-1-of-2'), second, hiddenSteps);
      for (const [i, step] of hiddenSteps.entries()) {
        const out = await second.forward('q', step.input, step);
        if (!('logits' in out)) throw new Error('expected logits');
        expect(relativeError(ov[i] as Float32Array, out.logits)).toBeLessThan(1e-3);
      }
    });
  },
);

const smollm2 = smollm2Path();
if (!smollm2 && !unavailable) console.warn(`OpenVINO parity on SmolLM2 skipped: ${SMOLLM2_MISSING_REASON}`);

describe.skipIf(unavailable !== null || !smollm2)(
  'SmolLM2-135M shards under OpenVINO match onnxruntime',
  () => {
    let dir: string;
    const runners: ShardRunner[] = [];

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ov-smollm2-'));
      await exportShards({ model: smollm2 as string, outDir: dir, shards: 2 });
      for (const d of ['shard-0-of-2', 'shard-1-of-2']) {
        runners.push(await loadShard(join(dir, d), { engine: 'onnxruntime' }));
      }
    }, 120_000);

    afterAll(async () => {
      for (const r of runners) await r.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('both exported shards give the same hidden states and logits (prefill + decode)', async () => {
      const [first, second] = runners as [ShardRunner, ShardRunner];
      const prompt = Int32Array.from([1, 504, 3458, 282, 4649, 314, 253, 14840]);
      const tokenSteps: Step[] = [
        { input: { tokens: prompt }, position: 0, length: prompt.length },
        { input: { tokens: Int32Array.of(3102) }, position: prompt.length, length: 1 },
      ];
      const hiddenSteps: Step[] = [];
      const ortHidden: Float32Array[] = [];
      for (const step of tokenSteps) {
        const h = await first.forward('s', step.input, step);
        if (!('hidden' in h)) throw new Error('expected hidden states');
        ortHidden.push(h.hidden);
        hiddenSteps.push({ input: { hidden: h.hidden }, position: step.position, length: step.length });
      }
      const ovHidden = runOpenVino(join(dir, 'shard-0-of-2'), first, tokenSteps);
      const ovLogits = runOpenVino(join(dir, 'shard-1-of-2'), second, hiddenSteps);
      for (const [i, step] of hiddenSteps.entries()) {
        // onnxruntime runs MatMulNBits with int8 activations (accuracy level 4), OpenVINO in float.
        expect(relativeError(ovHidden[i] as Float32Array, ortHidden[i] as Float32Array)).toBeLessThan(5e-2);
        const out = await second.forward('s', step.input, step);
        if (!('logits' in out)) throw new Error('expected logits');
        const ov = ovLogits[i] as Float32Array;
        expect(relativeError(ov, out.logits)).toBeLessThan(5e-2);
        expect(argmaxOf(ov)).toBe(argmaxOf(out.logits));
      }
    }, 120_000);
  },
);

function argmaxOf(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  return best;
}
