import { GraphBuilder } from '../onnx/graph.js';
import type { PackedLinear } from '../onnx/quantize.js';
import { ropeInverseFrequencies, type ShardWeights } from './weights.js';

/** Names of the shard graph's inputs and outputs; the runtimes bind them by these names. */
export const ShardIO = {
  inputIds: 'input_ids',
  hiddenIn: 'hidden_in',
  seqlensK: 'seqlens_k',
  totalSequenceLength: 'total_sequence_length',
  hiddenOut: 'hidden_out',
  logits: 'logits',
  pastKey: (layer: number) => `past_key_${layer}`,
  pastValue: (layer: number) => `past_value_${layer}`,
  presentKey: (layer: number) => `present_key_${layer}`,
  presentValue: (layer: number) => `present_value_${layer}`,
} as const;

interface StoredTable {
  qweight: string;
  scales: string;
}

export interface ShardGraphOptions {
  /** MatMulNBits accuracy_level: 4 computes with int8 activations (fastest on CPU), 0 in f32. */
  accuracyLevel?: number;
  /** Rows of the rotary cos/sin tables (the longest context a session may reach). */
  maxContext: number;
}

/**
 * Builds one shard: [embeddings] → layers [layerStart, layerEnd) → [final norm + LM head].
 *
 * Inputs: `input_ids` int32 [1, S] (first shard) or `hidden_in` f32 [1, S, hidden];
 * `seqlens_k` int32 [1] = total length - 1; `total_sequence_length` int32 scalar;
 * per layer `past_key_<l>` / `past_value_<l>` f32 [1, kvHeads, capacity, headDim].
 * Outputs: `hidden_out` [1, S, hidden] or `logits` [1, vocab] (last position only), and
 * `present_key_<l>` / `present_value_<l>`, which the runtime binds to the same buffers as the
 * past inputs so GroupQueryAttention appends in place (no cache copy per step).
 */
