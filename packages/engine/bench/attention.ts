/**
 * What attention over the KV cache costs per decode step with onnxruntime's CPU kernels, for
 * SmolLM2-135M's shape (30 layers, 9 query heads over 3 KV heads of 64), at context 64 and 1056,
 * for the shard graph's formulation and the alternatives one would try. Attention is the only
 * part of a decode step that grows with the context, so the increase from 64 to 1056 here is
 * what separates decode @1024 from decode @64 in the main bench.
 *
 *   pnpm --filter @cascadia/engine bench:attention        (env BENCH_THREADS, default 1)
 *
 * Each variant is one graph of 30 attention blocks fed a random cache; the steps of all variants
 * and both contexts alternate, and each figure is a median over 60 runs.
 */
import { loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { ElementType, GraphBuilder, serializeModel } from '../src/onnx/graph.js';

const LAYERS = 30;
const KV_HEADS = 3;
const GROUP = 3;
const HEAD_DIM = 64;
const CONTEXTS = [64, 1056];
const RUNS = 60;

interface Variant {
  name: string;
  /** Cache element type fed to the graph. */
  cache: 'float16' | 'float32' | 'int8' | 'int8-gemm';
  /** Keys stored transposed, [kvHeads, headDim, positions]. */
  keysTransposed?: boolean;
  build(g: GraphBuilder, io: BlockIO): string;
}

interface BlockIO {
  /** Queries [1, S=1, kv, group, D]. */
  q: string;
  /** This step's key and value [1, kv, 1, 1, D] (f32). */
  newKey: string;
  newValue: string;
  /** Cached keys/values as f32 (after any conversion). */
  keys: string;
  values: string;
  mask: string;
  split: string;
  l: number;
}

/** Softmax over cached and new positions, then the probabilities times cached and new values. */
function weightedValues(g: GraphBuilder, io: BlockIO, scores: string): string {
  const { l } = io;
  const probs = g.op('Softmax', [scores], `p${l}`, { axis: { int: -1 } });
  const [pp, pn] = g.node('Split', [probs, io.split], [`pp${l}`, `pn${l}`], { axis: { int: -1 } }) as [
    string,
    string,
  ];
  return g.op(
    'Add',
    [g.op('MatMul', [pp, io.values], `ap${l}`), g.op('MatMul', [pn, io.newValue], `an${l}`)],
    `o${l}`,
  );
}

/** The shard graph's formulation (see `buildShardGraph`): scores as K · qᵀ, softmax, probs · V. */
function standard(g: GraphBuilder, io: BlockIO): string {
  const { l } = io;
  const qT = g.op('Transpose', [io.q], `qt${l}`, { perm: { ints: [0, 2, 3, 4, 1] } });
  const past = g.op('MatMul', [io.keys, qT], `sp${l}`);
  const fresh = g.op('MatMul', [io.newKey, qT], `sn${l}`);
  const scoresT = g.op(
    'Add',
    [g.op('Concat', [past, fresh], `c${l}`, { axis: { int: 3 } }), io.mask],
    `st${l}`,
  );
  const scores = g.op('Transpose', [scoresT], `s${l}`, { perm: { ints: [0, 1, 2, 4, 3] } });
  return weightedValues(g, io, scores);
}

/** Keys cached transposed: scores as q · Kᵀ (one GEMV per query head, no transposes of scores). */
function keysTransposed(g: GraphBuilder, io: BlockIO): string {
  const { l } = io;
  const q = g.op('Transpose', [io.q], `qt${l}`, { perm: { ints: [0, 2, 3, 1, 4] } });
  const past = g.op('MatMul', [q, io.keys], `sp${l}`);
  const newKeyT = g.op('Transpose', [io.newKey], `nkt${l}`, { perm: { ints: [0, 1, 2, 4, 3] } });
  const fresh = g.op('MatMul', [q, newKeyT], `sn${l}`);
  const scores = g.op(
    'Add',
    [g.op('Concat', [past, fresh], `c${l}`, { axis: { int: 4 } }), io.mask],
    `s${l}`,
  );
  return weightedValues(g, io, scores);
}

/** One GEMM per KV head (its 3 query heads as rows) instead of 3 GEMVs reading the same cache. */
function gemmPerKvHead(g: GraphBuilder, io: BlockIO): string {
  const { l } = io;
  const rows = g.op(
    'Reshape',
    [
      g.op('Transpose', [io.q], `qt${l}`, { perm: { ints: [0, 2, 3, 1, 4] } }),
      g.ints64(`qr${l}`, [1, KV_HEADS, -1, HEAD_DIM]),
    ],
    `q${l}`,
  );
  const keys = g.op('Reshape', [io.keys, g.ints64(`kr${l}`, [1, KV_HEADS, HEAD_DIM, -1])], `k${l}`);
  const newKey = g.op('Reshape', [io.newKey, g.ints64(`nkr${l}`, [1, KV_HEADS, 1, HEAD_DIM])], `nk${l}`);
  const newValue = g.op('Reshape', [io.newValue, g.ints64(`nvr${l}`, [1, KV_HEADS, 1, HEAD_DIM])], `nv${l}`);
  const past = g.op('MatMul', [rows, keys], `sp${l}`);
  const fresh = g.op(
    'MatMul',
    [rows, g.op('Transpose', [newKey], `nkt${l}`, { perm: { ints: [0, 1, 3, 2] } })],
    `sn${l}`,
  );
  const scores = g.op(
    'Reshape',
    [
      g.op('Concat', [past, fresh], `c${l}`, { axis: { int: 3 } }),
      g.ints64(`sr${l}`, [1, KV_HEADS, GROUP, 1, -1]),
    ],
    `s${l}`,
  );
  const probs = g.op('Softmax', [g.op('Add', [scores, io.mask], `sm${l}`)], `p${l}`, { axis: { int: -1 } });
  const rowsProbs = g.op('Reshape', [probs, g.ints64(`pr${l}`, [1, KV_HEADS, GROUP, -1])], `p4${l}`);
  const [pp, pn] = g.node('Split', [rowsProbs, io.split], [`pp${l}`, `pn${l}`], { axis: { int: -1 } }) as [
    string,
    string,
  ];
  const values = g.op('Reshape', [io.values, g.ints64(`vr${l}`, [1, KV_HEADS, -1, HEAD_DIM])], `v${l}`);
  const out = g.op(
    'Add',
    [g.op('MatMul', [pp, values], `ap${l}`), g.op('MatMul', [pn, newValue], `an${l}`)],
    `o4${l}`,
  );
  return g.op('Reshape', [out, g.ints64(`or${l}`, [1, KV_HEADS, GROUP, 1, HEAD_DIM])], `o${l}`);
}

/**
 * The shard graph's int8 formulation (see `int8Attention`): int8 keys stored transposed and values,
 * one scale per cached row, scores and the value sum as integer GEMMs (queries and probabilities
 * quantized to u8, the probabilities in two parts), the cache never widened to f32.
 */
function integerGemms(g: GraphBuilder, io: BlockIO): string {
  const { l } = io;
  const f32 = { to: { int: ElementType.float32 } };
  const qRows = g.op(
    'Reshape',
    [
      g.op('Transpose', [io.q], `qt${l}`, { perm: { ints: [0, 2, 3, 1, 4] } }),
      g.ints64(`qr${l}`, [1, KV_HEADS, -1, HEAD_DIM]),
    ],
    `q${l}`,
  );
  const [qU8, qScale, qZero] = g.node('DynamicQuantizeLinear', [qRows], [`qu${l}`, `qs${l}`, `qz${l}`]) as [
    string,
    string,
    string,
  ];
  const past = g.op(
    'Mul',
    [
      g.op('Cast', [g.op('MatMulInteger', [qU8, io.keys, qZero], `si${l}`)], `sf${l}`, f32),
      g.op('Mul', [`k${l}_scale`, qScale], `ss${l}`),
    ],
    `sp${l}`,
  );
  const newKey = g.op('Reshape', [io.newKey, g.ints64(`nkr${l}`, [1, KV_HEADS, HEAD_DIM, 1])], `nk${l}`);
  const fresh = g.op('MatMul', [qRows, newKey], `sn${l}`);
  const scores = g.op(
    'Add',
    [g.op('Concat', [past, fresh], `c${l}`, { axis: { int: 3 } }), io.mask],
    `s${l}`,
  );
  const probs = g.op('Softmax', [scores], `p${l}`, { axis: { int: -1 } });
  const [pp, pn] = g.node('Split', [probs, io.split], [`pp${l}`, `pn${l}`], { axis: { int: -1 } }) as [
    string,
    string,
  ];
  const weighted = g.op('Mul', [pp, `v${l}_scale`], `pw${l}`);
  const times = (w: string, hint: string): [string, string] => {
    const [u8, scale, zero] = g.node('DynamicQuantizeLinear', [w], [`${hint}u`, `${hint}s`, `${hint}z`]) as [
      string,
      string,
      string,
    ];
    const sum = g.op(
      'Mul',
      [g.op('Cast', [g.op('MatMulInteger', [u8, io.values, zero], `${hint}i`)], `${hint}f`, f32), scale],
      hint,
    );
    return [sum, g.op('DequantizeLinear', [u8, scale, zero], `${hint}d`)];
  };
  const [coarse, coarseWeights] = times(weighted, `pc${l}`);
  const [fine] = times(g.op('Sub', [weighted, coarseWeights], `pr${l}`), `pf${l}`);
  const newValue = g.op('Reshape', [io.newValue, g.ints64(`nvr${l}`, [1, KV_HEADS, 1, HEAD_DIM])], `nv${l}`);
  const out = g.op(
    'Add',
    [g.op('Add', [coarse, fine], `ap${l}`), g.op('MatMul', [pn, newValue], `an${l}`)],
    `o4${l}`,
  );
  return g.op('Reshape', [out, g.ints64(`or${l}`, [1, KV_HEADS, GROUP, 1, HEAD_DIM])], `o${l}`);
}

const VARIANTS: Variant[] = [
  {
    name: 'f16 cache, Cast, K·qᵀ GEMVs (the graph with kvCacheType float16)',
    cache: 'float16',
    build: standard,
  },
  { name: 'f32 cache (no Cast)', cache: 'float32', build: standard },
  {
    name: 'f16 keys stored transposed, q·Kᵀ GEMVs',
    cache: 'float16',
    keysTransposed: true,
    build: keysTransposed,
  },
  { name: 'f16 cache, one GEMM per KV head', cache: 'float16', keysTransposed: true, build: gemmPerKvHead },
  { name: 'int8 cache, DequantizeLinear per row', cache: 'int8', build: standard },
  {
    name: 'int8 cache, integer GEMMs (shard graph default)',
    cache: 'int8-gemm',
    keysTransposed: true,
    build: integerGemms,
  },
];

function cacheDims(v: Variant, kind: 'k' | 'v', positions: number | string): (number | string)[] {
  return v.keysTransposed && kind === 'k'
    ? [1, KV_HEADS, 1, HEAD_DIM, positions]
    : [1, KV_HEADS, 1, positions, HEAD_DIM];
}

/** int8-gemm: keys [1, kv, D, positions] (transposed), values [1, kv, positions, D]. */
function integerDims(kind: 'k' | 'v', positions: number | string): (number | string)[] {
  return kind === 'k' ? [1, KV_HEADS, HEAD_DIM, positions] : [1, KV_HEADS, positions, HEAD_DIM];
}

function maskDims(v: Variant, keys: number | string): (number | string)[] {
  if (v.cache === 'int8-gemm') return [1, 1, 1, keys];
  return v.build === standard ? [1, 1, 1, keys, 1] : [1, 1, 1, 1, keys];
}

function buildVariant(v: Variant): Uint8Array {
  const g = new GraphBuilder('attention');
  let q = g.input('q', 'float32', [1, 1, KV_HEADS, GROUP, HEAD_DIM]);
  const newKey = g.input('new_key', 'float32', [1, KV_HEADS, 1, 1, HEAD_DIM]);
  const newValue = g.input('new_value', 'float32', [1, KV_HEADS, 1, 1, HEAD_DIM]);
  const mask = g.input('mask', 'float32', maskDims(v, 'keys'));
  const split = g.input('split', 'int64', [2]);
  for (let l = 0; l < LAYERS; l++) {
    const integer = (kind: 'k' | 'v'): string => {
      g.input(`${kind}${l}_scale`, 'float32', [1, KV_HEADS, 1, 'positions']);
      return g.input(`${kind}${l}`, 'int8', integerDims(kind, 'positions'));
    };
    const toF32 = (kind: 'k' | 'v'): string => {
      if (v.cache === 'int8-gemm') return integer(kind);
      const name = `${kind}${l}`;
      const cached = g.input(
        name,
        v.cache === 'float32' || v.cache === 'float16' ? v.cache : 'int8',
        cacheDims(v, kind, 'positions'),
      );
      if (v.cache === 'float32') return cached;
      if (v.cache === 'float16')
        return g.op('Cast', [cached], `${name}_f32`, { to: { int: ElementType.float32 } });
      // int8 rows with one scale per (head, position): dequantized along the flattened row axis.
      const scale = g.input(`${name}_scale`, 'float32', ['rows']);
      const flat = g.op('Reshape', [cached, g.ints64(`${name}_flat`, [-1, HEAD_DIM])], `${name}_rows`);
      const rows = g.op('DequantizeLinear', [flat, scale], `${name}_dq`, { axis: { int: 0 } });
      return g.op(
        'Reshape',
        [rows, g.ints64(`${name}_shape`, [1, KV_HEADS, 1, -1, HEAD_DIM])],
        `${name}_f32`,
      );
    };
    const io: BlockIO = { q, newKey, newValue, keys: toF32('k'), values: toF32('v'), mask, split, l };
    const out = v.build(g, io);
    // Each block's output feeds the next block's queries, so no block can be skipped.
    const next = g.op('Reshape', [out, g.ints64(`next${l}`, [1, 1, KV_HEADS, GROUP, HEAD_DIM])], `qn${l}`);
    q = g.op('Add', [q, g.op('Mul', [next, g.floats(`scale${l}`, [1e-3])], `qs${l}`)], `q${l + 1}`);
  }
  g.node('Identity', [q], ['out']);
  g.output('out', 'float32', [1, 1, KV_HEADS, GROUP, HEAD_DIM]);
  return serializeModel(g).model;
}

function random(length: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** A tensor over `data`; float16 tensors keep the Uint16Array view the native binding reads. */
function tensor(
  type: 'float32' | 'float16' | 'int8' | 'int64',
  data: ArrayBufferView,
  dims: number[],
): ort.Tensor {
  if (type === 'float16') {
    const t = new ort.Tensor('float16', data as Uint16Array, dims);
    (t as unknown as { cpuData: Uint16Array }).cpuData = data as Uint16Array;
    return t;
  }
  return new ort.Tensor(type, data as Float32Array, dims);
}

function feeds(v: Variant, positions: number): Record<string, ort.Tensor> {
  const elements = KV_HEADS * positions * HEAD_DIM;
  const f: Record<string, ort.Tensor> = {
    q: tensor('float32', random(KV_HEADS * GROUP * HEAD_DIM, 1), [1, 1, KV_HEADS, GROUP, HEAD_DIM]),
    new_key: tensor('float32', random(KV_HEADS * HEAD_DIM, 2), [1, KV_HEADS, 1, 1, HEAD_DIM]),
    new_value: tensor('float32', random(KV_HEADS * HEAD_DIM, 3), [1, KV_HEADS, 1, 1, HEAD_DIM]),
    mask: tensor('float32', new Float32Array(positions + 1), maskDims(v, positions + 1) as number[]),
    split: tensor('int64', BigInt64Array.of(BigInt(positions), 1n), [2]),
  };
  for (let l = 0; l < LAYERS; l++) {
    for (const kind of ['k', 'v'] as const) {
      const values = random(elements, 100 * l + (kind === 'k' ? 7 : 11));
      const dims = cacheDims(v, kind, positions) as number[];
      const name = `${kind}${l}`;
      if (v.cache === 'float32') f[name] = tensor('float32', values, dims);
      else if (v.cache === 'float16') f[name] = tensor('float16', toFloat16Bits(values), dims);
      else if (v.cache === 'int8-gemm') {
        // Within ±63, as the shard graph stores them (see INT8_CACHE_MAX).
        f[name] = tensor(
          'int8',
          Int8Array.from(values, (x) => Math.round(x * 126)),
          integerDims(kind, positions) as number[],
        );
        f[`${name}_scale`] = tensor('float32', new Float32Array(KV_HEADS * positions).fill(1 / 126), [
          1,
          KV_HEADS,
          1,
          positions,
        ]);
      } else {
        f[name] = tensor(
          'int8',
          Int8Array.from(values, (x) => Math.round(x * 254)),
          dims,
        );
        f[`${name}_scale`] = tensor('float32', new Float32Array(KV_HEADS * positions).fill(1 / 254), [
          KV_HEADS * positions,
        ]);
      }
    }
  }
  return f;
}

function toFloat16Bits(values: Float32Array): Uint16Array {
  const half = new Float16Array(values);
  return new Uint16Array(half.buffer);
}

function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] as number;
}

