import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { byteLevelAlphabet, bytesToByteLevel } from '../tokenizer/byte-level.js';
import { compilePattern, GPT2_PATTERN, splitIsolated } from '../tokenizer/pretokenizers.js';
import { type TokenizerSpec, TokenType } from '../tokenizer/spec.js';
import { tokenizerJson } from '../tokenizer/tokenizer-file.js';
import { f32ToF16 } from './half.js';
import { seededNormal } from './prng.js';
import { llama3RopeFactors } from './rope.js';
import { writeSafetensors } from './safetensors.js';
import type { LlamaConfig, RopeScaling, WeightTensor } from './types.js';

export interface TinyModelOptions {
  layers?: number;
  hidden?: number;
  heads?: number;
  kvHeads?: number;
  /** Total vocabulary: 3 ChatML special tokens + 256 bytes + learned merges. At least 259. */
  vocab?: number;
  intermediate?: number;
  seed?: number;
  dtype?: 'f32' | 'f16';
  /** Qwen2 style: q/k/v projections with biases (written as a `qwen2` model). */
  attentionBias?: boolean;
  /** Default `qwen2` with biases, else `llama` (a Llama with `attention_bias` is possible too). */
  architecture?: 'llama' | 'qwen2';
  tieWordEmbeddings?: boolean;
  maxContext?: number;
  /** Llama 3.1 RoPE scaling. */
  ropeScaling?: RopeScaling;
}

const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** Text the tiny tokenizer learns its merges from: chat-like English, code and numbers. */
const CORPUS = [
  'The quick brown fox jumps over the lazy dog. The dog sleeps in the sun.',
  'What is the capital of France? The capital of France is Paris.',
  'You are a helpful assistant. Hello! How can I help you today?',
  'function add(a, b) { return a + b; } const total = add(1, 2);',
  'In 2024 there were 365 days, 12 months and 52 weeks in the year.',
  'the user asked the assistant about the weather and the answer was sunny',
];

/** Deterministic byte-level BPE training: merge the most frequent adjacent pair (ties: first in order). */
function learnMerges(count: number): string[] {
  const pre = compilePattern(GPT2_PATTERN);
  const words = new Map<string, number>();
  for (const line of CORPUS) {
    for (const w of splitIsolated(line, pre)) {
      const bl = bytesToByteLevel(w);
      words.set(bl, (words.get(bl) ?? 0) + 1);
    }
  }
  let split = [...words.entries()].map(([w, n]) => ({ symbols: Array.from(w), n }));
  const merges: string[] = [];
  while (merges.length < count) {
    const pairs = new Map<string, number>();
    for (const { symbols, n } of split) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [k, n] of pairs) {
      if (n > bestCount || (n === bestCount && best !== undefined && k < best)) {
        best = k;
        bestCount = n;
      }
    }
    if (best === undefined) break;
    merges.push(best);
    const [a, b] = best.split(' ') as [string, string];
    split = split.map(({ symbols, n }) => {
      const out: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(symbols[i]!);
      }
      return { symbols: out, n };
    });
  }
  return merges;
}

function tinyTokenizerSpec(vocabSize: number): TokenizerSpec {
  const alphabet = byteLevelAlphabet();
  const merges = learnMerges(vocabSize - SPECIALS.length - 256);
  const tokens = [...SPECIALS, ...alphabet];
  const seen = new Set(tokens);
  const kept: string[] = [];
  for (const m of merges) {
    const t = m.replace(' ', '');
    if (seen.has(t)) continue;
    seen.add(t);
    tokens.push(t);
    kept.push(m);
  }
  // Pad with unused filler tokens when the corpus runs out of merges.
  for (let i = 0; tokens.length < vocabSize; i++) tokens.push(`<|unused_${i}|>`);
  const tokenTypes = tokens.map((t, id) =>
    id < SPECIALS.length
      ? TokenType.Control
      : t.startsWith('<|unused_')
        ? TokenType.Unused
        : TokenType.Normal,
  );
  return {
    kind: 'byte-bpe',
    tokens,
    tokenTypes,
    merges: kept,
    preTokenizer: { name: 'smollm', patterns: ['\\p{N}', GPT2_PATTERN] },
    ignoreMerges: false,
    addBos: false,
    addEos: false,
    addSpacePrefix: false,
    bosTokenId: 1,
    eosTokenId: 2,
    eosTokenIds: [0, 2],
    padTokenId: 2,
  };
}

const TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
  "{{ '<|im_start|>system\\nYou are a tiny test model.<|im_end|>\\n' }}{% endif %}" +
  "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function tensor(name: string, shape: number[], values: Float32Array, dtype: 'f32' | 'f16'): WeightTensor {
  let data: Uint8Array;
  if (dtype === 'f32') data = new Uint8Array(values.buffer.slice(0));
  else {
    const half = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) half[i] = f32ToF16(values[i]!);
    data = new Uint8Array(half.buffer);
  }
  return { name, shape, type: dtype, data };
}

export interface TinyWeights {
  config: LlamaConfig;
  /** Hugging Face names and layout, f32 values. */
  weights: { name: string; shape: number[]; values: Float32Array }[];
  tokenizer: TokenizerSpec;
  chatTemplate: string;
}

