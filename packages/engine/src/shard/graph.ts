import { ElementType, GraphBuilder } from '../onnx/graph.js';
import type { PackedLinear } from '../onnx/quantize.js';
import { ropeInverseFrequencies, type ShardWeights } from './weights.js';

/** Names of the shard graph's inputs and outputs; the runtimes bind them by these names. */
export const ShardIO = {
  /** First shards exported before the runtime looked up embeddings: token ids [1, S]. */
  inputIds: 'input_ids',
  hiddenIn: 'hidden_in',
  positions: 'positions',
  attentionMask: 'attention_mask',
  hiddenOut: 'hidden_out',
  logits: 'logits',
  pastKey: (layer: number) => `past_key_${layer}`,
  pastValue: (layer: number) => `past_value_${layer}`,
  newKey: (layer: number) => `new_key_${layer}`,
  newValue: (layer: number) => `new_value_${layer}`,
  /** int8 cache: per-position scales of the cached keys / values. */
  pastKeyScale: (layer: number) => `past_key_scale_${layer}`,
  pastValueScale: (layer: number) => `past_value_scale_${layer}`,
  /** int8 cache: this step's keys and values together, and their per-row scales. */
  newKeyValue: (layer: number) => `new_kv_${layer}`,
  newKeyValueScale: (layer: number) => `new_kv_scale_${layer}`,
} as const;

interface StoredTable {
  qweight: string;
  scales: string;
}

/**
 * Largest magnitude of an int8 cache value: rows are scaled to [-63, 63], not [-127, 127]. On x86
 * CPUs without VNNI, onnxruntime's u8 × s8 integer GEMM adds pairs of products in saturating
 * 16-bit lanes; with u8 activations (up to 255) the pair 2 × 255 × 63 still fits, 2 × 255 × 127
 * does not. Measured on SmolLM2 (largest logit difference from an f16 cache, relative to the
 * largest logit, mean over 40 decode steps at context 1000): f32 cache 2.3%, int8 within ±63 3.0%,
 * within ±127 through the saturating GEMM 17.8%.
 */
export const INT8_CACHE_MAX = 63;

/** Element type of the KV cache the graph reads and of the keys/values it returns. */
export type KvCacheType = 'float16' | 'float32' | 'int8';

export interface ShardGraphOptions {
  /** MatMulNBits accuracy_level: 4 computes with int8 activations (fastest on CPU), 0 in f32. */
  accuracyLevel?: number;
  /**
   * KV cache element type (default float32). A float16 cache halves the cache's memory and the
   * bytes each decode step streams through attention; the graph casts it to f32 per layer and
   * computes attention in f32, and this step's keys/values are rounded to f16 before they are
   * used, so attention sees the same values whether a position is new or cached. An int8 cache
   * (see `int8Attention`) quarters it and never widens it to f32.
   */
  kvCacheType?: KvCacheType;
  /** Rows of the rotary cos/sin tables (the longest context a session may reach). */
  maxContext: number;
}

/**
 * Builds one shard: layers [layerStart, layerEnd) → [final norm + LM head].
 *
 * Inputs: `hidden_in` f32 [1, S, hidden] — for the first shard the token embeddings, which the
 * runtime reads from the table stored next to the graph (see `ShardManifest.embeddingTable`):
 * a gather inside the graph would map the table's file pages, and every 4 KB page a looked-up
 * row lands on (plus the kernel's fault-around pages) stays resident, about 12 MB for a
 * 1024-token prompt of varied tokens; reading rows with a file read costs no resident memory;
 * `positions` int32 [S] (absolute positions, for RoPE); `attention_mask` f32
 * [1, 1, 1, capacity + S, S] (additive, key index by query: 0 where query s may see the cached
 * position j < position or the new position t <= s, -inf elsewhere); per layer the KV cache
 * `past_key_<l>` / `past_value_<l>` [1, kvHeads, 1, capacity, headDim] (f32 or f16, see
 * `kvCacheType`), read only.
 * Outputs: `hidden_out` [1, S, hidden] or `logits` [1, vocab] (last position only), and per
 * layer only this step's rotated keys and values `new_key_<l>` / `new_value_<l>`
 * [1, kvHeads, 1, S, headDim] in the cache's element type, which the runtime writes into its
 * cache buffers.
 *
 * Attention is spelled out with standard ops rather than GroupQueryAttention: that op's in-place
 * cache needs the cache as a graph output, and onnxruntime-node copies every output into a new
 * JavaScript buffer after each run, so each decode step would copy the whole cache. Here the
 * cache is only ever read; scores are computed as K · qᵀ so the cache keeps its natural
 * [position, headDim] layout and appending a step is one contiguous write per KV head.
 */
