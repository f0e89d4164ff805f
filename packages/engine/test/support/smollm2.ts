import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MODEL, defaultCacheDir } from '../../src/pull/default-model.js';

/** The default SmolLM2 GGUF if it is on this machine (`SMOLLM2_GGUF`, else the pull cache). */
export function smollm2Path(): string | undefined {
  const path = process.env.SMOLLM2_GGUF ?? join(defaultCacheDir(), DEFAULT_MODEL.file);
  return existsSync(path) ? path : undefined;
}

export const SMOLLM2_MISSING_REASON =
  'SmolLM2 GGUF not found: run `cascadia-engine pull` (or set SMOLLM2_GGUF) to run the tests that use it';
