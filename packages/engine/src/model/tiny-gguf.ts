import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TokenizerSpec } from '../tokenizer/spec.js';
import { unpermuteRows } from './gguf-model.js';
import { type GgufWriteTensor, type GgufWriteValue, writeGguf } from './gguf-writer.js';
import { quantizeValues } from './quantize.js';
import { generateTinyModel, type TinyModelOptions } from './tiny.js';
import type { LlamaConfig, TensorType } from './types.js';

const GGML_TYPE: Record<string, number> = { f32: 0, f16: 1, q4_0: 2, q4_1: 3, q8_0: 8 };

const HF_TO_GGUF: [RegExp, string][] = [
  [/^model\.embed_tokens\.weight$/, 'token_embd.weight'],
  [/^model\.norm\.weight$/, 'output_norm.weight'],
  [/^lm_head\.weight$/, 'output.weight'],
  [/^model\.layers\.(\d+)\.input_layernorm\.(\w+)$/, 'blk.$1.attn_norm.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.q_proj\.(\w+)$/, 'blk.$1.attn_q.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.k_proj\.(\w+)$/, 'blk.$1.attn_k.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.v_proj\.(\w+)$/, 'blk.$1.attn_v.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.o_proj\.(\w+)$/, 'blk.$1.attn_output.$2'],
  [/^model\.layers\.(\d+)\.post_attention_layernorm\.(\w+)$/, 'blk.$1.ffn_norm.$2'],
  [/^model\.layers\.(\d+)\.mlp\.gate_proj\.(\w+)$/, 'blk.$1.ffn_gate.$2'],
  [/^model\.layers\.(\d+)\.mlp\.up_proj\.(\w+)$/, 'blk.$1.ffn_up.$2'],
  [/^model\.layers\.(\d+)\.mlp\.down_proj\.(\w+)$/, 'blk.$1.ffn_down.$2'],
];

function ggufName(hf: string): string {
  for (const [re, to] of HF_TO_GGUF) if (re.test(hf)) return hf.replace(re, to);
  throw new Error(`no GGUF name for ${hf}`);
}

