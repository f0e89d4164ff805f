import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTinyGguf, generateTinyModel } from '../src/model/index.js';
import { loadTokenizer, type Tokenizer } from '../src/tokenizer/index.js';
import { type LlamaCppReference, llamaCppUnavailableReason, openLlamaCpp } from './support/llama-cpp.js';
import { SMOLLM2_MISSING_REASON, smollm2Path } from './support/smollm2.js';
import { spmVocabFrom } from './support/spm-vocab.js';
import { TOKENIZER_CORPUS } from './support/tokenizer-corpus.js';

const unavailable = await llamaCppUnavailableReason();
if (unavailable) console.warn(`tokenizer parity with llama.cpp not run: ${unavailable}`);
const gguf = smollm2Path();
if (!gguf) console.warn(SMOLLM2_MISSING_REASON);

function expectSameTokens(ours: Tokenizer, ref: LlamaCppReference, special: boolean): void {
  for (const text of TOKENIZER_CORPUS) {
    expect(ours.encode(text, { addSpecial: false, parseSpecial: special }), JSON.stringify(text)).toEqual(
      ref.tokenize(text, special),
    );
  }
}

describe.skipIf(!!unavailable || !gguf)('SmolLM2 tokenization is identical to llama.cpp', () => {
  let ref: LlamaCppReference;
  let ours: Tokenizer;
  beforeAll(async () => {
    ref = await openLlamaCpp(gguf!, { vocabOnly: true });
    ours = loadTokenizer(gguf!);
  });
  afterAll(async () => {
    await ref?.close();
  });

  it(`on ${TOKENIZER_CORPUS.length} strings with special tokens parsed`, () => {
    expect(TOKENIZER_CORPUS.length).toBeGreaterThanOrEqual(20);
    expectSameTokens(ours, ref, true);
  });

  it('on the same strings with special tokens taken as text', () => {
    expectSameTokens(ours, ref, false);
  });

  it('decodes back to the same text as llama.cpp', () => {
    for (const text of TOKENIZER_CORPUS) {
      const ids = ref.tokenize(text, true);
      expect(ours.decode(ids), JSON.stringify(text)).toBe(ref.detokenize(ids, true));
      expect(ours.decode(ids)).toBe(text);
    }
  });
});

describe.skipIf(!!unavailable)('tokenizers built from other GGUF tokenizer kinds match llama.cpp', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tok-parity-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const pre of ['gpt-2', 'llama-bpe', 'qwen2', 'default', 'smollm']) {
    it(`byte-level BPE with pre-tokenizer "${pre}"`, async () => {
      const path = join(dir, `bpe-${pre}.gguf`);
      await createTinyGguf(path, { vocab: 600, tokenizerPre: pre, layers: 1 });
      const ref = await openLlamaCpp(path, { vocabOnly: true });
      try {
        expectSameTokens(loadTokenizer(path), ref, true);
      } finally {
        await ref.close();
      }
    });
  }

  it('SentencePiece (tokenizer.ggml.model = llama) with byte fallback and a prefix space', async () => {
    const path = join(dir, 'spm.gguf');
    const spec = spmVocabFrom(generateTinyModel({ vocab: 600 }).tokenizer);
    await createTinyGguf(path, { tokenizer: spec, layers: 1 });
    const ref = await openLlamaCpp(path, { vocabOnly: true });
    try {
      const ours = loadTokenizer(path);
      expectSameTokens(ours, ref, true);
      for (const text of TOKENIZER_CORPUS) {
        const ids = ref.tokenize(text, true);
        expect(ours.decode(ids), JSON.stringify(text)).toBe(ref.detokenize(ids, true));
      }
    } finally {
      await ref.close();
    }
  });
});
