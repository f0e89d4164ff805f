/**
 * Exported shard sets kept under the cache (`~/.cache/cascadia/shards/<model id>-<split>/`), so a
 * model is exported once per split. A stamp records what produced the set (the model file and the
 * engine's exporter code): an engine upgrade that changes the graph re-exports instead of serving
 * stale shards. Exports go to a staging directory and are renamed into place, so an interrupted
 * export never looks complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { engine } from './engine-binding.js';

export interface ShardSetOptions {
  modelId: string;
  /** an even split into this many shards… */
  shards?: number;
  /** …or explicit layer boundaries [0, …, numLayers] */
  boundaries?: number[];
  /** default: `$CASCADIA_CACHE/../shards` (`~/.cache/cascadia/shards`) */
  cacheDir?: string;
}

export function defaultShardCache(): string {
  const models = process.env.CASCADIA_CACHE ?? path.join(os.homedir(), '.cache', 'cascadia', 'models');
  return path.join(path.dirname(models), 'shards');
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

async function exportFingerprint(model: string): Promise<string> {
  const hash = createHash('sha256');
  const info = await stat(model);
  hash.update(`${path.resolve(model)}\0${info.size}\0${info.mtimeMs}\0`);
  const engineDist = path.dirname(fileURLToPath(import.meta.resolve('@cascadia/engine')));
  for (const sub of ['shard', 'onnx', 'runtime']) {
    const dir = path.join(engineDist, sub);
    const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.js')).sort();
    for (const f of files) hash.update(await readFile(path.join(dir, f)));
  }
  return hash.digest('hex');
}

const inflight = new Map<string, Promise<string[]>>();

/** The shard directories of `model` for the split, exporting them first when needed. */
export function ensureShardSet(model: string, opts: ShardSetOptions): Promise<string[]> {
  const split = opts.boundaries ? `b${opts.boundaries.join('-')}` : String(opts.shards ?? 1);
  const dir = path.join(opts.cacheDir ?? defaultShardCache(), `${opts.modelId}-${split}`);
  // Nodes in one process asking for the same split share one export.
  let pending = inflight.get(dir);
  if (!pending) {
    pending = exportOnce(model, opts, dir).finally(() => inflight.delete(dir));
    inflight.set(dir, pending);
  }
  return pending;
}

async function isCurrent(dir: string, dirs: string[], fingerprint: string): Promise<boolean> {
  const recorded = await readFile(path.join(dir, 'export.json'), 'utf8')
    .then((t) => (JSON.parse(t) as { fingerprint?: string }).fingerprint)
    .catch(() => undefined);
  if (recorded !== fingerprint) return false;
  return (await Promise.all(dirs.map((d) => exists(path.join(d, 'manifest.json'))))).every(Boolean);
}

async function exportOnce(model: string, opts: ShardSetOptions, dir: string): Promise<string[]> {
  const count = opts.boundaries ? opts.boundaries.length - 1 : (opts.shards ?? 1);
  const dirs = Array.from({ length: count }, (_, i) => path.join(dir, `shard-${i}-of-${count}`));
  const fingerprint = await exportFingerprint(model);
  if (await isCurrent(dir, dirs, fingerprint)) return dirs;
  const e = await engine();
  const staging = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(staging, { recursive: true });
  try {
    await e.exportShards({
      model,
      outDir: staging,
      modelId: opts.modelId,
      ...(opts.boundaries ? { boundaries: opts.boundaries } : { shards: count }),
    });
    await writeFile(
      path.join(staging, 'export.json'),
      `${JSON.stringify({ fingerprint, model: path.basename(model) })}\n`,
    );
    // Another process may have finished the same export meanwhile: keep theirs (it may be in use).
    if (await isCurrent(dir, dirs, fingerprint)) {
      await rm(staging, { recursive: true, force: true });
      return dirs;
    }
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (await isCurrent(dir, dirs, fingerprint)) return dirs;
    throw error;
  }
  return dirs;
}