/** llama.cpp's converter order for q/k rows (the inverse of `unpermuteRows`). */
function permuteRows(values: Float32Array, rows: number, heads: number): Float32Array {
  const cols = values.length / rows;
  const headRows = rows / heads;
  const half = headRows / 2;
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * headRows + j * half + i) * cols;
        const to = (h * headRows + 2 * i + j) * cols;
        out.set(values.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

export interface TinyGgufOptions extends TinyModelOptions {
  /** Storage of the 2-D linear weights (norms stay f32). Default q4_1, like the default SmolLM2 file. */
  quant?: 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_1';
  /** Storage of the token embedding. Default q8_0 (f32 when quant is f32). */
  embeddingQuant?: 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_1';
  /** Another tokenizer to store instead of the tiny one (the vocabulary size follows it). */
  tokenizer?: TokenizerSpec;
  /** `tokenizer.ggml.pre` for byte-level tokenizers. Default `smollm`. */
  tokenizerPre?: string;
}

/**
 * The tiny model as a GGUF file written the way llama.cpp's converter writes Llama models (tensor names,
 * metadata, q/k rows permuted, GGML block quantization). Same options as `createTinyModel`, same weights
 * before quantization.
 */
export async function createTinyGguf(
  path: string,
  opts: TinyGgufOptions = {},
): Promise<{ path: string; config: LlamaConfig }> {
  const custom = opts.tokenizer;
  const generated = generateTinyModel(custom ? { ...opts, vocab: custom.tokens.length } : opts);
  const { config, weights } = generated;
  const tokenizer = custom ?? generated.tokenizer;
  const isSpm = tokenizer.kind === 'spm';
  const quant = opts.quant ?? 'q4_1';
  const embQuant = opts.embeddingQuant ?? (quant === 'f32' ? 'f32' : 'q8_0');
  const arch = config.architecture;
  const tensors: GgufWriteTensor[] = [];
  for (const w of weights) {
    let values = w.values;
    if (arch === 'llama' && /self_attn\.(q|k)_proj/.test(w.name)) {
      const heads = w.name.includes('q_proj') ? config.numHeads : config.numKvHeads;
      values = permuteRows(values, w.shape[0]!, heads);
    }
    const type: TensorType =
      w.shape.length === 1 ? 'f32' : w.name === 'model.embed_tokens.weight' ? embQuant : quant;
    tensors.push({
      name: ggufName(w.name),
      dims: [...w.shape].reverse(),
      ggmlType: GGML_TYPE[type]!,
      data: quantizeValues(values, type),
    });
  }
  if (config.ropeFreqFactors) {
    const factors = Float32Array.from(config.ropeFreqFactors);
    tensors.push({
      name: 'rope_freqs.weight',
      dims: [factors.length],
      ggmlType: 0,
      data: new Uint8Array(factors.buffer),
    });
  }
  const fileType = { f32: 0, f16: 1, q4_0: 2, q4_1: 3, q8_0: 7 }[quant];
  const metadata: Record<string, GgufWriteValue> = {
    'general.architecture': { type: 'string', value: arch },
    'general.name': { type: 'string', value: 'Tiny Test Model' },
    'general.file_type': { type: 'u32', value: fileType },
    [`${arch}.block_count`]: { type: 'u32', value: config.numLayers },
    [`${arch}.context_length`]: { type: 'u32', value: config.maxContext },
    [`${arch}.embedding_length`]: { type: 'u32', value: config.hiddenSize },
    [`${arch}.feed_forward_length`]: { type: 'u32', value: config.intermediateSize },
    [`${arch}.attention.head_count`]: { type: 'u32', value: config.numHeads },
    [`${arch}.attention.head_count_kv`]: { type: 'u32', value: config.numKvHeads },
    [`${arch}.rope.freq_base`]: { type: 'f32', value: config.ropeTheta },
    [`${arch}.attention.layer_norm_rms_epsilon`]: { type: 'f32', value: config.rmsNormEps },
    [`${arch}.vocab_size`]: { type: 'u32', value: config.vocabSize },
    [`${arch}.rope.dimension_count`]: { type: 'u32', value: config.headDim },
    'tokenizer.ggml.model': { type: 'string', value: isSpm ? 'llama' : 'gpt2' },
    'tokenizer.ggml.tokens': { type: 'array', itemType: 'string', value: tokenizer.tokens },
    'tokenizer.ggml.token_type': { type: 'array', itemType: 'i32', value: tokenizer.tokenTypes },
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: tokenizer.addBos },
    'tokenizer.ggml.add_space_prefix': { type: 'bool', value: tokenizer.addSpacePrefix },
    'general.quantization_version': { type: 'u32', value: 2 },
  };
  if (isSpm)
    metadata['tokenizer.ggml.scores'] = { type: 'array', itemType: 'f32', value: tokenizer.scores ?? [] };
  else {
    metadata['tokenizer.ggml.pre'] = { type: 'string', value: opts.tokenizerPre ?? 'smollm' };
    metadata['tokenizer.ggml.merges'] = { type: 'array', itemType: 'string', value: tokenizer.merges };
  }
  const ids = {
    bos_token_id: tokenizer.bosTokenId,
    eos_token_id: tokenizer.eosTokenId,
    padding_token_id: tokenizer.padTokenId,
    unknown_token_id: tokenizer.unkTokenId,
  };
  for (const [key, id] of Object.entries(ids)) {
    if (id !== undefined) metadata[`tokenizer.ggml.${key}`] = { type: 'u32', value: id };
  }
  if (tokenizer.chatTemplate !== undefined) {
    metadata['tokenizer.chat_template'] = { type: 'string', value: tokenizer.chatTemplate };
  }
  mkdirSync(dirname(path), { recursive: true });
  writeGguf(path, metadata, tensors);
  return { path, config };
}

export { permuteRows, unpermuteRows };
