import { ByteLevelBpe } from './bpe.js';
import { byteLevelToBytes } from './byte-level.js';
import { type ChatMessage, renderChatTemplate } from './chat-template.js';
import { type TokenizerSpec, TokenType } from './spec.js';
import { SentencePieceBpe } from './spm.js';

export interface EncodeOptions {
  /** Add BOS/EOS as the model asks (`addBos`/`addEos`). Default true, as in llama.cpp and transformers. */
  addSpecial?: boolean;
  /** Match control tokens such as `<|im_start|>` written in the text. Default true. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Leave out control tokens (`<|im_end|>`, BOS…). Default false. */
  skipSpecial?: boolean;
}

const utf8 = new TextEncoder();

/** Incremental text from a token stream: returns only complete UTF-8 characters, keeps the rest. */
export interface StreamDecoder {
  push(id: number): string;
  flush(): string;
}

export class Tokenizer {
  readonly spec: TokenizerSpec;
  readonly eosTokenIds: number[];
  readonly bosTokenId?: number;
  private readonly vocab = new Map<string, number>();
  private readonly specials: number[];
  private readonly bpe?: ByteLevelBpe;
  private readonly spm?: SentencePieceBpe;
  private readonly eos: Set<number>;

  constructor(spec: TokenizerSpec) {
    this.spec = spec;
    spec.tokens.forEach((t, id) => {
      this.vocab.set(t, id);
    });
    this.eosTokenIds = [...spec.eosTokenIds];
    this.eos = new Set(spec.eosTokenIds);
    if (spec.bosTokenId !== undefined) this.bosTokenId = spec.bosTokenId;
    // Longest first, so a special token that contains another wins (llama.cpp's order).
    this.specials = spec.tokens
      .map((_, id) => id)
      .filter((id) => this.isSpecialType(spec.tokenTypes[id]) && spec.tokens[id]!.length > 0)
      .sort((a, b) => spec.tokens[b]!.length - spec.tokens[a]!.length);
    if (spec.kind === 'byte-bpe') this.bpe = new ByteLevelBpe(spec, this.vocab);
    else this.spm = new SentencePieceBpe(spec, this.vocab);
  }

  get vocabSize(): number {
    return this.spec.tokens.length;
  }

  get chatTemplate(): string | undefined {
    return this.spec.chatTemplate;
  }

  private isSpecialType(type: number | undefined): boolean {
    return type === TokenType.Control || type === TokenType.UserDefined || type === TokenType.Unknown;
  }

  isEndOfGeneration(id: number): boolean {
    return this.eos.has(id);
  }

  /** Id of a token by its exact text, e.g. `<|im_end|>`. */
  tokenId(text: string): number | undefined {
    return this.vocab.get(text);
  }

  /** Split text at special tokens; numbers are token ids, strings are plain text runs. */
  private partition(text: string, parseSpecial: boolean): (string | number)[] {
    let fragments: (string | number)[] = [text];
    for (const id of this.specials) {
      const type = this.spec.tokenTypes[id];
      if (!parseSpecial && type !== TokenType.UserDefined) continue;
      const content = this.spec.tokens[id]!;
      const next: (string | number)[] = [];
      for (const f of fragments) {
        if (typeof f === 'number' || !f.includes(content)) {
          next.push(f);
          continue;
        }
        const parts = f.split(content);
        parts.forEach((p, i) => {
          if (i > 0) next.push(id);
          if (p.length > 0) next.push(p);
        });
      }
      fragments = next;
    }
    return fragments;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const out: number[] = [];
    if (addSpecial && this.spec.addBos && this.spec.bosTokenId !== undefined) out.push(this.spec.bosTokenId);
    let prevSpecial = true;
    for (const fragment of this.partition(text, opts.parseSpecial ?? true)) {
      if (typeof fragment === 'number') {
        out.push(fragment);
        prevSpecial = true;
        continue;
      }
      const f = this.spec.normalization ? fragment.normalize(this.spec.normalization) : fragment;
      if (this.spm) {
        const prefixed = this.spec.addSpacePrefix && prevSpecial ? ` ${f}` : f;
        this.spm.encodeText(prefixed.replaceAll(' ', '\u2581'), out);
      } else {
        const prefixed = this.spec.addSpacePrefix && prevSpecial && out.length === 0 ? ` ${f}` : f;
        this.bpe!.encodeText(prefixed, out);
      }
      prevSpecial = false;
    }
    if (addSpecial && this.spec.addEos && this.spec.eosTokenId !== undefined) out.push(this.spec.eosTokenId);
    return out;
  }

  /** The words a plain text run is split into before BPE (byte-level tokenizers; SentencePiece: the text). */
  preTokenize(text: string): string[] {
    return this.bpe ? this.bpe.preTokenize(text) : [text];
  }

  /** Raw bytes a token stands for ('' for control tokens when skipping them). */
  tokenBytes(id: number, opts: DecodeOptions = {}): Uint8Array {
    const text = this.spec.tokens[id];
    if (text === undefined) return new Uint8Array(0);
    const type = this.spec.tokenTypes[id] ?? TokenType.Normal;
    if (type === TokenType.Control || type === TokenType.Unknown || type === TokenType.Unused) {
      return opts.skipSpecial ? new Uint8Array(0) : utf8.encode(text);
    }
    if (type === TokenType.UserDefined) return utf8.encode(text);
    if (this.spec.kind === 'byte-bpe') return byteLevelToBytes(text);
    if (type === TokenType.Byte) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      if (m) return Uint8Array.of(Number.parseInt(m[1]!, 16));
    }
    return utf8.encode(text.replaceAll('\u2581', ' '));
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const d = this.createStreamDecoder(opts);
    let text = '';
    for (const id of ids) text += d.push(id);
    return text + d.flush();
  }

  /** For streaming: push ids as they come, get text as soon as it is whole UTF-8. */
  createStreamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    const decoder = new TextDecoder('utf-8', { fatal: false });
    // SentencePiece's prefix space is not part of the text (transformers and llama.cpp drop it).
    let dropLeadingSpace = this.spec.kind === 'spm' && this.spec.addSpacePrefix;
    return {
      push: (id: number) => {
        let bytes = this.tokenBytes(id, opts);
        if (dropLeadingSpace && bytes.length > 0) {
          const type = this.spec.tokenTypes[id] ?? TokenType.Normal;
          if (type === TokenType.Normal || type === TokenType.Byte) {
            if (bytes[0] === 0x20) bytes = bytes.subarray(1);
            dropLeadingSpace = false;
          }
        }
        return decoder.decode(bytes, { stream: true });
      },
      flush: () => decoder.decode(),
    };
  }

  applyChatTemplate(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    return renderChatTemplate(this, messages, opts.addGenerationPrompt ?? true);
  }

  /** Prompt ids of a conversation: the rendered template already holds any BOS, so none is added. */
  encodeChat(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, opts), { addSpecial: false });
  }
}
