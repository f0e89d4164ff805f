import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptModelError, createTinyGguf, createTinyModel, generateTinyModel } from '../src/model/index.js';
import {
  ChatTemplateError,
  createTokenizer,
  loadTokenizer,
  loadTokenizerSpec,
  type TokenizerSpec,
  tokenizerJson,
  writeTokenizerFile,
} from '../src/tokenizer/index.js';
import { SMOLLM2_MISSING_REASON, smollm2Path } from './support/smollm2.js';
import { spmVocabFrom } from './support/spm-vocab.js';
import { TOKENIZER_CORPUS } from './support/tokenizer-corpus.js';

const gguf = smollm2Path();
if (!gguf) console.warn(SMOLLM2_MISSING_REASON);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tokenizer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function roundTrip(spec: TokenizerSpec, name: string): TokenizerSpec {
  const path = join(dir, name);
  writeTokenizerFile(spec, path);
  return loadTokenizerSpec(path);
}

describe('tokenizer file (tokenizer.json with a cascadia extension)', () => {
  it.skipIf(!gguf)('holds the SmolLM2 GGUF tokenizer exactly, and encodes the same', () => {
    const spec = loadTokenizerSpec(gguf!);
    const back = roundTrip(spec, 'smollm2.json');
    expect(back).toEqual(spec);
    const a = createTokenizer(spec);
    const b = loadTokenizer(join(dir, 'smollm2.json'));
    for (const t of TOKENIZER_CORPUS) expect(b.encode(t)).toEqual(a.encode(t));
    // It is a regular tokenizer.json: vocab, merges, added tokens and split rules are where readers expect them.
    const json = JSON.parse(readFileSync(join(dir, 'smollm2.json'), 'utf8'));
    expect(json.model.type).toBe('BPE');
    expect(Object.keys(json.model.vocab)).toHaveLength(49152);
    expect(json.model.merges).toHaveLength(48900);
    expect(json.added_tokens.map((t: { content: string }) => t.content)).toContain('<|im_end|>');
    expect(json.pre_tokenizer.pretokenizers[0]).toEqual({
      type: 'Split',
      pattern: { Regex: '\\p{N}' },
      behavior: 'Isolated',
      invert: false,
    });
  });

  it('holds a SentencePiece tokenizer exactly (scores, byte tokens, prefix space)', () => {
    const spec = spmVocabFrom(generateTinyModel({ vocab: 600 }).tokenizer);
    const back = roundTrip(spec, 'spm.json');
    expect(back).toEqual(spec);
    const json = tokenizerJson(spec) as { model: { merges: string[]; byte_fallback: boolean } };
    expect(json.model.byte_fallback).toBe(true);
    expect(json.model.merges.length).toBeGreaterThan(100);
    const tok = createTokenizer(back);
    expect(tok.encode('the cat')[0]).toBe(1); // BOS, as the model asks
    expect(tok.decode(tok.encode('the cat'), { skipSpecial: true })).toBe('the cat');
  });

  it('reads a plain Hugging Face SentencePiece-style tokenizer.json (Llama 2: merges, byte fallback, prefix space)', () => {
    const spec = spmVocabFrom(generateTinyModel({ vocab: 600 }).tokenizer);
    const tj = tokenizerJson(spec);
    delete tj.cascadia;
    const folder = join(dir, 'llama2-style');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify(tj));
    writeFileSync(
      join(folder, 'tokenizer_config.json'),
      JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }),
    );
    const plain = loadTokenizer(folder);
    const exact = createTokenizer(spec);
    expect(plain.spec.kind).toBe('spm');
    expect(plain.spec.addBos).toBe(true);
    expect(plain.spec.addSpacePrefix).toBe(true);
    expect(plain.eosTokenIds).toEqual([2]);
    for (const text of TOKENIZER_CORPUS)
      expect(plain.encode(text), JSON.stringify(text)).toEqual(exact.encode(text));
  });

  it('applies the NFC normalizer of a tokenizer.json (Qwen2 style) and keeps it through the file', () => {
    const tj = tokenizerJson(generateTinyModel().tokenizer);
    delete tj.cascadia;
    tj.normalizer = { type: 'NFC' };
    const path = join(dir, 'nfc.json');
    writeFileSync(path, JSON.stringify(tj));
    const tok = loadTokenizer(path);
    expect(tok.spec.normalization).toBe('NFC');
    // "é" as e + combining acute encodes like the precomposed character.
    expect(tok.encode('caf\u0065\u0301')).toEqual(tok.encode('caf\u00e9'));
    expect(createTokenizer(generateTinyModel().tokenizer).encode('caf\u0065\u0301')).not.toEqual(
      tok.encode('caf\u00e9'),
    );
    expect(roundTrip(tok.spec, 'nfc-again.json')).toEqual(tok.spec);
  });

  it('a split pattern JavaScript cannot run (possessive quantifiers) is a clear unsupported-tokenizer error', () => {
    const tj = tokenizerJson(generateTinyModel().tokenizer);
    delete tj.cascadia;
    tj.pre_tokenizer = {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: '[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+' },
          behavior: 'Isolated',
          invert: false,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
    const path = join(dir, 'possessive.json');
    writeFileSync(path, JSON.stringify(tj));
    expect(() => loadTokenizer(path)).toThrow(/unsupported tokenizer: split pattern/);
  });

  it('reads a plain Hugging Face tokenizer.json with Llama 3 style rules (Split regex with (?i:), ignore_merges, BOS template)', () => {
    const base = generateTinyModel().tokenizer;
    const tj = tokenizerJson({ ...base, addBos: true, bosTokenId: 1 }) as Record<string, unknown>;
    delete tj.cascadia;
    tj.pre_tokenizer = {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: {
            Regex:
              "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
          },
          behavior: 'Isolated',
          invert: false,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
    (tj.model as Record<string, unknown>).ignore_merges = true;
    const path = join(dir, 'llama3-style.json');
    writeFileSync(path, JSON.stringify(tj));
    const tok = loadTokenizer(path);
    expect(tok.spec.addBos).toBe(true);
    expect(tok.spec.ignoreMerges).toBe(true);
    const ids = tok.encode("It'S 12345 the capital");
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids, { skipSpecial: true })).toBe("It'S 12345 the capital");
    // Digits go in groups of up to three, and (?i:'s) keeps the contraction apart whatever its case.
    expect(tok.preTokenize("It'S 12345 the capital")).toEqual([
      'It',
      "'S",
      ' ',
      '123',
      '45',
      ' the',
      ' capital',
    ]);
  });
});

