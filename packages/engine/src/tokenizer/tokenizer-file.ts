import { writeFileSync } from 'node:fs';
import type { CascadiaTokenizerExtension } from './hf-tokenizer.js';
import { type TokenizerSpec, TokenType } from './spec.js';

/**
 * Merges for a SentencePiece vocabulary given by scores, as transformers' converter derives them:
 * every split of a token into two vocabulary pieces, ordered by the token's score.
 */
function mergesFromScores(spec: TokenizerSpec): string[] {
  const vocab = new Map<string, number>();
  spec.tokens.forEach((t, i) => {
    if (!vocab.has(t)) vocab.set(t, i);
  });
  const scores = spec.scores ?? [];
  const found: { merge: string; score: number; id: number }[] = [];
  spec.tokens.forEach((t, id) => {
    if (spec.tokenTypes[id] !== TokenType.Normal) return;
    const chars = Array.from(t);
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('');
      const right = chars.slice(i).join('');
      if (vocab.has(left) && vocab.has(right))
        found.push({ merge: `${left} ${right}`, score: scores[id] ?? 0, id });
    }
  });
  found.sort((a, b) => b.score - a.score || a.id - b.id);
  return found.map((f) => f.merge);
}

/** A tokenizer.json (Hugging Face tokenizers format) holding the spec exactly, plus a `cascadia` extension. */
export function tokenizerJson(spec: TokenizerSpec): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  const duplicates: Record<string, string> = {};
  const tokenTypes: Record<string, number> = {};
  const addedTokens: unknown[] = [];
  spec.tokens.forEach((t, id) => {
    if (Object.hasOwn(vocab, t)) duplicates[id] = t;
    else vocab[t] = id;
    const type = spec.tokenTypes[id] ?? TokenType.Normal;
    if (type === TokenType.Control || type === TokenType.UserDefined || type === TokenType.Unknown) {
      addedTokens.push({
        id,
        content: t,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: type !== TokenType.UserDefined,
      });
    }
    if (type !== TokenType.Normal) tokenTypes[id] = type;
  });
  const ext: CascadiaTokenizerExtension = {
    kind: spec.kind,
    preTokenizer: spec.preTokenizer,
    ignoreMerges: spec.ignoreMerges,
    addBos: spec.addBos,
    addEos: spec.addEos,
    addSpacePrefix: spec.addSpacePrefix,
    eosTokenIds: spec.eosTokenIds,
    tokenTypes,
    duplicates,
  };
  for (const key of ['bosTokenId', 'eosTokenId', 'unkTokenId', 'padTokenId'] as const) {
    const v = spec[key];
    if (v !== undefined) ext[key] = v;
  }
  if (spec.chatTemplate !== undefined) ext.chatTemplate = spec.chatTemplate;
  if (spec.scores) ext.scores = spec.scores;
  if (spec.normalization) ext.normalization = spec.normalization;
  const derivedMerges = spec.kind === 'spm' && spec.merges.length === 0;
  if (derivedMerges) ext.derivedMerges = true;

  const bosText = spec.bosTokenId === undefined ? undefined : spec.tokens[spec.bosTokenId];
  const postProcessor =
    spec.addBos && bosText !== undefined
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: bosText, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [
            { SpecialToken: { id: bosText, type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: bosText, type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: { [bosText]: { id: bosText, ids: [spec.bosTokenId], tokens: [bosText] } },
        }
      : null;
  const isSpm = spec.kind === 'spm';
  const normalizers: Record<string, unknown>[] = [];
  if (spec.normalization) normalizers.push({ type: spec.normalization });
  if (isSpm) {
    if (spec.addSpacePrefix) normalizers.push({ type: 'Prepend', prepend: '\u2581' });
    normalizers.push({ type: 'Replace', pattern: { String: ' ' }, content: '\u2581' });
  }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer:
      normalizers.length === 0
        ? null
        : normalizers.length === 1
          ? normalizers[0]
          : { type: 'Sequence', normalizers },
    pre_tokenizer: isSpm
      ? null
      : {
          type: 'Sequence',
          pretokenizers: [
            ...spec.preTokenizer.patterns.map((p) => ({
              type: 'Split',
              pattern: { Regex: p },
              behavior: 'Isolated',
              invert: false,
            })),
            {
              type: 'ByteLevel',
              add_prefix_space: spec.addSpacePrefix,
              trim_offsets: true,
              use_regex: false,
            },
          ],
        },
    post_processor: postProcessor,
    decoder: isSpm
      ? {
          type: 'Sequence',
          decoders: [
            { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
            { type: 'ByteFallback' },
            { type: 'Fuse' },
            ...(spec.addSpacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
          ],
        }
      : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: spec.unkTokenId === undefined ? null : spec.tokens[spec.unkTokenId],
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: isSpm,
      byte_fallback: isSpm,
      ignore_merges: spec.ignoreMerges,
      vocab,
      merges: derivedMerges ? mergesFromScores(spec) : spec.merges,
    },
    cascadia: ext,
  };
}

/** Write the tokenizer as one self-contained tokenizer.json file (what shards carry). */
export function writeTokenizerFile(spec: TokenizerSpec, path: string): void {
  writeFileSync(path, JSON.stringify(tokenizerJson(spec)));
}
