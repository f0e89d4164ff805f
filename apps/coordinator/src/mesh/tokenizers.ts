/**
 * Tokenizers by model id. The coordinator tokenizes and detokenizes, so it needs each model's
 * tokenizer: from a local shard directory when it has one, otherwise uploaded once by a node that
 * joined with the model (checked against the tokenizer digest in the node's shard manifest) and
 * kept under the coordinator's data directory.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { engine, type Tokenizer } from './engine-binding.js';

export interface TokenizerUpload {
  model_id: string;
  /** sha256 of the tokenizer file, as declared in the shard manifest */
  sha256: string;
  /** the shard manifest and the tokenizer file(s), base64 */
  files: Record<string, string>;
}

const SAFE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

export class Tokenizers {
  private readonly byModel = new Map<string, Promise<Tokenizer>>();
  private readonly loaded = new Set<string>();
  private readonly digests = new Map<string, string>();

  constructor(private readonly dataDir: string) {}

  /** A tokenizer is loaded or loading for the model (no need to ask a node for it). */
  has(modelId: string): boolean {
    return this.byModel.has(modelId);
  }

  /** The model's tokenizer is loaded: requests for it can be served. */
  ready(modelId: string): boolean {
    return this.loaded.has(modelId);
  }

  get(modelId: string): Promise<Tokenizer> | undefined {
    return this.byModel.get(modelId);
  }

  /** Loads a tokenizer from a shard directory on this machine. */
  loadFromShardDir(modelId: string, dir: string): Promise<Tokenizer> {
    const loading = engine().then((e) => e.loadTokenizer(dir));
    this.track(modelId, loading);
    return loading;
  }

  /** Stores and loads an uploaded tokenizer after checking its digest. */
  async accept(upload: TokenizerUpload): Promise<void> {
    const manifestText = upload.files['manifest.json'];
    if (!manifestText) throw new Error('upload must include manifest.json');
    const manifest = JSON.parse(Buffer.from(manifestText, 'base64').toString('utf8')) as {
      modelId?: string;
      tokenizer?: { file?: string; sha256?: string };
    };
    const file = manifest.tokenizer?.file;
    if (manifest.modelId !== upload.model_id || !file || manifest.tokenizer?.sha256 !== upload.sha256) {
      throw new Error('manifest does not match the declared model and tokenizer');
    }
    for (const name of Object.keys(upload.files)) {
      if (!SAFE_NAME.test(name)) throw new Error(`file name ${name} is not allowed`);
    }
    const tokenizerB64 = upload.files[file];
    if (!tokenizerB64) throw new Error(`upload is missing ${file}`);
    const actual = createHash('sha256').update(Buffer.from(tokenizerB64, 'base64')).digest('hex');
    if (actual !== upload.sha256) throw new Error('tokenizer digest mismatch');
    const dir = path.join(this.dataDir, 'tokenizers', upload.sha256);
    await mkdir(dir, { recursive: true });
    for (const [name, b64] of Object.entries(upload.files)) {
      await writeFile(path.join(dir, name), Buffer.from(b64, 'base64'));
    }
    this.digests.set(upload.model_id, upload.sha256);
    await this.loadFromShardDir(upload.model_id, dir);
  }

  /** Tokenizer from a previous upload, if the data directory has it. */
  async loadCached(modelId: string, sha256: string): Promise<boolean> {
    const dir = path.join(this.dataDir, 'tokenizers', sha256);
    try {
      const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
        modelId?: string;
      };
      if (manifest.modelId !== modelId) return false;
    } catch {
      return false;
    }
    await this.loadFromShardDir(modelId, dir);
    return true;
  }

  private track(modelId: string, loading: Promise<Tokenizer>): void {
    this.byModel.set(modelId, loading);
    loading.then(
      () => {
        if (this.byModel.get(modelId) === loading) this.loaded.add(modelId);
      },
      () => {},
    );
    loading.catch(() => {
      if (this.byModel.get(modelId) === loading) this.byModel.delete(modelId);
    });
  }
}
