import { createRandom } from './prng.js';

/** OpenAI-style sampling parameters (snake_case, as they arrive in a request). */
export interface SamplingParams {
  /** 0 means greedy. Default 1. */
  temperature?: number;
  /** Nucleus sampling: keep the most likely tokens whose probabilities add up to top_p. Default 1 (off). */
  top_p?: number;
  /** Keep only the k most likely tokens. 0 or absent: off. */
  top_k?: number;
  /** Same seed, same logits, same tokens. Absent: a random seed. */
  seed?: number;
  /** Subtract `frequency_penalty * count` from the logit of every token already generated `count` times. */
  frequency_penalty?: number;
  /** Subtract `presence_penalty` from the logit of every token generated at least once. */
  presence_penalty?: number;
}

export interface Sampler {
  readonly params: Readonly<SamplingParams>;
  /** Pick the next token from the last position's logits; `generated` is the completion so far (for penalties). */
  sample(logits: Float32Array, generated: readonly number[]): number;
}

export class SamplingParamsError extends RangeError {
  readonly code = 'invalid_sampling_params';
  readonly param: string;
  constructor(param: string, message: string) {
    super(message);
    this.name = 'SamplingParamsError';
    this.param = param;
  }
}

function check(params: SamplingParams): void {
  const { temperature, top_p, top_k, frequency_penalty, presence_penalty } = params;
  const bad = (param: string, msg: string) => {
    throw new SamplingParamsError(param, `${param} ${msg}`);
  };
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 100))
    bad('temperature', 'must be between 0 and 100');
  if (top_p !== undefined && !(top_p > 0 && top_p <= 1)) bad('top_p', 'must be greater than 0 and at most 1');
  if (top_k !== undefined && !(Number.isInteger(top_k) && top_k >= 0))
    bad('top_k', 'must be a non-negative integer');
  if (frequency_penalty !== undefined && !(frequency_penalty >= -2 && frequency_penalty <= 2)) {
    bad('frequency_penalty', 'must be between -2 and 2');
  }
  if (presence_penalty !== undefined && !(presence_penalty >= -2 && presence_penalty <= 2)) {
    bad('presence_penalty', 'must be between -2 and 2');
  }
  if (params.seed !== undefined && !Number.isFinite(params.seed)) bad('seed', 'must be a finite number');
}

/** Index of the largest value; the lowest index wins ties (as llama.cpp's greedy sampler does). */
export function argmaxLogits(logits: Float32Array): number {
  let best = 0;
  let bestValue = logits[0] ?? Number.NEGATIVE_INFINITY;
  for (let i = 1; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** The k highest-valued indices, best first (ties: lower index first), without sorting everything. */
function topIndices(candidates: readonly number[], values: Float32Array, k: number): number[] {
  const better = (a: number, b: number) => values[a]! > values[b]! || (values[a] === values[b] && a < b);
  const top: number[] = [];
  for (const i of candidates) {
    if (top.length === k && !better(i, top[k - 1]!)) continue;
    let j = top.length < k ? top.length : k - 1;
    while (j > 0 && better(i, top[j - 1]!)) {
      top[j] = top[j - 1]!;
      j--;
    }
    top[j] = i;
  }
  return top;
}

/** Tokens far below the best one cannot matter to the draw (e^-40 of its probability); skip sorting them. */
const NEGLIGIBLE = 40;

/**
 * Penalties → (greedy if temperature is 0) → temperature → top-k → top-p → a seeded draw.
 * The order is the one Hugging Face transformers uses, so `top_p` applies to tempered probabilities.
 */
export function createSampler(params: SamplingParams = {}): Sampler {
  check(params);
  const temperature = params.temperature ?? 1;
  const topP = params.top_p ?? 1;
  const topK = params.top_k ?? 0;
  const freq = params.frequency_penalty ?? 0;
  const presence = params.presence_penalty ?? 0;
  const random = createRandom(params.seed);
  let scratch = new Float32Array(0);

  return {
    params: { ...params },
    sample(logits, generated) {
      let values = logits;
      if ((freq !== 0 || presence !== 0) && generated.length > 0) {
        if (scratch.length !== logits.length) scratch = new Float32Array(logits.length);
        scratch.set(logits);
        const counts = new Map<number, number>();
        for (const t of generated) counts.set(t, (counts.get(t) ?? 0) + 1);
        for (const [t, n] of counts) if (t >= 0 && t < scratch.length) scratch[t]! -= freq * n + presence;
        values = scratch;
      }
      if (temperature === 0) return argmaxLogits(values);

      const max = values[argmaxLogits(values)]!;
      const floor = max - NEGLIGIBLE * temperature;
      const candidates: number[] = [];
      for (let i = 0; i < values.length; i++) if (values[i]! >= floor) candidates.push(i);
      let kept = candidates;
      if (topK > 0 && topK < candidates.length) kept = topIndices(candidates, values, topK);
      else if (topP < 1) candidates.sort((a, b) => values[b]! - values[a]! || a - b);
      const weights = kept.map((i) => Math.exp((values[i]! - max) / temperature));
      let total = weights.reduce((s, w) => s + w, 0);
      let n = weights.length;
      if (topP < 1) {
        let cumulative = 0;
        for (let j = 0; j < weights.length; j++) {
          cumulative += weights[j]! / total;
          if (cumulative >= topP) {
            n = j + 1;
            break;
          }
        }
        total = weights.slice(0, n).reduce((s, w) => s + w, 0);
      }
      let r = random() * total;
      for (let j = 0; j < n; j++) {
        r -= weights[j]!;
        if (r < 0) return kept[j]!;
      }
      return kept[n - 1]!;
    },
  };
}