export function buildShardGraph(weights: ShardWeights, opts: ShardGraphOptions): GraphBuilder {
  const c = weights.config;
  const g = new GraphBuilder(`shard_${weights.layerStart}_${weights.layerEnd}`);
  const accuracyLevel = opts.accuracyLevel ?? 4;
  const first = weights.embedding !== undefined;
  const last = weights.lmHead !== undefined;

  // A tied LM head reuses the embedding table's initializers instead of storing them twice.
  const storedTables = new Map<PackedLinear, StoredTable>();
  let x: string;
  if (first) {
    const ids = g.input(ShardIO.inputIds, 'int32', [1, 'sequence']);
    const table = weights.embedding as PackedLinear;
    x = embed(g, ids, table, c.hiddenSize, storedTables);
  } else {
    x = g.input(ShardIO.hiddenIn, 'float32', [1, 'sequence', c.hiddenSize]);
  }
  const seqlensK = g.input(ShardIO.seqlensK, 'int32', [1]);
  const total = g.input(ShardIO.totalSequenceLength, 'int32', []);

  const inv = ropeInverseFrequencies(c);
  const half = c.headDim / 2;
  const cos = new Float32Array(opts.maxContext * half);
  const sin = new Float32Array(opts.maxContext * half);
  for (let p = 0; p < opts.maxContext; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * (inv[i] as number);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  const cosCache = g.initializer('rope_cos', 'float32', [opts.maxContext, half], cos);
  const sinCache = g.initializer('rope_sin', 'float32', [opts.maxContext, half], sin);
  const eps = g.floats('rms_eps', [c.rmsNormEps], []);
  const two = g.floats('two', [2], []);

  const rmsNorm = (input: string, weight: Float32Array, hint: string): string => {
    // Pow → ReduceMean → Add → Sqrt → Div → Mul: the pattern ORT fuses into SimplifiedLayerNormalization.
    const sq = g.op('Pow', [input, two], `${hint}_sq`);
    const mean = g.op('ReduceMean', [sq], `${hint}_mean`, { axes: { ints: [-1] }, keepdims: { int: 1 } });
    const std = g.op('Sqrt', [g.op('Add', [mean, eps], `${hint}_var`)], `${hint}_std`);
    const normed = g.op('Div', [input, std], `${hint}_normed`);
    const w = g.initializer(`${hint}.weight`, 'float32', [weight.length], weight);
    return g.op('Mul', [normed, w], hint);
  };

  const linear = (input: string, p: PackedLinear, hint: string): string => {
    const kBlocks = p.k / p.blockSize;
    let stored = storedTables.get(p);
    if (!stored) {
      stored = {
        qweight: g.initializer(
          `${hint}.qweight`,
          'uint8',
          [p.n, kBlocks, (p.blockSize * p.bits) / 8],
          p.quants,
        ),
        scales: g.initializer(`${hint}.scales`, 'float32', [p.n * kBlocks], p.scales),
      };
      storedTables.set(p, stored);
    }
    const b = stored.qweight;
    const s = stored.scales;
    let y = g.op(
      'MatMulNBits',
      [input, b, s],
      hint,
      {
        K: { int: p.k },
        N: { int: p.n },
        bits: { int: p.bits },
        block_size: { int: p.blockSize },
        accuracy_level: { int: accuracyLevel },
      },
      'com.microsoft',
    );
    if (p.blockOffsets) {
      const blocksShape = g.ints64(`${hint}.block_shape`, [0, 0, kBlocks, p.blockSize]);
      const blocked = g.op('Reshape', [input, blocksShape], `${hint}_blocked`);
      const axes = g.ints64(`${hint}.sum_axes`, [-1]);
      const sums = g.op('ReduceSum', [blocked, axes], `${hint}_block_sums`, { keepdims: { int: 0 } });
      const offsets = g.initializer(`${hint}.block_offsets`, 'float32', [kBlocks, p.n], p.blockOffsets);
      const correction = g.op('MatMul', [sums, offsets], `${hint}_offset`);
      y = g.op('Add', [y, correction], `${hint}_exact`);
    }
    return y;
  };

  for (let i = 0; i < weights.layers.length; i++) {
    const l = weights.layerStart + i;
    const w = weights.layers[i];
    if (!w) throw new Error(`missing weights for layer ${l}`);
    const p = `layers.${l}`;
    const h = rmsNorm(x, w.inputNorm, `${p}.input_layernorm`);
    let qkv = linear(h, w.qkv, `${p}.self_attn.qkv_proj`);
    if (w.qkvBias) {
      const bias = g.initializer(`${p}.self_attn.qkv_bias`, 'float32', [w.qkvBias.length], w.qkvBias);
      qkv = g.op('Add', [qkv, bias], `${p}.self_attn.qkv_biased`);
    }
    const pastKey = g.input(ShardIO.pastKey(l), 'float32', [1, c.numKvHeads, 'capacity', c.headDim]);
    const pastValue = g.input(ShardIO.pastValue(l), 'float32', [1, c.numKvHeads, 'capacity', c.headDim]);
    const [attn, presentKey, presentValue] = g.node(
      'GroupQueryAttention',
      [qkv, '', '', pastKey, pastValue, seqlensK, total, cosCache, sinCache],
      [`${p}.self_attn.attn`, ShardIO.presentKey(l), ShardIO.presentValue(l)],
      {
        num_heads: { int: c.numHeads },
        kv_num_heads: { int: c.numKvHeads },
        do_rotary: { int: 1 },
        rotary_interleaved: { int: 0 },
        scale: { float: 1 / Math.sqrt(c.headDim) },
      },
      'com.microsoft',
    ) as [string, string, string];
    g.output(presentKey, 'float32', [1, c.numKvHeads, 'capacity', c.headDim]);
    g.output(presentValue, 'float32', [1, c.numKvHeads, 'capacity', c.headDim]);
    const o = linear(attn, w.o, `${p}.self_attn.o_proj`);
    x = g.op('Add', [x, o], `${p}.attn_residual`);
    const h2 = rmsNorm(x, w.postAttentionNorm, `${p}.post_attention_layernorm`);
    const gateUp = linear(h2, w.gateUp, `${p}.mlp.gate_up_proj`);
    const split = g.ints64(`${p}.mlp.split`, [c.intermediateSize, c.intermediateSize]);
    const [gate, up] = g.node('Split', [gateUp, split], [`${p}.mlp.gate`, `${p}.mlp.up`], {
      axis: { int: -1 },
    }) as [string, string];
    const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate], `${p}.mlp.gate_sigmoid`)], `${p}.mlp.silu`);
    const act = g.op('Mul', [silu, up], `${p}.mlp.act`);
    const down = linear(act, w.down, `${p}.mlp.down_proj`);
    x = g.op('Add', [x, down], `${p}.mlp_residual`);
  }

  if (last) {
    // Only the last position's logits are needed: slice before the final norm and the head.
    const lastIndex = g.ints64('last_position', [-1], []);
    const lastHidden = g.op('Gather', [x, lastIndex], 'last_hidden', { axis: { int: 1 } });
    const normed = rmsNorm(lastHidden, weights.finalNorm as Float32Array, 'norm');
    const logits = linear(normed, weights.lmHead as PackedLinear, 'lm_head');
    g.nodes.push({
      opType: 'Identity',
      domain: '',
      name: g.fresh('logits_identity'),
      inputs: [logits],
      outputs: [ShardIO.logits],
      attributes: {},
    });
    g.output(ShardIO.logits, 'float32', [1, c.vocabSize]);
  } else {
    g.nodes.push({
      opType: 'Identity',
      domain: '',
      name: g.fresh('hidden_identity'),
      inputs: [x],
      outputs: [ShardIO.hiddenOut],
      attributes: {},
    });
    g.output(ShardIO.hiddenOut, 'float32', [1, 'sequence', c.hiddenSize]);
  }
  return g;
}

/**
 * Token embedding from the 8-bit block table: Gather the token's blocks and scales, then
 * (q - 128) * scale. The same initializer serves as the tied LM head's MatMulNBits weight.
 */
function embed(
  g: GraphBuilder,
  ids: string,
  table: PackedLinear,
  hidden: number,
  stored: Map<PackedLinear, StoredTable>,
): string {
  const kBlocks = table.k / table.blockSize;
  const qweight = g.initializer(
    'embed_tokens.qweight',
    'uint8',
    [table.n, kBlocks, table.blockSize],
    table.quants,
  );
  const scales = g.initializer('embed_tokens.scales', 'float32', [table.n * kBlocks], table.scales);
  stored.set(table, { qweight, scales });
  const scaleShape = g.ints64('embed_tokens.scale_shape', [table.n, kBlocks, 1]);
  const scaleTable = g.op('Reshape', [scales, scaleShape], 'embed_tokens.scale_table');
  const q = g.op('Cast', [g.op('Gather', [qweight, ids], 'embed_q', { axis: { int: 0 } })], 'embed_qf', {
    to: { int: 1 },
  });
  const centered = g.op('Sub', [q, g.floats('embed_zero_point', [128], [])], 'embed_centered');
  const s = g.op('Gather', [scaleTable, ids], 'embed_scales', { axis: { int: 0 } });
  const values = g.op('Mul', [centered, s], 'embed_values');
  const outShape = g.ints64('embed_shape', [1, -1, hidden]);
  return g.op('Reshape', [values, outShape], 'embeddings');
}
