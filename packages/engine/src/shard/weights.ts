import type { FourBitBlocks, LlamaConfig, WeightTensor } from '../model/index.js';
import {
  concatLinears,
  type PackedLinear,
  packQ4Blocks,
  packQ8Blocks,
  q8_0Blocks,
  quantizeQ4Symmetric,
  quantizeQ8Symmetric,
  scaleLinear,
  sliceRows,
} from '../onnx/quantize.js';

/** What the shard builder needs from a model: its config and a way to read tensors. */
export interface WeightReader {
  config: LlamaConfig;
  tensors: Map<string, WeightTensor>;
  dequantize(t: WeightTensor): Float32Array;
  blocksOf(t: WeightTensor): FourBitBlocks | null;
}

export interface LayerWeights {
  inputNorm: Float32Array;
  postAttentionNorm: Float32Array;
  /**
   * Q, K and V fused along the output dimension, grouped per KV head: for KV head h, its
   * `group` query heads, then its key head, then its value head — so the graph splits them
   * with one reshape. Query rows are pre-multiplied by the attention scale 1/sqrt(headDim).
   */
  qkv: PackedLinear;
  qkvBias?: Float32Array;
  o: PackedLinear;
  /** Gate and up fused along the output dimension. */
  gateUp: PackedLinear;
  down: PackedLinear;
}

export interface ShardWeights {
  config: LlamaConfig;
  layerStart: number;
  layerEnd: number;
  /** 8-bit block table [vocab, hidden]; used by the first shard's Gather. */
  embedding?: PackedLinear;
  finalNorm?: Float32Array;
  /** 8-bit [vocab, hidden]; the embedding table itself when embeddings are tied. */
  lmHead?: PackedLinear;
  layers: LayerWeights[];
}

/** How each source tensor type becomes a MatMulNBits weight (reported in the manifest). */
export const QUANTIZATION_NOTES = {
  q4_0: '4-bit blocks carried over unchanged (scale, zero point 8)',
  q4_1: '4-bit blocks carried over unchanged; per-block min applied exactly as blockSums(x) x offsets',
  q4_k: '4-bit 32-element sub-blocks carried over unchanged; per-block min applied as for q4_1',
  q8_0: '8-bit blocks carried over unchanged (zero point 128)',
  float: 're-quantized: 4-bit, block 32, symmetric (scale = signed absmax / -8, zero point 8)',
  other: 'dequantized and re-quantized: 4-bit, block 32, symmetric',
} as const;

function tensor(reader: WeightReader, name: string): WeightTensor {
  const t = reader.tensors.get(name);
  if (!t) throw new Error(`model has no tensor ${name}`);
  return t;
}

function vector(reader: WeightReader, name: string): Float32Array {
  return reader.dequantize(tensor(reader, name));
}

function shape2(t: WeightTensor): [number, number] {
  const [n, k] = t.shape;
  if (t.shape.length !== 2 || n === undefined || k === undefined) {
    throw new Error(`tensor ${t.name} has shape [${t.shape}], expected a matrix`);
  }
  return [n, k];
}

/** A linear weight as MatMulNBits blocks: lossless for 4/8-bit GGUF blocks, Q4 symmetric otherwise. */
export function packLinear(reader: WeightReader, name: string): PackedLinear {
  const t = tensor(reader, name);
  const [n, k] = shape2(t);
  if (t.type === 'q8_0') {
    const { scales, values } = q8_0Blocks(t.data, n, k);
    return packQ8Blocks(n, k, scales, values);
  }
  const blocks = reader.blocksOf(t);
  if (blocks && blocks.blockSize === 32) {
    let mins = blocks.mins;
    if (!mins && blocks.zeroPoint !== undefined && blocks.zeroPoint !== 8) {
      const zp = blocks.zeroPoint;
      mins = blocks.scales.map((s: number) => -zp * s);
    }
    return packQ4Blocks(n, k, blocks.blockSize, blocks.scales, blocks.quants, mins);
  }
  return quantizeQ4Symmetric(reader.dequantize(t), n, k);
}

/** Embedding / LM head table as 8-bit blocks: lossless from Q8_0, symmetric 8-bit otherwise. */
function packTable(reader: WeightReader, name: string): PackedLinear {
  const t = tensor(reader, name);
  const [n, k] = shape2(t);
  if (t.type === 'q8_0') {
    const { scales, values } = q8_0Blocks(t.data, n, k);
    return packQ8Blocks(n, k, scales, values);
  }
  return quantizeQ8Symmetric(reader.dequantize(t), n, k);
}

/** Row order of the fused projection: per KV head, its query heads, key head and value head. */
function groupedRows(config: LlamaConfig): { part: 'q' | 'k' | 'v'; head: number }[] {
  const group = config.numHeads / config.numKvHeads;
  const rows: { part: 'q' | 'k' | 'v'; head: number }[] = [];
  for (let h = 0; h < config.numKvHeads; h++) {
    for (let g = 0; g < group; g++) rows.push({ part: 'q', head: h * group + g });
    rows.push({ part: 'k', head: h }, { part: 'v', head: h });
  }
  return rows;
}

