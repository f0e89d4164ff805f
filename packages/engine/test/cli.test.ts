import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTinyModel } from '../src/model/index.js';
import { exportShards } from '../src/shard/export.js';
import type { ShardManifest } from '../src/shard/manifest.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

function run(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CASCADIA_CACHE: cacheDir },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
let cacheDir: string;

describe('cascadia-engine CLI on a tiny model (Hugging Face folder)', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-cli-'));
    cacheDir = join(dir, 'cache');
    await createTinyModel(join(dir, 'tiny'), { layers: 3, seed: 5 });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('export writes the requested shards, inspect verifies them', () => {
    const out = join(dir, 'shards');
    const exported = run([
      'export',
      '--model',
      join(dir, 'tiny'),
      '--out',
      out,
      '--boundaries',
      '0,1,3',
      '--model-id',
      'tiny',
    ]);
    expect(exported.stderr).toBe('');
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(/shard-0-of-2 {2}layers \[0, 1\)/);
    expect(exported.stdout).toMatch(/shard-1-of-2 {2}layers \[1, 3\)/);
    const inspected = run(['inspect', out]);
    expect(inspected.code).toBe(0);
    const docs = inspected.stdout
      .split(/\n(?=\{)/)
      .map((s) => JSON.parse(s) as ShardManifest & { verified: boolean });
    expect(docs.map((d) => [d.modelId, d.layerStart, d.layerEnd, d.verified])).toEqual([
      ['tiny', 0, 1, true],
      ['tiny', 1, 3, true],
    ]);
  });

  it('generate runs the chained shards and the whole model to the same greedy text', () => {
    const chained = run([
      'generate',
      '--model',
      join(dir, 'shards'),
      '--prompt',
      'The capital of France',
      '--max-tokens',
      '8',
      '--engine',
      'onnxruntime',
    ]);
    expect(chained.code).toBe(0);
    expect(chained.stderr).toMatch(/\[onnxruntime\] \d+ prompt tokens, [1-8] generated/);
    expect(chained.stdout.trim().length).toBeGreaterThan(0);
    const whole = run([
      'generate',
      '--model',
      join(dir, 'tiny'),
      '--prompt',
      'The capital of France',
      '--max-tokens',
      '8',
      '--engine',
      'onnxruntime',
    ]);
    expect(whole.code).toBe(0);
    expect(whole.stdout).toBe(chained.stdout);
  });

  it('re-exports a cached whole model written with another KV cache type than the default', async () => {
    const [cached] = await readdir(join(cacheDir, 'shards'));
    if (!cached) throw new Error('the whole-model generate above should have cached an export');
    const cachedDir = join(cacheDir, 'shards', cached);
    const manifestOf = async () =>
      JSON.parse(await readFile(join(cachedDir, 'shard-0-of-1', 'manifest.json'), 'utf8')) as ShardManifest;
    expect((await manifestOf()).kvCacheType).toBe('int8');
    // An export from before the int8 default.
    await exportShards({ model: join(dir, 'tiny'), outDir: cachedDir, shards: 1, kvCacheType: 'float16' });
    expect((await manifestOf()).kvCacheType).toBe('float16');
    const again = run(['generate', '--model', join(dir, 'tiny'), '--prompt', 'Hi', '--max-tokens', '2']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/exporting/);
    expect((await manifestOf()).kvCacheType).toBe('int8');
    // Up to date now: used as it is.
    const cachedRun = run(['generate', '--model', join(dir, 'tiny'), '--prompt', 'Hi', '--max-tokens', '2']);
    expect(cachedRun.code).toBe(0);
    expect(cachedRun.stderr).not.toMatch(/exporting/);
  });

  it('export --kv-cache picks the cache type and refuses an unknown one', async () => {
    const out = join(dir, 'shards-f16');
    const exported = run(['export', '--model', join(dir, 'tiny'), '--out', out, '--kv-cache', 'float16']);
    expect(exported.code).toBe(0);
    const m = JSON.parse(await readFile(join(out, 'shard-0-of-1', 'manifest.json'), 'utf8')) as ShardManifest;
    expect(m.kvCacheType).toBe('float16');
    const bad = run(['export', '--model', join(dir, 'tiny'), '--out', out, '--kv-cache', 'int4']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--kv-cache must be float32, float16 or int8 \(got int4\)/);
  });

  it('reports usage errors and bad models clearly', () => {
    const missing = run(['export', '--model', join(dir, 'tiny')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/export needs --model and --out/);
    const bad = run(['inspect', join(dir, 'nope.gguf')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no such file or folder/);
    const unknown = run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command frobnicate/);
  });
});
