import { basename } from 'node:path';
import { tokenizerSpecFromGguf } from '../tokenizer/gguf-tokenizer.js';
import { sha256File } from './digest.js';
import {
  CorruptModelError,
  MissingTensorError,
  TruncatedModelError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
} from './errors.js';
import {
  GGML_TYPE_NAMES,
  type GgufFile,
  type GgufTensorInfo,
  type GgufValue,
  readFileRange,
  readGguf,
} from './gguf.js';
import { dequantize, rowByteSize, tensorByteSize } from './quant.js';
import { requiredTensorNames } from './required.js';
import type { LlamaConfig, ModelSource, TensorType, WeightTensor } from './types.js';

const GGML_TO_TENSOR_TYPE: Record<number, TensorType> = {
  0: 'f32',
  1: 'f16',
  2: 'q4_0',
  3: 'q4_1',
  8: 'q8_0',
  12: 'q4_k',
  13: 'q5_k',
  14: 'q6_k',
  30: 'bf16',
};

/** llama.cpp tensor names (per block) to Hugging Face names. */
const BLOCK_TENSOR_NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};

const GLOBAL_TENSOR_NAMES: Record<string, string> = {
  token_embd: 'model.embed_tokens',
  output_norm: 'model.norm',
  output: 'lm_head',
  rope_freqs: 'rope_freqs',
};

/** Hugging Face name of a llama.cpp tensor name; unknown names pass through unchanged. */
export function hfTensorName(ggufName: string): string {
  const block = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(ggufName);
  if (block) {
    const mapped = BLOCK_TENSOR_NAMES[block[2]!];
    if (mapped) return `model.layers.${block[1]}.${mapped}.${block[3]}`;
    return ggufName;
  }
  const global = /^([a-z_]+)\.(weight|bias)$/.exec(ggufName);
  if (global) {
    const mapped = GLOBAL_TENSOR_NAMES[global[1]!];
    if (mapped) return `${mapped}.${global[2]}`;
  }
  return ggufName;
}

function num(file: GgufFile, key: string, fallback?: number): number {
  const v = file.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new CorruptModelError(file.path, `metadata key ${key} is missing`);
  }
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new CorruptModelError(file.path, `metadata key ${key} should be a number, got ${typeof v}`);
}

function str(file: GgufFile, key: string): string | undefined {
  const v = file.metadata.get(key);
  return typeof v === 'string' ? v : undefined;
}

function configFromGguf(file: GgufFile, names: Set<string>): LlamaConfig {
  const arch = str(file, 'general.architecture');
  if (arch === undefined) throw new CorruptModelError(file.path, 'general.architecture is missing');
  if (arch !== 'llama' && arch !== 'qwen2') throw new UnsupportedArchitectureError(file.path, arch);
  const p = `${arch}.`;
  const hiddenSize = num(file, `${p}embedding_length`);
  const numHeads = num(file, `${p}attention.head_count`);
  const headDim = num(
    file,
    `${p}attention.key_length`,
    num(file, `${p}rope.dimension_count`, hiddenSize / numHeads),
  );
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  const vocabSize = num(file, `${p}vocab_size`, Array.isArray(tokens) ? tokens.length : 0);
  const config: LlamaConfig = {
    architecture: arch,
    vocabSize,
    hiddenSize,
    intermediateSize: num(file, `${p}feed_forward_length`),
    numLayers: num(file, `${p}block_count`),
    numHeads,
    numKvHeads: num(file, `${p}attention.head_count_kv`, numHeads),
    headDim,
    ropeTheta: num(file, `${p}rope.freq_base`, 10000),
    rmsNormEps: num(file, `${p}attention.layer_norm_rms_epsilon`, 1e-5),
    maxContext: num(file, `${p}context_length`, 2048),
    tieWordEmbeddings: !names.has('output.weight'),
    attentionBias: names.has('blk.0.attn_q.bias'),
  };
  for (const [k, v] of Object.entries(config)) {
    if (typeof v === 'number' && !(Number.isFinite(v) && v > 0)) {
      throw new CorruptModelError(file.path, `model parameter ${k} is ${v}`);
    }
  }
  if (!Number.isInteger(config.headDim) || config.numHeads % config.numKvHeads !== 0) {
    throw new CorruptModelError(
      file.path,
      `inconsistent heads: ${numHeads} heads, ${config.numKvHeads} kv heads`,
    );
  }
  return config;
}