export function buildShardGraph(weights: ShardWeights, opts: ShardGraphOptions): GraphBuilder {
  const c = weights.config;
  const g = new GraphBuilder(`shard_${weights.layerStart}_${weights.layerEnd}`);
  const accuracyLevel = opts.accuracyLevel ?? 4;
  const kvType = opts.kvCacheType ?? 'float32';
  /** A KV tensor as f32 for attention (a no-op for an f32 cache). */
  const kvToF32 = (kv: string, hint: string): string =>
    kvType !== 'float16' ? kv : g.op('Cast', [kv], hint, { to: { int: ElementType.float32 } });
  const last = weights.lmHead !== undefined;

  // Linears sharing one packed table share its initializers. A tied LM head's bytes are the
  // embedding table's, stored once in the data file (the runtime reads embedding rows from
  // them); onnxruntime drops the head's mapping once it has prepacked it.
  const storedTables = new Map<PackedLinear, StoredTable>();
  let x = g.input(ShardIO.hiddenIn, 'float32', [1, 'sequence', c.hiddenSize]);
  const positions = g.input(ShardIO.positions, 'int32', ['sequence']);
  const mask = g.input(ShardIO.attentionMask, 'float32', [1, 1, 1, 'keys', 'sequence']);

  // RoPE tables over the full head width: cos = [cos, cos], sinSigned = [-sin, sin], so that
  // rope(x) = x * cos + concat(x2, x1) * sinSigned (HF rotate-half).
  const inv = ropeInverseFrequencies(c);
  const half = c.headDim / 2;
  const D = c.headDim;
  const cos = new Float32Array(opts.maxContext * D);
  const sinSigned = new Float32Array(opts.maxContext * D);
  for (let p = 0; p < opts.maxContext; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * (inv[i] as number);
      cos[p * D + i] = Math.cos(angle);
      cos[p * D + half + i] = Math.cos(angle);
      sinSigned[p * D + i] = -Math.sin(angle);
      sinSigned[p * D + half + i] = Math.sin(angle);
    }
  }
  const cosTable = g.initializer('rope_cos', 'float32', [opts.maxContext, D], cos);
  const sinTable = g.initializer('rope_sin_signed', 'float32', [opts.maxContext, D], sinSigned);
  // This step's rows, shaped to broadcast over [1, S, kvHeads, group + 1, headDim].
  const ropeShape = g.ints64('rope_shape', [1, -1, 1, 1, D]);
  const stepCos = g.op(
    'Reshape',
    [g.op('Gather', [cosTable, positions], 'rope_cos_rows', { axis: { int: 0 } }), ropeShape],
    'step_cos',
  );
  const stepSin = g.op(
    'Reshape',
    [g.op('Gather', [sinTable, positions], 'rope_sin_rows', { axis: { int: 0 } }), ropeShape],
    'step_sin',
  );
  const group = c.numHeads / c.numKvHeads;
  const qkvShape = g.ints64('qkv_shape', [1, -1, c.numKvHeads, group + 2, D]);
  const qkvSplit = g.ints64('qkv_split', [group + 1, 1]);
  const halves = g.ints64('rope_halves', [half, half]);
  const qkSplit = g.ints64('qk_split', [group, 1]);
  const outShape = g.ints64('attn_out_shape', [1, -1, c.numHeads * D]);
  // [capacity, S] from the mask's shape [1, 1, 1, capacity + S, S], to split attention weights.
  const maskShape = g.op('Shape', [mask], 'mask_shape');
  const keys = g.op('Slice', [maskShape, g.ints64('keys_at', [3]), g.ints64('keys_end', [4])], 'keys');
  const steps = g.op('Slice', [maskShape, g.ints64('steps_at', [4]), g.ints64('steps_end', [5])], 'steps');
  const capacity = g.op('Sub', [keys, steps], 'capacity');
  const splitSizes = g.op('Concat', [capacity, steps], 'probs_split', { axis: { int: 0 } });
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

  /** [K, K / blockSize] of 0/1: x · it = per-block sums of x (one shared constant per K). */
  const blockSums = new Map<number, string>();
  const blockSumMatrix = (k: number, blockSize: number): string => {
    let name = blockSums.get(k);
    if (!name) {
      const kBlocks = k / blockSize;
      const m = new Float32Array(k * kBlocks);
      for (let i = 0; i < k; i++) m[i * kBlocks + Math.floor(i / blockSize)] = 1;
      name = g.initializer(`block_sum_${k}`, 'float32', [k, kBlocks], m);
      blockSums.set(k, name);
    }
    return name;
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
      const sums = g.op('MatMul', [input, blockSumMatrix(p.k, p.blockSize)], `${hint}_block_sums`);
      const offsets = g.initializer(`${hint}.block_offsets`, 'float32', [kBlocks, p.n], p.blockOffsets);
      const correction = g.op('MatMul', [sums, offsets], `${hint}_offset`);
      y = g.op('Add', [y, correction], `${hint}_exact`);
    }
    return y;
  };

  /** RoPE (HF rotate-half) on [..., headDim]. */
  const rope = (x: string, hint: string): string => {
    const [x1, x2] = g.node('Split', [x, halves], [`${hint}_x1`, `${hint}_x2`], { axis: { int: -1 } }) as [
      string,
      string,
    ];
    const rotated = g.op('Concat', [x2, x1], `${hint}_rotated`, { axis: { int: -1 } });
    return g.op(
      'Add',
      [g.op('Mul', [x, stepCos], `${hint}_cos`), g.op('Mul', [rotated, stepSin], `${hint}_sin`)],
      hint,
    );
  };

  /**
   * This step's keys or values [1, S, kv, 1, D] as the graph output `name` in the cache layout
   * [1, kv, 1, S, D] and element type; returns them as attention uses them (f32, after any
   * rounding to the cache's type).
   */
  const kvOutput = (x: string, name: string, hint: string): string => {
    const perm = { perm: { ints: [0, 2, 3, 1, 4] } };
    const dims = [1, c.numKvHeads, 1, 'sequence', D];
    if (kvType === 'float32') {
      g.node('Transpose', [x], [name], perm);
      g.output(name, 'float32', dims);
      return name;
    }
    const t = g.op('Transpose', [x], `${hint}_t`, perm);
    g.node('Cast', [t], [name], { to: { int: ElementType.float16 } });
    g.output(name, 'float16', dims);
    return kvToF32(name, `${hint}_rounded`);
  };

  /**
   * The fused projection grouped per KV head ([1, S, kv, group + 2, D]: queries, key, value),
   * queries pre-scaled, with RoPE on queries and key: q [1, S, kv, group, D], k and v [1, S, kv, 1, D].
   */
  const splitHeads = (qkv: string, p: string): { q: string; k: string; v: string } => {
    const heads = g.op('Reshape', [qkv, qkvShape], `${p}.qkv_heads`);
    const [qk, v] = g.node('Split', [heads, qkvSplit], [`${p}.qk`, `${p}.v`], { axis: { int: 3 } }) as [
      string,
      string,
    ];
    const qkRot = rope(qk, `${p}.qk_rot`);
    const [q, k] = g.node('Split', [qkRot, qkSplit], [`${p}.q`, `${p}.k`], { axis: { int: 3 } }) as [
      string,
      string,
    ];
    return { q, k, v };
  };

  /** Softmax over the keys (last axis), split into the cached positions' and this step's weights. */
  const softmaxSplit = (scores: string, p: string): [string, string] => {
    const probs = g.op('Softmax', [scores], `${p}.probs`, { axis: { int: -1 } });
    return g.node('Split', [probs, splitSizes], [`${p}.probs_past`, `${p}.probs_new`], {
      axis: { int: -1 },
    }) as [string, string];
  };

  /**
   * Grouped-query causal attention over the read-only cache plus this step's keys/values.
   * The fused projection is grouped per KV head ([1, S, kv, group + 2, D]: queries, key, value),
   * queries pre-scaled, so heads need no gathering.
   */
  const attention = (qkv: string, pastKey: string, pastValue: string, l: number, p: string): string => {
    const { q, k, v } = splitHeads(qkv, p);
    // [1, S, kv, group, D] → qᵀ [1, kv, group, D, S]; keys/values → [1, kv, 1, S, D] (cache layout).
    const qT = g.op('Transpose', [q], `${p}.q_t`, { perm: { ints: [0, 2, 3, 4, 1] } });
    const newKey = kvOutput(k, ShardIO.newKey(l), `${p}.k`);
    const newValue = kvOutput(v, ShardIO.newValue(l), `${p}.v`);
    const pastKeyF32 = kvToF32(pastKey, `${p}.past_key_f32`);
    const pastValueF32 = kvToF32(pastValue, `${p}.past_value_f32`);
    // Scores transposed, [1, kv, group, keys, S]: the cache is multiplied as stored.
    const scoresPast = g.op('MatMul', [pastKeyF32, qT], `${p}.scores_past_t`);
    const scoresNew = g.op('MatMul', [newKey, qT], `${p}.scores_new_t`);
    const scoresT = g.op(
      'Add',
      [g.op('Concat', [scoresPast, scoresNew], `${p}.scores_t_raw`, { axis: { int: 3 } }), mask],
      `${p}.scores_t`,
    );
    const scores = g.op('Transpose', [scoresT], `${p}.scores`, { perm: { ints: [0, 1, 2, 4, 3] } });
    const [probsPast, probsNew] = softmaxSplit(scores, p);
    const out = g.op(
      'Add',
      [
        g.op('MatMul', [probsPast, pastValueF32], `${p}.attn_past`),
        g.op('MatMul', [probsNew, newValue], `${p}.attn_new`),
      ],
      `${p}.attn_heads`,
    );
    // [1, kv, group, S, D] → [1, S, kv, group, D] → [1, S, heads * D] (head = kv * group + g)
    const outT = g.op('Transpose', [out], `${p}.attn_t`, { perm: { ints: [0, 3, 1, 2, 4] } });
    return g.op('Reshape', [outT, outShape], `${p}.attn`);
  };

  /**
   * Attention over an int8 cache: keys stored transposed [1, kv, D, capacity] and values
   * [1, kv, capacity, D], each position's key and value row with its own scale (symmetric,
   * max |x| / INT8_CACHE_MAX), which the runtime keeps in `past_key_scale` / `past_value_scale` [1, kv, 1,
   * capacity]. The cache is never widened to f32: scores over it are an integer GEMM of the
   * queries (quantized per run, u8 with a zero point) by the int8 keys, scaled per position
   * afterwards; the weighted sum of values is an integer GEMM too, of the probabilities (already
   * multiplied by each position's value scale) quantized to u8 in two parts — the coarse part and
   * what it left over, each with its own scale — so that small probabilities next to a large one
   * are not rounded away. Both GEMMs are exact: see INT8_CACHE_MAX. This step's keys and values
   * are quantized in the graph (the runtime stores exactly these) and attention uses their
   * dequantized values, so a position's key and value are the same whether it is new or cached.
   */
  const int8Attention = (qkv: string, l: number, p: string, shared: Int8Constants): string => {
    const kv = c.numKvHeads;
    const pastKey = g.input(ShardIO.pastKey(l), 'int8', [1, kv, D, 'capacity']);
    const pastValue = g.input(ShardIO.pastValue(l), 'int8', [1, kv, 'capacity', D]);
    const keyScale = g.input(ShardIO.pastKeyScale(l), 'float32', [1, kv, 1, 'capacity']);
    const valueScale = g.input(ShardIO.pastValueScale(l), 'float32', [1, kv, 1, 'capacity']);
    const { q, k, v } = splitHeads(qkv, p);
    // This step's keys and values [1, S, kv, 2, D], one scale per (position, head, key|value) row.
    const fresh = g.op('Concat', [k, v], `${p}.kv_new`, { axis: { int: 3 } });
    const absMax = g.op('ReduceMax', [g.op('Abs', [fresh], `${p}.kv_abs`)], `${p}.kv_abs_max`, {
      axes: { ints: [-1] },
      keepdims: { int: 1 },
    });
    const scaleName = ShardIO.newKeyValueScale(l);
    g.node('Max', [g.op('Mul', [absMax, shared.invCacheMax], `${p}.kv_scale_raw`), shared.tiny], [scaleName]);
    g.output(scaleName, 'float32', [1, 'sequence', kv, 2, 1]);
    const quantizedName = ShardIO.newKeyValue(l);
    g.node(
      'Cast',
      [g.op('Round', [g.op('Div', [fresh, scaleName], `${p}.kv_scaled`)], `${p}.kv_rounded`)],
      [quantizedName],
      {
        to: { int: ElementType.int8 },
      },
    );
    g.output(quantizedName, 'int8', [1, 'sequence', kv, 2, D]);
    const dequantized = g.op(
      'Mul',
      [g.op('Cast', [quantizedName], `${p}.kv_new_f32`, { to: { int: ElementType.float32 } }), scaleName],
      `${p}.kv_new_dq`,
    );
    const [kNew, vNew] = g.node('Split', [dequantized, shared.kvSplit], [`${p}.k_new`, `${p}.v_new`], {
      axis: { int: 3 },
    }) as [string, string];

    // Queries by KV head [1, kv, group, S, D]; as rows [1, kv, group·S, D] for the integer GEMMs.
    const qHeads = g.op('Transpose', [q], `${p}.q_heads`, { perm: { ints: [0, 2, 3, 1, 4] } });
    const qRows = g.op('Reshape', [qHeads, shared.queryRows], `${p}.q_rows`);
    const [qU8, qScale, qZero] = g.node(
      'DynamicQuantizeLinear',
      [qRows],
      [`${p}.q_u8`, `${p}.q_scale`, `${p}.q_zero`],
    ) as [string, string, string];
    const scoresPastInt = g.op('MatMulInteger', [qU8, pastKey, qZero], `${p}.scores_past_i32`);
    const scoresPastRows = g.op(
      'Mul',
      [
        g.op('Cast', [scoresPastInt], `${p}.scores_past_raw`, { to: { int: ElementType.float32 } }),
        g.op('Mul', [keyScale, qScale], `${p}.scores_past_scale`),
      ],
      `${p}.scores_past_rows`,
    );
    const scoresPast = g.op('Reshape', [scoresPastRows, shared.scoresShape], `${p}.scores_past`);
    const keysNewT = g.op('Transpose', [kNew], `${p}.k_new_t`, { perm: { ints: [0, 2, 3, 4, 1] } });
    const scoresNew = g.op('MatMul', [qHeads, keysNewT], `${p}.scores_new`);
    const scores = g.op(
      'Add',
      [g.op('Concat', [scoresPast, scoresNew], `${p}.scores_raw`, { axis: { int: 4 } }), shared.mask],
      `${p}.scores`,
    );
    const [probsPast, probsNew] = softmaxSplit(scores, p);

    const weighted = g.op(
      'Mul',
      [g.op('Reshape', [probsPast, shared.probRows], `${p}.probs_past_rows`), valueScale],
      `${p}.value_weights`,
    );
    const valuesTimes = (w: string, hint: string): [string, string] => {
      const [u8, scale, zero] = g.node(
        'DynamicQuantizeLinear',
        [w],
        [`${hint}_u8`, `${hint}_scale`, `${hint}_zero`],
      ) as [string, string, string];
      const sum = g.op(
        'Mul',
        [
          g.op('Cast', [g.op('MatMulInteger', [u8, pastValue, zero], `${hint}_i32`)], `${hint}_f32`, {
            to: { int: ElementType.float32 },
          }),
          scale,
        ],
        hint,
      );
      return [sum, g.op('DequantizeLinear', [u8, scale, zero], `${hint}_dq`)];
    };
    const [coarse, coarseWeights] = valuesTimes(weighted, `${p}.attn_past_coarse`);
    const rest = g.op('Sub', [weighted, coarseWeights], `${p}.value_weights_rest`);
    const [fine] = valuesTimes(rest, `${p}.attn_past_fine`);
    const pastSum = g.op('Add', [coarse, fine], `${p}.attn_past_rows`);
    const pastOut = g.op('Reshape', [pastSum, shared.outHeads], `${p}.attn_past`);
    const valuesNew = g.op('Transpose', [vNew], `${p}.v_new_heads`, { perm: { ints: [0, 2, 3, 1, 4] } });
    const out = g.op(
      'Add',
      [pastOut, g.op('MatMul', [probsNew, valuesNew], `${p}.attn_new`)],
      `${p}.attn_heads`,
    );
    // [1, kv, group, S, D] → [1, S, kv, group, D] → [1, S, heads * D] (head = kv * group + g)
    const outT = g.op('Transpose', [out], `${p}.attn_t`, { perm: { ints: [0, 3, 1, 2, 4] } });
    return g.op('Reshape', [outT, outShape], `${p}.attn`);
  };

  /** Constants and shapes the int8 attention blocks share. */
  type Int8Constants = ReturnType<typeof makeInt8Constants>;
  const makeInt8Constants = () => {
    const kv = c.numKvHeads;
    return {
      invCacheMax: g.floats('int8_inv_cache_max', [1 / INT8_CACHE_MAX], []),
      // A row of zeros gets this scale instead of 0 (its values quantize to 0 either way).
      tiny: g.floats('int8_min_scale', [1e-30], []),
      kvSplit: g.ints64('int8_kv_split', [1, 1]),
      queryRows: g.ints64('int8_query_rows', [1, kv, -1, D]),
      outHeads: g.ints64('int8_out_heads', [1, kv, group, -1, D]),
      scoresShape: g.op(
        'Concat',
        [g.ints64('int8_scores_lead', [1, kv, group, -1]), capacity],
        'int8_scores_shape',
        {
          axis: { int: 0 },
        },
      ),
      probRows: g.op('Concat', [g.ints64('int8_prob_rows_lead', [1, kv, -1]), capacity], 'int8_prob_rows', {
        axis: { int: 0 },
      }),
      // The additive mask as [1, 1, 1, S, keys] (query by key), for scores computed as q · Kᵀ.
      mask: g.op('Transpose', [mask], 'attention_mask_qk', { perm: { ints: [0, 1, 2, 4, 3] } }),
    };
  };

  /** Made by the first int8 block (a float graph has none of these constants). */
  let int8Shared: Int8Constants | null = null;
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
    let attn: string;
    if (kvType === 'int8') {
      int8Shared ??= makeInt8Constants();
      attn = int8Attention(qkv, l, p, int8Shared);
    } else {
      const cacheDims = [1, c.numKvHeads, 1, 'capacity', c.headDim];
      const pastKey = g.input(ShardIO.pastKey(l), kvType, cacheDims);
      const pastValue = g.input(ShardIO.pastValue(l), kvType, cacheDims);
      attn = attention(qkv, pastKey, pastValue, l, p);
    }
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
