import { byteLevelToBytes } from '../../src/tokenizer/byte-level.js';
import { type TokenizerSpec, TokenType } from '../../src/tokenizer/spec.js';

/**
 * A small SentencePiece-style (Llama 1/2) vocabulary: <unk>, <s>, </s>, 256 byte tokens, single
 * characters, and whole pieces derived from a byte-level BPE's merges, scored by merge order.
 */
export function spmVocabFrom(bpe: TokenizerSpec): TokenizerSpec {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TokenType.Unknown, TokenType.Control, TokenType.Control];
  const scores = [0, 0, 0];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TokenType.Byte);
    scores.push(0);
  }
  const seen = new Set(tokens);
  const add = (t: string, score: number) => {
    if (t.length === 0 || seen.has(t)) return;
    seen.add(t);
    tokens.push(t);
    types.push(TokenType.Normal);
    scores.push(score);
  };
  const singles =
    '\u2581abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?\'"()[]{}<>-_=+*/\\|&%$#@~`^éüß日本語';
  Array.from(singles).forEach((ch, i) => {
    add(ch, -1000 - i);
  });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  bpe.merges.forEach((m, rank) => {
    try {
      const text = decoder.decode(byteLevelToBytes(m.replace(' ', ''))).replaceAll(' ', '\u2581');
      add(text, rank === 0 ? 0 : -rank);
    } catch {
      // merges inside a multi-byte character are not SentencePiece pieces
    }
  });
  return {
    kind: 'spm',
    tokens,
    tokenTypes: types,
    merges: [],
    scores,
    preTokenizer: { name: 'spm', patterns: [] },
    ignoreMerges: false,
    addBos: true,
    addEos: false,
    addSpacePrefix: true,
    bosTokenId: 1,
    eosTokenId: 2,
    eosTokenIds: [2],
    unkTokenId: 0,
  };
}
