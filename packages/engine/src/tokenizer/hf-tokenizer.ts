import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptModelError, NotAModelFileError } from '../model/errors.js';
import { endOfGenerationIds } from './eog.js';
import { UnsupportedTokenizerError } from './gguf-tokenizer.js';
import { compilePattern, GPT2_PATTERN } from './pretokenizers.js';
import { type TokenizerSpec, TokenType } from './spec.js';

/** What this package adds to a tokenizer.json so that one file carries the whole tokenizer. */
export interface CascadiaTokenizerExtension {
  kind: TokenizerSpec['kind'];
  preTokenizer: TokenizerSpec['preTokenizer'];
  ignoreMerges: boolean;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  eosTokenIds: number[];
  unkTokenId?: number;
  padTokenId?: number;
  chatTemplate?: string;
  /** Every token type other than normal, by id. */
  tokenTypes: Record<string, number>;
  /** Tokens whose text repeats an earlier one (a JSON vocab object cannot hold them), by id. */
  duplicates: Record<string, string>;
  scores?: number[];
  normalization?: TokenizerSpec['normalization'];
  /** model.merges were derived from `scores` for other readers; the spec itself has none. */
  derivedMerges?: boolean;
}

type Json = Record<string, unknown>;

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (err) {
    throw new CorruptModelError(path, `not valid JSON (${(err as Error).message})`);
  }
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string')
    return (v as Json).content as string;
  return undefined;
}

interface PreTokenizerParts {
  patterns: string[];
  byteLevel: boolean;
  prefixSpace: boolean;
  metaspace: boolean;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function collectPreTokenizer(path: string, node: unknown, acc: PreTokenizerParts): void {
  if (!node || typeof node !== 'object') return;
  const pt = node as Json;
  switch (pt.type) {
    case 'Sequence':
      for (const p of (pt.pretokenizers as unknown[]) ?? []) collectPreTokenizer(path, p, acc);
      return;
    case 'ByteLevel':
      acc.byteLevel = true;
      if (pt.use_regex !== false) acc.patterns.push(GPT2_PATTERN);
      if (pt.add_prefix_space === true) acc.prefixSpace = true;
      return;
    case 'Split': {
      const pattern = pt.pattern as Json | undefined;
      const regex =
        typeof pattern?.Regex === 'string'
          ? pattern.Regex
          : typeof pattern?.String === 'string'
            ? escapeRegex(pattern.String)
            : undefined;
      if (regex === undefined || pt.behavior !== 'Isolated' || pt.invert === true) {
        throw new UnsupportedTokenizerError(path, `Split pre-tokenizer with behavior ${String(pt.behavior)}`);
      }
      try {
        compilePattern(regex);
      } catch (err) {
        throw new UnsupportedTokenizerError(
          path,
          `split pattern ${JSON.stringify(regex)}: ${(err as Error).message}`,
        );
      }
      acc.patterns.push(regex);
      return;
    }
    case 'Digits':
      acc.patterns.push(pt.individual_digits === true ? '\\p{N}' : '\\p{N}+');
      return;
    case 'Metaspace':
      acc.metaspace = true;
      if (pt.prepend_scheme !== 'never' && pt.add_prefix_space !== false) acc.prefixSpace = true;
      return;
    default:
      throw new UnsupportedTokenizerError(path, `pre-tokenizer ${String(pt.type)}`);
  }
}

function normalizerPrependsSpace(node: unknown): {
  replacesSpace: boolean;
  prepends: boolean;
  form?: 'NFC' | 'NFD' | 'NFKC' | 'NFKD';
} {
  const out: ReturnType<typeof normalizerPrependsSpace> = { replacesSpace: false, prepends: false };
  const visit = (n: unknown) => {
    if (!n || typeof n !== 'object') return;
    const o = n as Json;
    if (o.type === 'Sequence') for (const c of (o.normalizers as unknown[]) ?? []) visit(c);
    if (o.type === 'NFC' || o.type === 'NFD' || o.type === 'NFKC' || o.type === 'NFKD') out.form = o.type;
    if (o.type === 'Prepend' && o.prepend === '\u2581') out.prepends = true;
    if (o.type === 'Replace' && o.content === '\u2581') out.replacesSpace = true;
  };
  visit(node);
  return out;
}

function postProcessorAddsBos(node: unknown): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const o = node as Json;
  if (o.type === 'Sequence') {
    for (const p of (o.processors as unknown[]) ?? []) {
      const found = postProcessorAddsBos(p);
      if (found) return found;
    }
    return undefined;
  }
  if (o.type !== 'TemplateProcessing' || !Array.isArray(o.single)) return undefined;
  const first = o.single[0] as Json | undefined;
  const special = first?.SpecialToken as Json | undefined;
  return typeof special?.id === 'string' ? special.id : undefined;
}

