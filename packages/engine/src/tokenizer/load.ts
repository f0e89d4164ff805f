import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CorruptModelError, NotAModelFileError } from '../model/errors.js';
import { readGguf } from '../model/gguf.js';
import { tokenizerSpecFromGguf } from './gguf-tokenizer.js';
import { tokenizerSpecFromFile, tokenizerSpecFromHfFolder } from './hf-tokenizer.js';
import type { TokenizerSpec } from './spec.js';
import { Tokenizer } from './tokenizer.js';

/** A shard manifest's reference to its tokenizer file (relative to the manifest's folder). */
interface ManifestTokenizerRef {
  tokenizer?: { file?: string; sha256?: string };
}

function specFromManifestDir(dir: string): TokenizerSpec | undefined {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) return undefined;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ManifestTokenizerRef;
  const ref = manifest.tokenizer;
  if (!ref?.file) throw new CorruptModelError(manifestPath, 'the manifest names no tokenizer file');
  const file = resolve(dir, ref.file);
  if (!existsSync(file))
    throw new NotAModelFileError(file, 'the tokenizer file named by the manifest is missing');
  if (ref.sha256) {
    const actual = createHash('sha256').update(readFileSync(file)).digest('hex');
    if (actual !== ref.sha256) {
      throw new CorruptModelError(file, `SHA-256 ${actual} does not match the manifest's ${ref.sha256}`);
    }
  }
  return tokenizerSpecFromFile(file);
}

/** The tokenizer spec at a path: a tokenizer.json file, a .gguf file, a shard folder, or a Hugging Face folder. */
export function loadTokenizerSpec(path: string): TokenizerSpec {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new NotAModelFileError(path, 'no such file or folder');
  }
  if (isDir) return specFromManifestDir(path) ?? tokenizerSpecFromHfFolder(path);
  if (path.endsWith('manifest.json')) return specFromManifestDir(dirname(path))!;
  if (path.endsWith('.json')) return tokenizerSpecFromFile(path);
  return tokenizerSpecFromGguf(readGguf(path));
}

export function loadTokenizer(path: string): Tokenizer {
  return new Tokenizer(loadTokenizerSpec(path));
}

export function createTokenizer(spec: TokenizerSpec): Tokenizer {
  return new Tokenizer(spec);
}
