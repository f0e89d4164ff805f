import { dequantizePacked } from '../onnx/quantize.js';
import { ropeInverseFrequencies, type ShardWeights } from '../shard/weights.js';

/**
 * Plain TypeScript forward pass of one shard (queries arrive pre-scaled by 1/sqrt(headDim), as
 * the shard weights store them), for small configs in tests. It uses the same
 * (de)quantized weights the ONNX graph stores, computes in f64, and keeps its own KV cache, so
 * any difference from the ONNX shard comes from the runtime's kernels (e.g. int8 activations
 * at MatMulNBits accuracy level 4), not from the weights.
 */
export class ReferenceShard {
  private readonly layers: {
    inputNorm: Float32Array;
    postNorm: Float32Array;
    qkv: Float32Array;
    qkvBias?: Float32Array;
    o: Float32Array;
    gateUp: Float32Array;
    down: Float32Array;
  }[];
  private readonly embedding?: Float32Array;
  private readonly lmHead?: Float32Array;
  private readonly finalNorm?: Float32Array;
  private readonly inv: Float64Array;
  /** Per layer: keys/values as [position][kvHeads * headDim]. */
  private keys: Float64Array[][] = [];
  private values: Float64Array[][] = [];

  constructor(private readonly weights: ShardWeights) {
    this.layers = weights.layers.map((l) => ({
      inputNorm: l.inputNorm,
      postNorm: l.postAttentionNorm,
      qkv: dequantizePacked(l.qkv),
      ...(l.qkvBias ? { qkvBias: l.qkvBias } : {}),
      o: dequantizePacked(l.o),
      gateUp: dequantizePacked(l.gateUp),
      down: dequantizePacked(l.down),
    }));
    if (weights.embedding) this.embedding = dequantizePacked(weights.embedding);
    if (weights.lmHead) {
      this.lmHead = weights.lmHead === weights.embedding ? this.embedding : dequantizePacked(weights.lmHead);
    }
    if (weights.finalNorm) this.finalNorm = weights.finalNorm;
    this.inv = ropeInverseFrequencies(weights.config);
    this.reset();
  }

  reset(): void {
    this.keys = this.layers.map(() => []);
    this.values = this.layers.map(() => []);
  }

  get length(): number {
    return this.keys[0]?.length ?? 0;
  }

  /** Same contract as ShardRunner.forward for one session. */
  forward(
    input: { tokens: Int32Array } | { hidden: Float32Array },
    position: number,
    length: number,
  ): { hidden: Float32Array } | { logits: Float32Array } {
    const c = this.weights.config;
    const H = c.hiddenSize;
    if (position > this.length)
      throw new Error(`position ${position} is past the cached length ${this.length}`);
    for (let l = 0; l < this.layers.length; l++) {
      (this.keys[l] as Float64Array[]).length = position;
      (this.values[l] as Float64Array[]).length = position;
    }
    const xs: Float64Array[] = [];
    for (let t = 0; t < length; t++) {
      if ('tokens' in input) {
        const id = input.tokens[t] as number;
        xs.push(Float64Array.from((this.embedding as Float32Array).subarray(id * H, (id + 1) * H)));
      } else {
        xs.push(Float64Array.from(input.hidden.subarray(t * H, (t + 1) * H)));
      }
    }
    this.layers.forEach((w, li) => {
      for (let t = 0; t < length; t++) {
        const x = xs[t] as Float64Array;
        const pos = position + t;
        const h = rmsNorm(x, w.inputNorm, c.rmsNormEps);
        const { q, k, v } = this.splitQkv(matvec(w.qkv, h, w.qkvBias));
        for (let hd = 0; hd < c.numHeads; hd++) this.rope(q, hd * c.headDim, pos);
        for (let hd = 0; hd < c.numKvHeads; hd++) this.rope(k, hd * c.headDim, pos);
        (this.keys[li] as Float64Array[]).push(Float64Array.from(k));
        (this.values[li] as Float64Array[]).push(Float64Array.from(v));
        const attn = this.attend(li, q, pos + 1);
        const o = matvec(w.o, attn);
        for (let i = 0; i < H; i++) x[i] = (x[i] as number) + (o[i] as number);
        const h2 = rmsNorm(x, w.postNorm, c.rmsNormEps);
        const gu = matvec(w.gateUp, h2);
        const I = c.intermediateSize;
        const act = new Float64Array(I);
        for (let i = 0; i < I; i++) {
          const gate = gu[i] as number;
          act[i] = (gate / (1 + Math.exp(-gate))) * (gu[I + i] as number);
        }
        const d = matvec(w.down, act);
        for (let i = 0; i < H; i++) x[i] = (x[i] as number) + (d[i] as number);
      }
    });
    if (this.lmHead && this.finalNorm) {
      const lastX = xs[length - 1] as Float64Array;
      return { logits: Float32Array.from(matvec(this.lmHead, rmsNorm(lastX, this.finalNorm, c.rmsNormEps))) };
    }
    const hidden = new Float32Array(length * H);
    xs.forEach((x, t) => {
      hidden.set(x, t * H);
    });
    return { hidden };
  }