/** Build a spec from a parsed tokenizer.json (plus, optionally, tokenizer_config.json and generation_config.json). */
export function tokenizerSpecFromJson(
  path: string,
  tj: Json,
  tokenizerConfig: Json = {},
  generationConfig: Json = {},
): TokenizerSpec {
  const model = tj.model as Json | undefined;
  if (model?.type !== 'BPE') {
    throw new UnsupportedTokenizerError(path, `model type ${String(model?.type)} (only BPE is supported)`);
  }
  const vocab = model.vocab as Record<string, number> | undefined;
  if (!vocab || typeof vocab !== 'object')
    throw new CorruptModelError(path, 'tokenizer.json has no model.vocab');
  const ext = tj.cascadia as CascadiaTokenizerExtension | undefined;
  const added = (Array.isArray(tj.added_tokens) ? tj.added_tokens : []) as AddedToken[];
  const tokens: string[] = [];
  for (const [text, id] of Object.entries(vocab)) tokens[id] = text;
  for (const a of added) tokens[a.id] = a.content;
  for (const [id, text] of Object.entries(ext?.duplicates ?? {})) tokens[Number(id)] = text;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === undefined)
      throw new CorruptModelError(path, `tokenizer.json has no token with id ${i}`);
  }
  const merges = ((model.merges as unknown[]) ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : String(m)));

  const parts: PreTokenizerParts = { patterns: [], byteLevel: false, prefixSpace: false, metaspace: false };
  collectPreTokenizer(path, tj.pre_tokenizer, parts);
  const norm = normalizerPrependsSpace(tj.normalizer);
  let kind: TokenizerSpec['kind'];
  if (parts.byteLevel) kind = 'byte-bpe';
  else if (model.byte_fallback === true || norm.replacesSpace || parts.metaspace) kind = 'spm';
  else throw new UnsupportedTokenizerError(path, 'neither byte-level nor SentencePiece-style BPE');

  const types = tokens.map(() => TokenType.Normal as number);
  if (kind === 'spm') {
    tokens.forEach((t, id) => {
      if (/^<0x[0-9A-F]{2}>$/.test(t)) types[id] = TokenType.Byte;
    });
  }
  for (const a of added) types[a.id] = a.special === false ? TokenType.UserDefined : TokenType.Control;
  const unkText = tokenContent(model.unk_token) ?? tokenContent(tokenizerConfig.unk_token);
  const idOf = (text: string | undefined) => {
    if (text === undefined) return undefined;
    const id = tokens.indexOf(text);
    return id >= 0 ? id : undefined;
  };
  const unkTokenId = idOf(unkText);
  if (unkTokenId !== undefined) types[unkTokenId] = TokenType.Unknown;
  if (ext) {
    // Written by this package: every non-normal type is listed.
    types.fill(TokenType.Normal);
    for (const [id, type] of Object.entries(ext.tokenTypes)) types[Number(id)] = type;
  }

  const bosText = postProcessorAddsBos(tj.post_processor);
  const bosTokenId = idOf(tokenContent(tokenizerConfig.bos_token)) ?? idOf(bosText);
  const eosTokenId = idOf(tokenContent(tokenizerConfig.eos_token));
  const genEos = generationConfig.eos_token_id;
  const declaredEos = [
    eosTokenId,
    ...(Array.isArray(genEos) ? genEos : [genEos]).filter((x) => typeof x === 'number'),
  ];

  let chatTemplate: string | undefined;
  const ct = tokenizerConfig.chat_template;
  if (typeof ct === 'string') chatTemplate = ct;
  else if (Array.isArray(ct)) {
    const named = ct as { name?: string; template?: string }[];
    chatTemplate = (named.find((t) => t.name === 'default') ?? named[0])?.template;
  }

  const spec: TokenizerSpec = {
    kind,
    tokens,
    tokenTypes: types,
    merges,
    preTokenizer: { name: parts.byteLevel ? 'tokenizer.json' : 'spm', patterns: parts.patterns },
    ignoreMerges: model.ignore_merges === true,
    addBos:
      typeof tokenizerConfig.add_bos_token === 'boolean'
        ? tokenizerConfig.add_bos_token
        : bosText !== undefined,
    addEos: tokenizerConfig.add_eos_token === true,
    addSpacePrefix: kind === 'spm' ? norm.prepends || parts.prefixSpace : parts.prefixSpace,
    eosTokenIds: endOfGenerationIds(tokens, types, declaredEos),
  };
  if (bosTokenId !== undefined) spec.bosTokenId = bosTokenId;
  if (eosTokenId !== undefined) spec.eosTokenId = eosTokenId;
  if (unkTokenId !== undefined) spec.unkTokenId = unkTokenId;
  const pad = idOf(tokenContent(tokenizerConfig.pad_token));
  if (pad !== undefined) spec.padTokenId = pad;
  if (chatTemplate !== undefined) spec.chatTemplate = chatTemplate;
  if (norm.form) spec.normalization = norm.form;

  if (ext) {
    // Written by this package: the extension is exact, prefer it over what was derived.
    spec.kind = ext.kind;
    spec.preTokenizer = ext.preTokenizer;
    spec.ignoreMerges = ext.ignoreMerges;
    spec.addBos = ext.addBos;
    spec.addEos = ext.addEos;
    spec.addSpacePrefix = ext.addSpacePrefix;
    spec.eosTokenIds = ext.eosTokenIds;
    for (const key of ['bosTokenId', 'eosTokenId', 'unkTokenId', 'padTokenId'] as const) {
      const v = ext[key];
      if (v === undefined) delete spec[key];
      else spec[key] = v;
    }
    if (ext.chatTemplate !== undefined) spec.chatTemplate = ext.chatTemplate;
    else delete spec.chatTemplate;
    if (ext.scores) spec.scores = ext.scores;
    if (ext.derivedMerges) spec.merges = [];
    if (ext.normalization) spec.normalization = ext.normalization;
    else delete spec.normalization;
  }
  return spec;
}

/** The tokenizer of a Hugging Face model folder. */
export function tokenizerSpecFromHfFolder(dir: string): TokenizerSpec {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) throw new NotAModelFileError(dir, 'the folder has no tokenizer.json');
  const optional = (name: string) => (existsSync(join(dir, name)) ? readJson(join(dir, name)) : {});
  return tokenizerSpecFromJson(
    path,
    readJson(path),
    optional('tokenizer_config.json'),
    optional('generation_config.json'),
  );
}

export function tokenizerSpecFromFile(path: string): TokenizerSpec {
  return tokenizerSpecFromJson(path, readJson(path));
}