/** The tiny model's configuration, weights and tokenizer, deterministic from the options. */
export function generateTinyModel(opts: TinyModelOptions = {}): TinyWeights {
  const numLayers = opts.layers ?? 2;
  const hiddenSize = opts.hidden ?? 64;
  const numHeads = opts.heads ?? 4;
  const numKvHeads = opts.kvHeads ?? 2;
  const vocabSize = opts.vocab ?? 320;
  const intermediateSize = opts.intermediate ?? hiddenSize * 2;
  const bias = opts.attentionBias ?? false;
  if (vocabSize < SPECIALS.length + 256)
    throw new RangeError(`vocab must be at least ${SPECIALS.length + 256}`);
  if (hiddenSize % numHeads !== 0 || numHeads % numKvHeads !== 0) {
    throw new RangeError('hidden must be a multiple of heads, and heads a multiple of kvHeads');
  }
  const headDim = hiddenSize / numHeads;
  const config: LlamaConfig = {
    architecture: opts.architecture ?? (bias ? 'qwen2' : 'llama'),
    vocabSize,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    maxContext: opts.maxContext ?? 512,
    tieWordEmbeddings: opts.tieWordEmbeddings ?? true,
    attentionBias: bias,
  };
  if (opts.ropeScaling) {
    config.ropeScaling = { ...opts.ropeScaling };
    config.ropeFreqFactors = llama3RopeFactors(config.ropeTheta, headDim, opts.ropeScaling);
  }
  const normal = seededNormal(opts.seed ?? 1);
  const weights: TinyWeights['weights'] = [];
  const add = (name: string, shape: number[], std: number, mean = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = mean + std * normal();
    weights.push({ name, shape, values });
  };
  const linear = (name: string, out: number, inp: number) => add(name, [out, inp], 1 / Math.sqrt(inp));
  add('model.embed_tokens.weight', [vocabSize, hiddenSize], 1);
  for (let l = 0; l < numLayers; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [hiddenSize], 0.1, 1);
    linear(`${p}self_attn.q_proj.weight`, numHeads * headDim, hiddenSize);
    linear(`${p}self_attn.k_proj.weight`, numKvHeads * headDim, hiddenSize);
    linear(`${p}self_attn.v_proj.weight`, numKvHeads * headDim, hiddenSize);
    if (bias) {
      add(`${p}self_attn.q_proj.bias`, [numHeads * headDim], 0.1);
      add(`${p}self_attn.k_proj.bias`, [numKvHeads * headDim], 0.1);
      add(`${p}self_attn.v_proj.bias`, [numKvHeads * headDim], 0.1);
    }
    linear(`${p}self_attn.o_proj.weight`, hiddenSize, numHeads * headDim);
    add(`${p}post_attention_layernorm.weight`, [hiddenSize], 0.1, 1);
    linear(`${p}mlp.gate_proj.weight`, intermediateSize, hiddenSize);
    linear(`${p}mlp.up_proj.weight`, intermediateSize, hiddenSize);
    linear(`${p}mlp.down_proj.weight`, hiddenSize, intermediateSize);
  }
  add('model.norm.weight', [hiddenSize], 0.1, 1);
  if (!config.tieWordEmbeddings) linear('lm_head.weight', vocabSize, hiddenSize);
  const tokenizer = tinyTokenizerSpec(vocabSize);
  tokenizer.chatTemplate = TEMPLATE;
  return { config, weights, tokenizer, chatTemplate: TEMPLATE };
}

/**
 * Write a small Llama (or Qwen2-style) model with deterministic random weights as a Hugging Face folder:
 * config.json, model.safetensors, tokenizer.json, tokenizer_config.json. Same options, same bytes.
 */
export async function createTinyModel(
  dir: string,
  opts: TinyModelOptions = {},
): Promise<{ dir: string; config: LlamaConfig }> {
  const dtype = opts.dtype ?? 'f32';
  const { config, weights, tokenizer: spec } = generateTinyModel(opts);
  const bias = config.attentionBias;
  const tensors = weights.map((w) => tensor(w.name, w.shape, w.values, dtype));
  const { vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim } = config;
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  writeFileSync(
    join(dir, 'config.json'),
    `${JSON.stringify(
      {
        architectures: [config.architecture === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
        model_type: config.architecture,
        vocab_size: vocabSize,
        hidden_size: hiddenSize,
        intermediate_size: intermediateSize,
        num_hidden_layers: numLayers,
        num_attention_heads: numHeads,
        num_key_value_heads: numKvHeads,
        head_dim: headDim,
        hidden_act: 'silu',
        rms_norm_eps: config.rmsNormEps,
        rope_theta: config.ropeTheta,
        max_position_embeddings: config.maxContext,
        tie_word_embeddings: config.tieWordEmbeddings,
        attention_bias: bias,
        ...(config.ropeScaling
          ? {
              rope_scaling: {
                rope_type: 'llama3',
                factor: config.ropeScaling.factor,
                low_freq_factor: config.ropeScaling.lowFreqFactor,
                high_freq_factor: config.ropeScaling.highFreqFactor,
                original_max_position_embeddings: config.ropeScaling.originalMaxContext,
              },
            }
          : {}),
        bos_token_id: spec.bosTokenId,
        eos_token_id: spec.eosTokenId,
        torch_dtype: dtype === 'f32' ? 'float32' : 'float16',
      },
      null,
      2,
    )}\n`,
  );
  // A plain Hugging Face tokenizer.json, split like SmolLM2's (single digits, then byte-level GPT-2).
  const tj = tokenizerJson(spec);
  delete tj.cascadia;
  tj.pre_tokenizer = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Digits', individual_digits: true },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    ],
  };
  tj.added_tokens = spec.tokens
    .map((content, id) => ({ id, content, special: true }))
    .filter(({ id }) => spec.tokenTypes[id] === TokenType.Control)
    .map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false, normalized: false }));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tj, null, 1));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    `${JSON.stringify(
      {
        add_bos_token: false,
        add_eos_token: false,
        bos_token: '<|im_start|>',
        eos_token: '<|im_end|>',
        pad_token: '<|im_end|>',
        model_max_length: config.maxContext,
        chat_template: TEMPLATE,
        tokenizer_class: 'GPT2Tokenizer',
      },
      null,
      2,
    )}\n`,
  );
  return { dir, config };
}