describe('encoding and decoding details', () => {
  it.skipIf(!gguf)('special tokens are single tokens; as text they are split', () => {
    const tok = loadTokenizer(gguf!);
    expect(tok.encode('<|im_start|>')).toEqual([1]);
    expect(tok.encode('<|im_start|>', { parseSpecial: false }).length).toBeGreaterThan(1);
    expect(tok.decode([1, 2], { skipSpecial: true })).toBe('');
    expect(tok.eosTokenIds).toEqual([0, 2]);
    expect(tok.isEndOfGeneration(2)).toBe(true);
    expect(tok.tokenId('<|im_end|>')).toBe(2);
  });

  it.skipIf(!gguf)('the stream decoder holds back split UTF-8 and never emits replacement characters', () => {
    const tok = loadTokenizer(gguf!);
    const text = 'Emoji 🇫🇷👨‍👩‍👧 and 日本語 text';
    const ids = tok.encode(text);
    const d = tok.createStreamDecoder();
    let out = '';
    for (const id of ids) {
      const piece = d.push(id);
      expect(piece).not.toContain('\ufffd');
      out += piece;
    }
    expect(out + d.flush()).toBe(text);
  });

  it.skipIf(!gguf)("renders SmolLM2's own chat template", () => {
    const tok = loadTokenizer(gguf!);
    const prompt = tok.applyChatTemplate(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What is the capital of France?' },
      ],
      { addGenerationPrompt: true },
    );
    expect(prompt).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n',
    );
    const ids = tok.encodeChat([{ role: 'user', content: 'Hi' }]);
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids)).toContain('<|im_start|>assistant\n');
  });

  it('joins OpenAI-style content parts into the template', () => {
    const tok = createTokenizer(generateTinyModel().tokenizer);
    const parts = [{ type: 'text', text: 'Hello ' }, { type: 'image_url' }, { type: 'text', text: 'there' }];
    expect(tok.applyChatTemplate([{ role: 'user', content: parts }], { addGenerationPrompt: false })).toBe(
      tok.applyChatTemplate([{ role: 'user', content: 'Hello there' }], { addGenerationPrompt: false }),
    );
  });

  it('a broken chat template is a clear error', () => {
    const spec = { ...generateTinyModel().tokenizer, chatTemplate: '{% for m in messages %}{{ m.content ' };
    expect(() => createTokenizer(spec).applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(
      ChatTemplateError,
    );
    const raising = { ...spec, chatTemplate: "{{ raise_exception('only user messages') }}" };
    expect(() => createTokenizer(raising).applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(
      /only user messages/,
    );
  });
});

describe('loadTokenizer sources', () => {
  it('a GGUF file, a Hugging Face folder and a shard folder give the same tokenizer', async () => {
    await createTinyModel(join(dir, 'hf'));
    await createTinyGguf(join(dir, 'tiny.gguf'));
    const shard = join(dir, 'shard-0-of-1');
    await createTinyModel(shard);
    const file = join(shard, 'tok.json');
    writeTokenizerFile(loadTokenizerSpec(join(dir, 'tiny.gguf')), file);
    const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    writeFileSync(join(shard, 'manifest.json'), JSON.stringify({ tokenizer: { file: 'tok.json', sha256 } }));
    const text = '<|im_start|>user\nThe quick brown fox, 2024!<|im_end|>';
    const expected = loadTokenizer(join(dir, 'tiny.gguf')).encode(text);
    expect(loadTokenizer(join(dir, 'hf')).encode(text)).toEqual(expected);
    expect(loadTokenizer(shard).encode(text)).toEqual(expected);
    writeFileSync(
      join(shard, 'manifest.json'),
      JSON.stringify({ tokenizer: { file: 'tok.json', sha256: '0'.repeat(64) } }),
    );
    expect(() => loadTokenizer(shard)).toThrow(CorruptModelError);
  });
});
