import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadShard } from '../../src/runtime/load.js';
import type { ShardRunner } from '../../src/runtime/types.js';
import type { KvCacheType } from '../../src/shard/graph.js';
import { evenLayerSplit } from '../../src/shard/split.js';
import type { WeightReader } from '../../src/shard/weights.js';
import { type ShardSourceInfo, writeShards } from '../../src/shard/write.js';

/** What a manifest cites as the source of a generated test model (no real file or tokenizer). */
export const randomSource: ShardSourceInfo = {
  modelId: 'random-test',
  sourceDigest: '0'.repeat(64),
  tokenizer: { file: 'tokenizer.json', bytes: new TextEncoder().encode('{}') },
};

/** A model exported whole and as two halves, each shard loaded under onnxruntime (one thread). */
export interface WholeAndHalves {
  dir: string;
  whole: ShardRunner;
  halves: [ShardRunner, ShardRunner];
  close(): Promise<void>;
}

export async function exportWholeAndHalves(
  reader: WeightReader,
  opts: { accuracyLevel: number; kvCacheType?: KvCacheType },
): Promise<WholeAndHalves> {
  const dir = await mkdtemp(join(tmpdir(), 'shards-'));
  const layers = reader.config.numLayers;
  await writeShards(reader, randomSource, { outDir: join(dir, 'one'), boundaries: [0, layers], ...opts });
  await writeShards(reader, randomSource, {
    outDir: join(dir, 'two'),
    boundaries: evenLayerSplit(layers, 2),
    ...opts,
  });
  const load = (path: string) => loadShard(join(dir, path), { engine: 'onnxruntime', threads: 1 });
  const whole = await load('one/shard-0-of-1');
  const halves: [ShardRunner, ShardRunner] = [await load('two/shard-0-of-2'), await load('two/shard-1-of-2')];
  return {
    dir,
    whole,
    halves,
    async close() {
      await whole.close();
      for (const h of halves) await h.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
