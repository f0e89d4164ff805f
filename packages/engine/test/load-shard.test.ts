import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalize, sha256Hex } from '@cascadia/receipts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadShard, readShardManifest } from '../src/runtime/load.js';
import type { ShardRunner } from '../src/runtime/types.js';
import type { ShardManifest } from '../src/shard/manifest.js';
import { writeShards } from '../src/shard/write.js';
import { randomModel } from './helpers/random-model.js';

const source = {
  modelId: 'random-test',
  sourceDigest: 'ab'.repeat(32),
  tokenizer: { file: 'tokenizer.json', bytes: new TextEncoder().encode('{"v":1}') },
};

describe('shard manifests and integrity checks', () => {
  let dir: string;
  let manifests: ShardManifest[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'manifest-'));
    manifests = await writeShards(randomModel(), source, { outDir: dir, boundaries: [0, 1, 4] });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('describes each shard per the contract, with a digest over its canonical JSON', async () => {
    const [a, b] = manifests as [ShardManifest, ShardManifest];
    expect(a).toMatchObject({ format: 'cascadia-shard', version: 1, modelId: 'random-test', shardIndex: 0 });
    expect([a.layerStart, a.layerEnd, a.hasEmbeddings, a.hasLmHead]).toEqual([0, 1, true, false]);
    expect([b.layerStart, b.layerEnd, b.hasEmbeddings, b.hasLmHead, b.shardCount]).toEqual([
      1,
      4,
      false,
      true,
      2,
    ]);
    expect(a.files.map((f) => f.path)).toEqual(['model.onnx', 'model.onnx.data', 'tokenizer.json']);
    expect(a.tokenizer.sha256).toBe(sha256Hex('{"v":1}'));
    const { digest, ...body } = a;
    expect(digest).toBe(sha256Hex(canonicalize(body)));
    const onDisk = await readShardManifest(join(dir, 'shard-0-of-2'));
    expect(onDisk).toEqual(a);
  });

  it('refuses a shard whose weights file was altered', async () => {
    const shard = join(dir, 'shard-1-of-2');
    await appendFile(join(shard, 'model.onnx.data'), Buffer.from([1]));
    await expect(loadShard(shard, { engine: 'onnxruntime' })).rejects.toThrow(
      /model\.onnx\.data does not match the manifest/,
    );
  });

  it('refuses a manifest edited without updating its digest', async () => {
    const path = join(dir, 'shard-0-of-2', 'manifest.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as ShardManifest;
    await writeFile(path, JSON.stringify({ ...m, layerEnd: 2 }));
    await expect(loadShard(join(dir, 'shard-0-of-2'))).rejects.toThrow(/manifest digest mismatch/);
  });

  it('reports a missing shard directory clearly', async () => {
    await expect(loadShard(join(dir, 'nope'))).rejects.toThrow(/no shard manifest/);
  });
});

describe('engine selection', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-select-'));
    await writeShards(randomModel(), source, { outDir: dir, boundaries: [0, 4] });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('auto uses openvino when its addon loads, else onnxruntime with the reason logged', async () => {
    const warnings: string[] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => {
      warnings.push(args.join(' '));
    };
    let runner: ShardRunner | undefined;
    try {
      runner = await loadShard(join(dir, 'shard-0-of-1'), { threads: 1 });
    } finally {
      console.warn = original;
    }
    if (runner.engine === 'onnxruntime') {
      expect(warnings.join('\n')).toMatch(/openvino unavailable, using onnxruntime: .+/);
    } else {
      expect(runner.engine).toBe('openvino');
    }
    const out = await runner.forward('s', { tokens: Int32Array.of(1, 2, 3) }, { position: 0, length: 3 });
    expect('logits' in out && out.logits.length).toBe(96);
    await runner.close();
  });

  it('an explicit engine that cannot load fails with its reason; onnxruntime has no GPU device', async () => {
    let openvinoLoads = true;
    try {
      await import('openvino-node');
    } catch {
      openvinoLoads = false;
    }
    if (!openvinoLoads) {
      await expect(loadShard(join(dir, 'shard-0-of-1'), { engine: 'openvino' })).rejects.toThrow(
        /ov_node_addon|openvino/i,
      );
    }
    await expect(
      loadShard(join(dir, 'shard-0-of-1'), { engine: 'onnxruntime', device: 'GPU' }),
    ).rejects.toThrow(/cpu only/);
  });
});