  /** Undoes the grouped row order of the fused projection (queries come pre-scaled). */
  private splitQkv(qkv: Float64Array): { q: Float64Array; k: Float64Array; v: Float64Array } {
    const c = this.weights.config;
    const D = c.headDim;
    const group = c.numHeads / c.numKvHeads;
    const q = new Float64Array(c.numHeads * D);
    const k = new Float64Array(c.numKvHeads * D);
    const v = new Float64Array(c.numKvHeads * D);
    for (let h = 0; h < c.numKvHeads; h++) {
      const base = h * (group + 2) * D;
      q.set(qkv.subarray(base, base + group * D), h * group * D);
      k.set(qkv.subarray(base + group * D, base + (group + 1) * D), h * D);
      v.set(qkv.subarray(base + (group + 1) * D, base + (group + 2) * D), h * D);
    }
    return { q, k, v };
  }

  private rope(v: Float64Array, offset: number, pos: number): void {
    const half = this.weights.config.headDim / 2;
    for (let i = 0; i < half; i++) {
      const angle = pos * (this.inv[i] as number);
      const cos = Math.fround(Math.cos(angle));
      const sin = Math.fround(Math.sin(angle));
      const a = v[offset + i] as number;
      const b = v[offset + half + i] as number;
      v[offset + i] = a * cos - b * sin;
      v[offset + half + i] = b * cos + a * sin;
    }
  }

  private attend(layer: number, q: Float64Array, total: number): Float64Array {
    const c = this.weights.config;
    const D = c.headDim;
    const group = c.numHeads / c.numKvHeads;
    const keys = this.keys[layer] as Float64Array[];
    const values = this.values[layer] as Float64Array[];
    const out = new Float64Array(c.numHeads * D);
    const scores = new Float64Array(total);
    for (let h = 0; h < c.numHeads; h++) {
      const kvh = Math.floor(h / group);
      let max = Number.NEGATIVE_INFINITY;
      for (let t = 0; t < total; t++) {
        const k = keys[t] as Float64Array;
        let dot = 0;
        for (let i = 0; i < D; i++) dot += (q[h * D + i] as number) * (k[kvh * D + i] as number);
        scores[t] = dot;
        max = Math.max(max, scores[t] as number);
      }
      let z = 0;
      for (let t = 0; t < total; t++) {
        scores[t] = Math.exp((scores[t] as number) - max);
        z += scores[t] as number;
      }
      for (let t = 0; t < total; t++) {
        const v = values[t] as Float64Array;
        const p = (scores[t] as number) / z;
        for (let i = 0; i < D; i++)
          out[h * D + i] = (out[h * D + i] as number) + p * (v[kvh * D + i] as number);
      }
    }
    return out;
  }
}

function rmsNorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (x[i] as number) * inv * (weight[i] as number);
  return out;
}

/** y = W x (+ bias) for W [n, k] row-major. */
function matvec(w: Float32Array, x: Float64Array, bias?: Float32Array): Float64Array {
  const k = x.length;
  const n = w.length / k;
  const y = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let acc = bias ? (bias[r] as number) : 0;
    const base = r * k;
    for (let i = 0; i < k; i++) acc += (w[base + i] as number) * (x[i] as number);
    y[r] = acc;
  }
  return y;
}
