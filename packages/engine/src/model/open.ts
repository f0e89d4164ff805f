import { statSync } from 'node:fs';
import { NotAModelFileError } from './errors.js';
import { openGguf } from './gguf-model.js';
import { openHfFolder } from './hf-model.js';
import type { ModelSource } from './types.js';

/** Open a `.gguf` file or a Hugging Face folder (config.json + *.safetensors + tokenizer files). */
export async function openModel(path: string): Promise<ModelSource> {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new NotAModelFileError(path, 'no such file or folder');
  }
  return isDir ? openHfFolder(path) : openGguf(path);
}
