import { CorruptModelError, ModelFormatError } from '../model/errors.js';
import type { GgufFile } from '../model/gguf.js';
import { endOfGenerationIds } from './eog.js';
import { preTokenizerPatterns } from './pretokenizers.js';
import { type TokenizerSpec, TokenType } from './spec.js';

export class UnsupportedTokenizerError extends ModelFormatError {
  constructor(path: string, detail: string) {
    super('unsupported_tokenizer', path, `${path}: unsupported tokenizer: ${detail}`);
  }
}

function optionalId(file: GgufFile, key: string): number | undefined {
  const v = file.metadata.get(key);
  return typeof v === 'number' && v >= 0 ? v : undefined;
}

function flag(file: GgufFile, key: string, fallback: boolean): boolean {
  const v = file.metadata.get(key);
  return typeof v === 'boolean' ? v : fallback;
}

function stringArray(file: GgufFile, key: string, required: boolean): string[] {
  const v = file.metadata.get(key);
  if (v === undefined && !required) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new CorruptModelError(file.path, `${key} should be an array of strings`);
  }
  return v as string[];
}

function numberArray(file: GgufFile, key: string, length: number): number[] | undefined {
  const v = file.metadata.get(key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== length || v.some((x) => typeof x !== 'number')) {
    throw new CorruptModelError(file.path, `${key} should be an array of ${length} numbers`);
  }
  return v as number[];
}

/** The tokenizer llama.cpp would build from a GGUF file's `tokenizer.*` metadata. */
export function tokenizerSpecFromGguf(file: GgufFile): TokenizerSpec {
  const model = file.metadata.get('tokenizer.ggml.model');
  if (model !== 'gpt2' && model !== 'llama') {
    throw new UnsupportedTokenizerError(
      file.path,
      `tokenizer.ggml.model is ${JSON.stringify(model)} (gpt2 and llama are)`,
    );
  }
  const tokens = stringArray(file, 'tokenizer.ggml.tokens', true);
  const tokenTypes =
    numberArray(file, 'tokenizer.ggml.token_type', tokens.length) ?? tokens.map(() => TokenType.Normal);
  const pre = file.metadata.get('tokenizer.ggml.pre');
  const isBpe = model === 'gpt2';
  const bosTokenId = optionalId(file, 'tokenizer.ggml.bos_token_id') ?? (isBpe ? undefined : 1);
  const eosTokenId = optionalId(file, 'tokenizer.ggml.eos_token_id') ?? (isBpe ? undefined : 2);
  const spec: TokenizerSpec = {
    kind: isBpe ? 'byte-bpe' : 'spm',
    tokens,
    tokenTypes,
    merges: stringArray(file, 'tokenizer.ggml.merges', isBpe),
    preTokenizer: isBpe
      ? preTokenizerPatterns(typeof pre === 'string' ? pre : undefined)
      : { name: 'spm', patterns: [] },
    ignoreMerges: pre === 'llama-bpe' || pre === 'llama3' || pre === 'llama-v3',
    addBos: flag(file, 'tokenizer.ggml.add_bos_token', !isBpe),
    addEos: flag(file, 'tokenizer.ggml.add_eos_token', false),
    // llama.cpp only honours the prefix space for SentencePiece vocabularies.
    addSpacePrefix: !isBpe && flag(file, 'tokenizer.ggml.add_space_prefix', true),
    eosTokenIds: endOfGenerationIds(tokens, tokenTypes, [
      eosTokenId,
      optionalId(file, 'tokenizer.ggml.eot_token_id'),
      optionalId(file, 'tokenizer.ggml.eom_token_id'),
    ]),
  };
  if (!isBpe) {
    const scores = numberArray(file, 'tokenizer.ggml.scores', tokens.length);
    if (!scores)
      throw new CorruptModelError(file.path, 'a llama (SentencePiece) tokenizer needs tokenizer.ggml.scores');
    spec.scores = scores;
  }
  if (bosTokenId !== undefined) spec.bosTokenId = bosTokenId;
  if (eosTokenId !== undefined) spec.eosTokenId = eosTokenId;
  const unk = optionalId(file, 'tokenizer.ggml.unknown_token_id');
  if (unk !== undefined) spec.unkTokenId = unk;
  const pad = optionalId(file, 'tokenizer.ggml.padding_token_id');
  if (pad !== undefined) spec.padTokenId = pad;
  const template = file.metadata.get('tokenizer.chat_template');
  if (typeof template === 'string') spec.chatTemplate = template;
  return spec;
}
