import { availableParallelism } from 'node:os';
import { getLlama, type Llama, type LlamaContext, LlamaLogLevel, type LlamaModel } from 'node-llama-cpp';

/**
 * llama.cpp as the trusted reference, through node-llama-cpp's prebuilt CPU binary (from the
 * @node-llama-cpp/* npm packages; its install script is not run, so nothing is built or downloaded).
 */

let llamaPromise: Promise<Llama> | undefined;

export function getReferenceLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({
    gpu: false,
    build: 'never',
    skipDownload: true,
    usePrebuiltBinaries: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  return llamaPromise;
}

/** Why llama.cpp cannot run here, or undefined when it can. */
export async function llamaCppUnavailableReason(): Promise<string | undefined> {
  try {
    await getReferenceLlama();
    return undefined;
  } catch (err) {
    llamaPromise = undefined;
    return `node-llama-cpp has no usable prebuilt binary on this machine: ${(err as Error).message}`;
  }
}

export interface LlamaCppReference {
  readonly model: LlamaModel;
  /** llama.cpp's tokenization (no BOS/EOS added; `special` parses control tokens written in the text). */
  tokenize(text: string, special?: boolean): number[];
  detokenize(ids: readonly number[], special?: boolean): string;
  /** Greedy continuation of `prompt` for `count` tokens (llama.cpp's own greedy sampler, no penalties). */
  greedy(prompt: readonly number[], count: number): Promise<number[]>;
  /**
   * llama.cpp's raw logits for the token after `tokens`: the top TOP_LOGITS filled in, the rest -Infinity
   * (fetching the whole vocabulary costs about a second per call).
   */
  logitsAfter(tokens: readonly number[]): Promise<Float32Array>;
  close(): Promise<void>;
}

/** How many of the highest logits are fetched per step (all of them makes each step take a second). */
export const TOP_LOGITS = 64;

function toVector(map: Map<number, number>, vocab: number): Float32Array {
  const out = new Float32Array(vocab).fill(Number.NEGATIVE_INFINITY);
  for (const [id, v] of map) out[id] = v;
  return out;
}

function vocabSizeOf(model: LlamaModel): number {
  const n = (model.fileInfo.metadata as { llama?: { vocab_size?: number } }).llama?.vocab_size;
  return typeof n === 'number' && n > 0 ? n : 1 << 17;
}

export async function openLlamaCpp(
  ggufPath: string,
  opts: { vocabOnly?: boolean; threads?: number; contextSize?: number } = {},
): Promise<LlamaCppReference> {
  const llama = await getReferenceLlama();
  const model = await llama.loadModel({
    modelPath: ggufPath,
    gpuLayers: 0,
    vocabOnly: opts.vocabOnly ?? false,
  });
  let context: LlamaContext | undefined;
  const contextOf = async () => {
    context ??= await model.createContext({
      contextSize: opts.contextSize ?? 512,
      threads: opts.threads ?? Math.max(1, Math.min(2, availableParallelism())),
      sequences: 1,
    });
    return context;
  };
  return {
    model,
    tokenize: (text, special = true) => [...model.tokenize(text, special)],
    detokenize: (ids, special = true) => model.detokenize([...ids] as never, special),
    async greedy(prompt, count) {
      const sequence = (await contextOf()).getSequence();
      try {
        const tokens: number[] = [];
        for await (const t of sequence.evaluate([...prompt] as never, { temperature: 0 })) {
          tokens.push(t as number);
          if (tokens.length >= count) break;
        }
        return tokens;
      } finally {
        sequence.dispose();
      }
    },
    async logitsAfter(tokens) {
      const sequence = (await contextOf()).getSequence();
      try {
        const last = tokens.length - 1;
        const items = tokens.map((t, i) =>
          i === last
            ? [t, { generateNext: { logits: { filter: { tokens: [], includeTop: TOP_LOGITS } } } }]
            : t,
        );
        const out = await sequence.controlledEvaluate(items as never);
        const map = out[last]?.next.logits;
        if (!map) throw new Error('llama.cpp returned no logits');
        return toVector(map, vocabSizeOf(model));
      } finally {
        sequence.dispose();
      }
    },
    async close() {
      await context?.dispose();
      await model.dispose();
    },
  };
}
