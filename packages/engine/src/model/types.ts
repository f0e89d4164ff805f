import type { TokenizerSpec } from '../tokenizer/spec.js';

/** Llama-family decoder hyper-parameters, in Hugging Face terms. */
export interface LlamaConfig {
  architecture: 'llama' | 'qwen2';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  maxContext: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2 style). */
  attentionBias: boolean;
  /** Llama 3.1-style frequency scaling of RoPE (from config.json); absent means plain RoPE. */
  ropeScaling?: RopeScaling;
  /**
   * Per-frequency RoPE divisors (headDim / 2 of them): inverse frequency i is `theta^(-2i/headDim) / f[i]`.
   * Set from a GGUF's `rope_freqs` tensor, which is how llama.cpp stores Llama 3.1 scaling (the
   * parameters themselves are not in the file). Equivalent to `ropeScaling` when both are present.
   */
  ropeFreqFactors?: number[];
}

export interface RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxContext: number;
}

export type TensorType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_1' | 'q4_k' | 'q5_k' | 'q6_k';

export interface WeightTensor {
  /** Hugging Face name, e.g. `model.layers.3.self_attn.q_proj.weight`. */
  name: string;
  /** Hugging Face order: `[out, in]` for linear weights. */
  shape: number[];
  type: TensorType;
  /**
   * Raw bytes, row-major, quantization blocks along the last dimension.
   * For file-backed sources this is read from disk on every access (not cached),
   * so hold on to the returned array while you need it rather than reading it twice.
   */
  readonly data: Uint8Array;
}

export interface ModelSource {
  modelId: string;
  config: LlamaConfig;
  tensors: Map<string, WeightTensor>;
  tokenizer: TokenizerSpec;
  chatTemplate?: string;
  /** SHA-256 (hex) of the source file, or of the listing of the folder's files and their digests. */
  sourceDigest: string;
  /** Where it came from. */
  format: 'gguf' | 'safetensors';
  /** Raw GGUF metadata (arrays longer than 64 items elided), for inspection. */
  metadata?: Record<string, unknown>;
}
