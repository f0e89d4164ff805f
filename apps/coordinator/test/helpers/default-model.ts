import { access } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { engine } from '../../src/mesh/engine-binding.js';

/** The SmolLM2 GGUF: $SMOLLM2_GGUF, else the engine's pull cache. Null (with the reason) when absent. */
export async function findDefaultModel(): Promise<{ path: string } | { path: null; reason: string }> {
  if (process.env.SMOLLM2_GGUF) return { path: process.env.SMOLLM2_GGUF };
  const e = await engine();
  if (typeof e.pullDefaultModel === 'function') {
    try {
      return { path: await e.pullDefaultModel() };
    } catch (error) {
      return { path: null, reason: `pullDefaultModel failed: ${(error as Error).message}` };
    }
  }
  const cached = path.join(
    process.env.CASCADIA_CACHE ?? path.join(os.homedir(), '.cache', 'cascadia', 'models'),
    'SmolLM2-135M-Instruct.Q4_1.gguf',
  );
  try {
    await access(cached);
    return { path: cached };
  } catch {
    return { path: null, reason: `SmolLM2 not found (set SMOLLM2_GGUF or fill ${cached})` };
  }
}