/**
 * llama.cpp's converter interleaves the two rotary halves of every q/k head (row r = h*D + 2i + j holds
 * Hugging Face row h*D + j*D/2 + i). Undo that on whole rows (for quantized rows, whole block-rows).
 */
export function unpermuteRows(data: Uint8Array, rows: number, rowBytes: number, heads: number): Uint8Array {
  const headRows = rows / heads;
  const halfRows = headRows / 2;
  const out = new Uint8Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < halfRows; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * headRows + 2 * i + j) * rowBytes;
        const to = (h * headRows + j * halfRows + i) * rowBytes;
        out.set(data.subarray(from, from + rowBytes), to);
      }
    }
  }
  return out;
}

function lazyTensor(
  path: string,
  info: GgufTensorInfo,
  type: TensorType,
  byteSize: number,
  permuteHeads: number | undefined,
): WeightTensor {
  const shape = [...info.dims].reverse();
  const name = hfTensorName(info.name);
  return {
    name,
    shape,
    type,
    get data(): Uint8Array {
      const raw = readFileRange(path, info.offset, byteSize);
      if (permuteHeads === undefined) return raw;
      // Rows are the output dimension; a bias is a column of one-element rows.
      const rowBytes = rowByteSize(type, shape.length === 1 ? 1 : shape[1]!);
      return unpermuteRows(raw, shape[0]!, rowBytes, permuteHeads);
    },
  };
}

function elideMetadata(metadata: Map<string, GgufValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of metadata) {
    if (Array.isArray(v) && v.length > 64) out[k] = `[${v.length} items]`;
    else out[k] = typeof v === 'bigint' ? v.toString() : v;
  }
  return out;
}

export async function openGguf(path: string): Promise<ModelSource> {
  const file = readGguf(path);
  const names = new Set(file.tensors.map((t) => t.name));
  const config = configFromGguf(file, names);
  const tensors = new Map<string, WeightTensor>();
  for (const info of file.tensors) {
    const type = GGML_TO_TENSOR_TYPE[info.ggmlType];
    if (type === undefined) {
      throw new UnsupportedTensorTypeError(
        path,
        info.name,
        GGML_TYPE_NAMES[info.ggmlType] ?? `#${info.ggmlType}`,
      );
    }
    const byteSize = tensorByteSize(type, [...info.dims].reverse());
    if (byteSize === undefined) {
      throw new CorruptModelError(
        path,
        `tensor ${info.name} row length ${info.dims[0]} is not a whole number of ${type} blocks`,
      );
    }
    if (info.offset + byteSize > file.fileSize) {
      throw new TruncatedModelError(
        path,
        `tensor ${info.name} data ends at byte ${info.offset + byteSize}, beyond the end of the file (${file.fileSize} bytes)`,
      );
    }
    let permuteHeads: number | undefined;
    if (config.architecture === 'llama') {
      if (/^blk\.\d+\.attn_q\.(weight|bias)$/.test(info.name)) permuteHeads = config.numHeads;
      if (/^blk\.\d+\.attn_k\.(weight|bias)$/.test(info.name)) permuteHeads = config.numKvHeads;
    }
    const tensor = lazyTensor(path, info, type, byteSize, permuteHeads);
    tensors.set(tensor.name, tensor);
  }
  for (const required of requiredTensorNames(config)) {
    if (!tensors.has(required)) throw new MissingTensorError(path, required);
  }
  const ropeFreqs = tensors.get('rope_freqs.weight');
  if (ropeFreqs) {
    const factors = Array.from(dequantize(ropeFreqs));
    if (factors.length !== config.headDim / 2 || factors.some((f) => !(f > 0))) {
      throw new CorruptModelError(
        path,
        `rope_freqs holds ${factors.length} factors, expected ${config.headDim / 2} positive ones`,
      );
    }
    config.ropeFreqFactors = factors;
  }
  const tokenizer = tokenizerSpecFromGguf(file);
  const sourceDigest = await sha256File(path);
  // From the file name, without the quantization suffix: SmolLM2-135M-Instruct.Q4_1.gguf → smollm2-135m-instruct.
  const modelId = basename(path)
    .replace(/\.gguf$/i, '')
    .replace(/[.-](q\d+_[0-9a-z_]+|f16|f32|bf16)$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-');
  const source: ModelSource = {
    modelId,
    config,
    tensors,
    tokenizer,
    sourceDigest,
    format: 'gguf',
    metadata: elideMetadata(file.metadata),
  };
  if (tokenizer.chatTemplate !== undefined) source.chatTemplate = tokenizer.chatTemplate;
  return source;
}