async function main(): Promise<void> {
  const threads = Number(process.env.BENCH_THREADS ?? 1);
  const cases = [];
  for (const v of VARIANTS) {
    const session = await ort.InferenceSession.create(buildVariant(v), {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    for (const positions of CONTEXTS)
      cases.push({ v, positions, session, feeds: feeds(v, positions), times: [] as number[] });
  }
  for (const c of cases) for (let i = 0; i < 5; i++) await c.session.run(c.feeds);
  for (let i = 0; i < RUNS; i++) {
    for (const c of cases) {
      const t0 = performance.now();
      await c.session.run(c.feeds);
      c.times.push(performance.now() - t0);
    }
  }
  console.log(
    `attention over the KV cache, ${LAYERS} layers × ${KV_HEADS * GROUP} heads (${KV_HEADS} KV heads × ${HEAD_DIM}), one decode step, ${threads} thread(s); load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(`median of ${RUNS} runs, ms per step: @${CONTEXTS[0]}, @${CONTEXTS[1]}, increase\n`);
  for (const v of VARIANTS) {
    const [short, long] = cases.filter((c) => c.v === v).map((c) => median(c.times)) as [number, number];
    console.log(
      `${v.name.padEnd(48)} ${short.toFixed(2).padStart(6)}  ${long.toFixed(2).padStart(6)}  +${(long - short).toFixed(2)}`,
    );
  }
  // Each session serves both contexts: release it once.
  for (const session of new Set(cases.map((c) => c.session))) await session.release();
}

await main();
