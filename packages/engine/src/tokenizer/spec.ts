/** GGUF token types (llama.cpp `llama_token_type`). */
export const TokenType = {
  Normal: 1,
  Unknown: 2,
  Control: 3,
  UserDefined: 4,
  Unused: 5,
  Byte: 6,
} as const;

/**
 * Everything needed to tokenize like the model's own tokenizer, independent of where it came from
 * (GGUF metadata or tokenizer.json). Serialized as a tokenizer.json by `writeTokenizerFile`.
 */
export interface TokenizerSpec {
  /** `byte-bpe`: GPT-2 style byte-level BPE. `spm`: SentencePiece BPE with byte fallback (Llama 1/2). */
  kind: 'byte-bpe' | 'spm';
  /** Token text by id (byte-level alphabet for byte-bpe, `▁` for spaces for spm). */
  tokens: string[];
  /** `TokenType` by id. */
  tokenTypes: number[];
  /** BPE merges "left right", by rank (byte-bpe; optional for spm, which merges by `scores`). */
  merges: string[];
  /** spm: merge priority of each token (higher merges first). */
  scores?: number[];
  /** Regular expressions applied in turn, each splitting every piece into matches and the gaps between. */
  preTokenizer: { name: string; patterns: string[] };
  /** A whole pre-tokenized word found in the vocabulary is one token, merges notwithstanding (Llama 3). */
  ignoreMerges: boolean;
  addBos: boolean;
  addEos: boolean;
  /** Prepend a space to the text (spm; byte-bpe with `add_prefix_space`). */
  addSpacePrefix: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  /** Every token that ends generation (eos, eot, and end-of-turn control tokens such as `<|im_end|>`). */
  eosTokenIds: number[];
  unkTokenId?: number;
  padTokenId?: number;
  chatTemplate?: string;
  /** Unicode normalization applied to plain text before splitting (tokenizer.json `normalizer`, e.g. Qwen2's NFC). */
  normalization?: 'NFC' | 'NFD' | 'NFKC' | 'NFKD';
}
