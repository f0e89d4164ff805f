import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  manifestDigest,
  ShardIntegrityError,
  type ShardManifest,
  ShardManifestSchema,
  sha256File,
} from '../shard/manifest.js';
import { MANIFEST_FILE } from '../shard/write.js';
import { createOnnxRuntimeRunner } from './onnxruntime.js';
import { createOpenVinoRunner, loadOpenVinoAddon } from './openvino.js';
import type { LoadShardOptions, ShardRunner } from './types.js';

/** Reads and validates `<dir>/manifest.json` (schema and its own digest). */
export async function readShardManifest(dir: string): Promise<ShardManifest> {
  let raw: string;
  try {
    raw = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (err) {
    throw new ShardIntegrityError(`no shard manifest in ${dir}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ShardIntegrityError(`shard manifest in ${dir} is not valid JSON`);
  }
  const parsed = ShardManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new ShardIntegrityError(
      `shard manifest in ${dir} is malformed: ${parsed.error.issues[0]?.message}`,
    );
  }
  const manifest = parsed.data;
  const expected = manifestDigest(manifest);
  if (expected !== manifest.digest) {
    throw new ShardIntegrityError(`shard manifest digest mismatch in ${dir}: content hashes to ${expected}`);
  }
  return manifest;
}

/** Checks every file listed in the manifest against its size and SHA-256. */
export async function verifyShardFiles(dir: string, manifest: ShardManifest): Promise<void> {
  for (const file of manifest.files) {
    let actual: { sha256: string; bytes: number };
    try {
      actual = await sha256File(join(dir, file.path));
    } catch (err) {
      throw new ShardIntegrityError(`shard file ${file.path} is missing: ${(err as Error).message}`);
    }
    if (actual.bytes !== file.bytes || actual.sha256 !== file.sha256) {
      throw new ShardIntegrityError(
        `shard file ${file.path} does not match the manifest (sha256 ${actual.sha256}, ${actual.bytes} bytes; expected ${file.sha256}, ${file.bytes} bytes)`,
      );
    }
  }
}

/**
 * Loads a shard directory after verifying its files. `engine: 'auto'` uses OpenVINO when its
 * native addon loads and onnxruntime otherwise, logging why.
 */
export async function loadShard(dir: string, opts: LoadShardOptions = {}): Promise<ShardRunner> {
  const manifest = await readShardManifest(dir);
  await verifyShardFiles(dir, manifest);
  const engine = opts.engine ?? 'auto';
  const common = {
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.maxSessions !== undefined ? { maxSessions: opts.maxSessions } : {}),
  };
  if (engine === 'openvino') {
    return createOpenVinoRunner(dir, manifest, {
      ...common,
      ...(opts.device ? { device: opts.device } : {}),
    });
  }
  if (engine === 'auto') {
    try {
      const addon = await loadOpenVinoAddon();
      return await createOpenVinoRunner(dir, manifest, {
        ...common,
        addon,
        ...(opts.device ? { device: opts.device } : {}),
      });
    } catch (err) {
      console.warn(`[cascadia-engine] openvino unavailable, using onnxruntime: ${firstLine(err)}`);
    }
  }
  if (opts.device && opts.device.toLowerCase() !== 'cpu') {
    throw new Error(`the onnxruntime engine runs on cpu only (asked for device ${opts.device})`);
  }
  return createOnnxRuntimeRunner(dir, manifest, common);
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}
