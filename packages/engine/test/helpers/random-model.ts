import { blocksOf, dequantize, type LlamaConfig, type WeightTensor } from '../../src/model/index.js';
import type { WeightReader } from '../../src/shard/weights.js';

/** Deterministic PRNG (mulberry32) so every run builds the same weights. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const smallConfig: LlamaConfig = {
  architecture: 'llama',
  vocabSize: 96,
  hiddenSize: 64,
  intermediateSize: 128,
  numLayers: 4,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  maxContext: 512,
  tieWordEmbeddings: true,
  attentionBias: false,
};

function f32Tensor(name: string, shape: number[], values: Float32Array): WeightTensor {
  return { name, shape, type: 'f32', data: new Uint8Array(values.buffer) };
}

/** An in-memory Llama-style model with random f32 weights (test-only stand-in for a model file). */
export function randomModel(config: LlamaConfig = smallConfig, seed = 1): WeightReader {
  const rand = seededRandom(seed);
  const tensors = new Map<string, WeightTensor>();
  const matrix = (name: string, rows: number, cols: number, scale: number) => {
    const v = new Float32Array(rows * cols);
    for (let i = 0; i < v.length; i++) v[i] = (rand() * 2 - 1) * scale;
    tensors.set(name, f32Tensor(name, [rows, cols], v));
  };
  const vector = (name: string, n: number, base: number, spread: number) => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = base + (rand() * 2 - 1) * spread;
    tensors.set(name, f32Tensor(name, [n], v));
  };
  const { hiddenSize: H, intermediateSize: I, numHeads, numKvHeads, headDim: D } = config;
  matrix('model.embed_tokens.weight', config.vocabSize, H, 1);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    vector(`${p}.input_layernorm.weight`, H, 1, 0.2);
    vector(`${p}.post_attention_layernorm.weight`, H, 1, 0.2);
    matrix(`${p}.self_attn.q_proj.weight`, numHeads * D, H, 0.25);
    matrix(`${p}.self_attn.k_proj.weight`, numKvHeads * D, H, 0.25);
    matrix(`${p}.self_attn.v_proj.weight`, numKvHeads * D, H, 0.25);
    matrix(`${p}.self_attn.o_proj.weight`, H, numHeads * D, 0.15);
    matrix(`${p}.mlp.gate_proj.weight`, I, H, 0.2);
    matrix(`${p}.mlp.up_proj.weight`, I, H, 0.2);
    matrix(`${p}.mlp.down_proj.weight`, H, I, 0.15);
    if (config.attentionBias) {
      vector(`${p}.self_attn.q_proj.bias`, numHeads * D, 0, 0.1);
      vector(`${p}.self_attn.k_proj.bias`, numKvHeads * D, 0, 0.1);
      vector(`${p}.self_attn.v_proj.bias`, numKvHeads * D, 0, 0.1);
    }
  }
  vector('model.norm.weight', H, 1, 0.2);
  return { config, tensors, dequantize, blocksOf };
}
