import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tokenizerSpecFromHfFolder } from '../tokenizer/hf-tokenizer.js';
import { sha256File } from './digest.js';
import {
  CorruptModelError,
  MissingTensorError,
  NotAModelFileError,
  UnsupportedArchitectureError,
} from './errors.js';
import { requiredTensorNames } from './required.js';
import { llama3RopeFactors } from './rope.js';
import { readSafetensors } from './safetensors.js';
import type { LlamaConfig, ModelSource, WeightTensor } from './types.js';

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CorruptModelError(path, `not valid JSON (${(err as Error).message})`);
  }
}

function positive(path: string, cfg: Record<string, unknown>, key: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new CorruptModelError(
      path,
      `config.json: ${key} should be a positive number, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

export function configFromHf(path: string, cfg: Record<string, unknown>): LlamaConfig {
  const modelType = String(cfg.model_type ?? '');
  const archs = Array.isArray(cfg.architectures) ? cfg.architectures.map(String) : [];
  let architecture: 'llama' | 'qwen2';
  if (modelType === 'llama' || archs.includes('LlamaForCausalLM')) architecture = 'llama';
  else if (modelType === 'qwen2' || archs.includes('Qwen2ForCausalLM')) architecture = 'qwen2';
  else throw new UnsupportedArchitectureError(path, modelType || archs.join(',') || 'unknown');
  const hiddenSize = positive(path, cfg, 'hidden_size');
  const numHeads = positive(path, cfg, 'num_attention_heads');
  const config: LlamaConfig = {
    architecture,
    vocabSize: positive(path, cfg, 'vocab_size'),
    hiddenSize,
    intermediateSize: positive(path, cfg, 'intermediate_size'),
    numLayers: positive(path, cfg, 'num_hidden_layers'),
    numHeads,
    numKvHeads: positive(path, cfg, 'num_key_value_heads', numHeads),
    headDim: positive(path, cfg, 'head_dim', hiddenSize / numHeads),
    ropeTheta: positive(path, cfg, 'rope_theta', 10000),
    rmsNormEps: positive(path, cfg, 'rms_norm_eps', 1e-6),
    maxContext: positive(path, cfg, 'max_position_embeddings', 2048),
    tieWordEmbeddings: cfg.tie_word_embeddings === true,
    attentionBias: architecture === 'qwen2' || cfg.attention_bias === true,
  };
  const rs = cfg.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs && (rs.rope_type === 'llama3' || rs.type === 'llama3')) {
    config.ropeScaling = {
      type: 'llama3',
      factor: Number(rs.factor),
      lowFreqFactor: Number(rs.low_freq_factor),
      highFreqFactor: Number(rs.high_freq_factor),
      originalMaxContext: Number(rs.original_max_position_embeddings),
    };
    config.ropeFreqFactors = llama3RopeFactors(config.ropeTheta, config.headDim, config.ropeScaling);
  }
  if (!Number.isInteger(config.headDim) || config.numHeads % config.numKvHeads !== 0) {
    throw new CorruptModelError(path, `inconsistent heads: ${numHeads} heads, ${config.numKvHeads} kv heads`);
  }
  return config;
}

export async function openHfFolder(dir: string): Promise<ModelSource> {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new NotAModelFileError(dir, 'the folder has no config.json');
  const config = configFromHf(configPath, readJson(configPath));
  // A sharded checkpoint names its files in the index; otherwise every *.safetensors file is the model.
  const indexPath = join(dir, 'model.safetensors.index.json');
  const indexed = existsSync(indexPath)
    ? Object.values((readJson(indexPath).weight_map ?? {}) as Record<string, string>)
    : undefined;
  const files = (
    indexed ? [...new Set(indexed)] : readdirSync(dir).filter((f) => f.endsWith('.safetensors'))
  ).sort();
  for (const f of files) {
    if (!existsSync(join(dir, f)))
      throw new CorruptModelError(dir, `${f}, named by model.safetensors.index.json, is missing`);
  }
  if (files.length === 0) throw new NotAModelFileError(dir, 'the folder has no *.safetensors file');
  const tensors = new Map<string, WeightTensor>();
  for (const f of files) for (const t of readSafetensors(join(dir, f))) tensors.set(t.name, t);
  // Checkpoints without an LM head reuse the embedding matrix, whatever config.json says.
  if (!tensors.has('lm_head.weight')) config.tieWordEmbeddings = true;
  for (const required of requiredTensorNames(config)) {
    if (!tensors.has(required)) throw new MissingTensorError(dir, required);
  }
  const tokenizer = tokenizerSpecFromHfFolder(dir);
  // Digest of the folder: its model files and their own digests, in name order.
  const listing = createHash('sha256');
  const digested = readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors') || f.endsWith('.json'))
    .sort();
  for (const f of digested) listing.update(`${f}\0${await sha256File(join(dir, f))}\n`);
  const source: ModelSource = {
    modelId: basename(dir)
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-'),
    config,
    tensors,
    tokenizer,
    sourceDigest: listing.digest('hex'),
    format: 'safetensors',
  };
  if (tokenizer.chatTemplate !== undefined) source.chatTemplate = tokenizer.chatTemplate;
  return source;
}
