import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE } from '../shard/write.js';
import { loadShard } from './load.js';
import { releaseBuffer } from './release.js';
import type { LoadShardOptions, ShardRunner } from './types.js';

/** Shards chained in one process: tokens in, last-position logits out. */
export class ShardPipeline {
  constructor(readonly runners: ShardRunner[]) {
    const first = runners[0];
    const last = runners[runners.length - 1];
    if (!first?.manifest.hasEmbeddings || !last?.manifest.hasLmHead) {
      throw new Error('a pipeline needs shards from the first layer (embeddings) to the last (LM head)');
    }
    for (let i = 1; i < runners.length; i++) {
      const prev = runners[i - 1] as ShardRunner;
      const cur = runners[i] as ShardRunner;
      if (
        prev.manifest.layerEnd !== cur.manifest.layerStart ||
        prev.manifest.modelId !== cur.manifest.modelId
      ) {
        throw new Error(
          `shard ${i} (layers ${cur.manifest.layerStart}-${cur.manifest.layerEnd}) does not continue shard ${i - 1}`,
        );
      }
    }
  }

  get maxContext(): number {
    return Math.min(...this.runners.map((r) => r.manifest.maxContext));
  }

  async forward(sessionId: string, tokens: Int32Array, position: number): Promise<Float32Array> {
    const length = tokens.length;
    let out = await (this.runners[0] as ShardRunner).forward(sessionId, { tokens }, { position, length });
    for (let i = 1; i < this.runners.length; i++) {
      if (!('hidden' in out)) throw new Error(`shard ${i - 1} returned logits before the last shard`);
      const hidden = out.hidden;
      out = await (this.runners[i] as ShardRunner).forward(sessionId, { hidden }, { position, length });
      releaseBuffer(hidden);
    }
    if (!('logits' in out)) throw new Error('the last shard returned no logits');
    return out.logits;
  }

  dropSession(sessionId: string): void {
    for (const r of this.runners) r.dropSession(sessionId);
  }

  async close(): Promise<void> {
    for (const r of this.runners) await r.close();
  }
}

/** Shard directories under an export folder (`shard-<i>-of-<n>`), or the folder itself if it is a shard. */
export function findShardDirs(dir: string): string[] {
  if (existsSync(join(dir, MANIFEST_FILE))) return [dir];
  const dirs = readdirSync(dir)
    .map((name) => /^shard-(\d+)-of-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => join(dir, m[0]));
  if (dirs.length === 0) throw new Error(`no shards (shard-<i>-of-<n>/${MANIFEST_FILE}) in ${dir}`);
  return dirs;
}

export async function loadPipeline(dir: string, opts: LoadShardOptions = {}): Promise<ShardPipeline> {
  const runners: ShardRunner[] = [];
  try {
    for (const shardDir of findShardDirs(dir)) runners.push(await loadShard(shardDir, opts));
    return new ShardPipeline(runners);
  } catch (err) {
    for (const r of runners) await r.close();
    throw err;
  }
}

export interface GenerateOptions {
  maxTokens: number;
  /** Picks the next token from the logits (greedy by default); the logits are freed once it returns. */
  sample?: (logits: Float32Array, generated: number[]) => number;
  stopTokenIds?: number[];
  onToken?: (token: number) => void;
  sessionId?: string;
}

export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

/** Prefill then decode one token at a time; returns the generated ids (stop token excluded). */
export async function generateTokens(
  pipeline: ShardPipeline,
  prompt: number[],
  opts: GenerateOptions,
): Promise<number[]> {
  if (prompt.length === 0) throw new Error('the prompt is empty');
  if (prompt.length + opts.maxTokens > pipeline.maxContext) {
    throw new Error(
      `prompt of ${prompt.length} tokens plus ${opts.maxTokens} new tokens exceeds the context of ${pipeline.maxContext}`,
    );
  }
  const session = opts.sessionId ?? `generate-${Date.now()}-${Math.random()}`;
  const sample = opts.sample ?? ((logits: Float32Array) => argmax(logits));
  const stop = new Set(opts.stopTokenIds ?? []);
  const generated: number[] = [];
  try {
    let logits = await pipeline.forward(session, Int32Array.from(prompt), 0);
    while (generated.length < opts.maxTokens) {
      const next = sample(logits, generated);
      // Each step's logits (vocab x 4 bytes) are freed as soon as a token is drawn from them,
      // rather than piling up until the next garbage collection.
      releaseBuffer(logits);
      if (stop.has(next)) break;
      generated.push(next);
      opts.onToken?.(next);
      if (generated.length === opts.maxTokens) break;
      logits = await pipeline.forward(session, Int32Array.of(next), prompt.length + generated.length - 1);
    }
  } finally {
    pipeline.dropSession(session);
  }
  return generated;
}