function groupedQkv(config: LlamaConfig, q: PackedLinear, k: PackedLinear, v: PackedLinear): PackedLinear {
  const D = config.headDim;
  const parts = { q: scaleLinear(q, 1 / Math.sqrt(D)), k, v };
  return concatLinears(groupedRows(config).map(({ part, head }) => sliceRows(parts[part], head * D, D)));
}

function groupedQkvBias(
  config: LlamaConfig,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
): Float32Array {
  const D = config.headDim;
  const scale = 1 / Math.sqrt(D);
  const parts = { q: q.map((x) => x * scale), k, v };
  return concatVectors(
    groupedRows(config).map(({ part, head }) => parts[part].subarray(head * D, (head + 1) * D)),
  );
}

function concatVectors(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Reads and packs the weights of layers [layerStart, layerEnd) plus embeddings/head where due. */
export function prepareShardWeights(
  reader: WeightReader,
  layerStart: number,
  layerEnd: number,
): ShardWeights {
  const config = reader.config;
  if (!(layerStart >= 0 && layerEnd <= config.numLayers && layerStart < layerEnd)) {
    throw new Error(`invalid layer range [${layerStart}, ${layerEnd}) for ${config.numLayers} layers`);
  }
  if (config.headDim % 2 !== 0 || config.numHeads % config.numKvHeads !== 0) {
    throw new Error(
      `unsupported attention shape: head dimension ${config.headDim}, ${config.numHeads} heads, ${config.numKvHeads} KV heads`,
    );
  }
  const layers: LayerWeights[] = [];
  for (let l = layerStart; l < layerEnd; l++) {
    const p = `model.layers.${l}`;
    const layer: LayerWeights = {
      inputNorm: vector(reader, `${p}.input_layernorm.weight`),
      postAttentionNorm: vector(reader, `${p}.post_attention_layernorm.weight`),
      qkv: groupedQkv(
        config,
        packLinear(reader, `${p}.self_attn.q_proj.weight`),
        packLinear(reader, `${p}.self_attn.k_proj.weight`),
        packLinear(reader, `${p}.self_attn.v_proj.weight`),
      ),
      o: packLinear(reader, `${p}.self_attn.o_proj.weight`),
      gateUp: concatLinears(['gate_proj', 'up_proj'].map((m) => packLinear(reader, `${p}.mlp.${m}.weight`))),
      down: packLinear(reader, `${p}.mlp.down_proj.weight`),
    };
    if (reader.tensors.has(`${p}.self_attn.q_proj.bias`)) {
      const [q, k, v] = ['q_proj', 'k_proj', 'v_proj'].map((m) =>
        vector(reader, `${p}.self_attn.${m}.bias`),
      ) as [Float32Array, Float32Array, Float32Array];
      layer.qkvBias = groupedQkvBias(config, q, k, v);
    }
    layers.push(layer);
  }
  const weights: ShardWeights = { config, layerStart, layerEnd, layers };
  if (layerStart === 0) weights.embedding = packTable(reader, 'model.embed_tokens.weight');
  if (layerEnd === config.numLayers) {
    weights.finalNorm = vector(reader, 'model.norm.weight');
    const tied = config.tieWordEmbeddings || !reader.tensors.has('lm_head.weight');
    weights.lmHead =
      tied && weights.embedding
        ? weights.embedding
        : packTable(reader, tied ? 'model.embed_tokens.weight' : 'lm_head.weight');
  }
  return weights;
}

/**
 * The rotary inverse frequencies (HF rotate-half convention), with Llama 3.1 scaling when
 * configured (per-frequency factors from a GGUF file, or the config.json parameters).
 */
export function ropeInverseFrequencies(config: LlamaConfig): Float64Array {
  const half = config.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = config.ropeTheta ** (-(2 * i) / config.headDim);
  const factors = config.ropeFreqFactors;
  if (factors) {
    // GGUF files carry Llama 3.1 scaling as per-frequency divisors (equivalent to ropeScaling).
    if (factors.length !== half)
      throw new Error(`expected ${half} RoPE frequency factors, got ${factors.length}`);
    for (let i = 0; i < half; i++) inv[i] = (inv[i] as number) / (factors[i] as number);
    return inv;
  }
  const s = config.ropeScaling;
  if (s) {
    const lowWavelen = s.originalMaxContext / s.lowFreqFactor;
    const highWavelen = s.originalMaxContext / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const f = inv[i] as number;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowWavelen) inv[i] = f / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth =
          (s.originalMaxContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * (f / s.factor) + smooth * f;
      }
    }
  }
  return inv;
}
