import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTinyModel } from '../src/model/index.js';
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
