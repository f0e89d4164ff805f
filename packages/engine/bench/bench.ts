/**
 * SmolLM2-135M benchmark: our engine (whole model, and 2 shards chained in one process) against
 * llama.cpp (node-llama-cpp) on the same GGUF and thread count. Each configuration runs in its
 * own child process so peak RSS is its own. Prints prefill tok/s, TTFT, decode tok/s at context
 * ~64 and ~1024, and peak RSS next to the shard file sizes.
 *
 *   pnpm --filter @cascadia/engine bench            (env SMOLLM2_GGUF, BENCH_THREADS optional)
 *
 * BENCH_KV_CACHE=float16|float32|int8 exports with that KV cache instead of the default (int8).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argmax, loadPipeline, type ShardPipeline } from '../src/runtime/pipeline.js';
import { releaseBuffer } from '../src/runtime/release.js';
import { exportShards } from '../src/shard/export.js';
import type { KvCacheType } from '../src/shard/graph.js';
import type { ShardManifest } from '../src/shard/manifest.js';

const PROMPT_LENGTH = 64;
const DECODE_TOKENS = 64;
const LONG_CONTEXT = 1024;
const LONG_DECODE_TOKENS = 32;
/** Steps per session of the paired @64 / @1024 measurement. */
const PAIRED_STEPS = 32;

interface Figures {
  name: string;
  prefillTokPerS: number;
  ttftMs: number;
  decodeTokPerS64: number;
  decodeTokPerS1024: number;
  /**
   * Decode @1024 as a share of decode @64, measured paired: one session at each context, their
   * steps alternating in one process, median time per token of each. Load from other processes
   * then hits both alike, where the sequential figures above can catch a burst in one of them.
   */
  pairedRatio?: number;
  peakRssMb: number;
  /** RSS of the process before the engine loaded anything (Node, the loader, native addons). */
  baseRssMb: number;
  /** RSS right after loading (sessions created, before any run). */
  loadedRssMb: number;
  tokens: number[];
}

/** The next greedy token; the logits are then freed, as `generateTokens` does after sampling. */
function greedyNext(logits: Float32Array): number {
  const next = argmax(logits);
  releaseBuffer(logits);
  return next;
}

/** A deterministic prompt of ordinary tokens (ids 1000..), the same for every engine. */
function promptTokens(length: number, offset = 0): number[] {
  return Array.from({ length }, (_, i) => 1000 + ((i * 7919 + offset) % 20000));
}

function currentRssMb(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

function peakRssMb(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

async function runOurs(name: string, dir: string, threads: number): Promise<Figures> {
  await import('onnxruntime-node');
  const baseRssMb = currentRssMb();
  const pipeline: ShardPipeline = await loadPipeline(dir, { engine: 'onnxruntime', threads });
  const loadedRssMb = currentRssMb();
  // Warm-up (first-run allocations) on its own session.
  await pipeline.forward('warm', Int32Array.from(promptTokens(8)), 0);
  pipeline.dropSession('warm');

  const prompt = Int32Array.from(promptTokens(PROMPT_LENGTH));
  const t0 = performance.now();
  let logits = await pipeline.forward('a', prompt, 0);
  const ttftMs = performance.now() - t0;
  const tokens = [greedyNext(logits)];
  const t1 = performance.now();
  for (let i = 0; i < DECODE_TOKENS; i++) {
    logits = await pipeline.forward(
      'a',
      Int32Array.of(tokens[tokens.length - 1] as number),
      PROMPT_LENGTH + i,
    );
    tokens.push(greedyNext(logits));
  }
  const decodeTokPerS64 = (DECODE_TOKENS * 1000) / (performance.now() - t1);

  const long = Int32Array.from(promptTokens(LONG_CONTEXT, 3));
  logits = await pipeline.forward('b', long, 0);
  let next = greedyNext(logits);
  const t2 = performance.now();
  for (let i = 0; i < LONG_DECODE_TOKENS; i++) {
    logits = await pipeline.forward('b', Int32Array.of(next), LONG_CONTEXT + i);
    next = greedyNext(logits);
  }
  const decodeTokPerS1024 = (LONG_DECODE_TOKENS * 1000) / (performance.now() - t2);
  // Peak memory is that of the measurements above: the paired one holds a second long session.
  const peak = peakRssMb();
  pipeline.dropSession('a');
  pipeline.dropSession('b');
  const pairedRatio = await pairedContextRatio(pipeline);
  await pipeline.close();
  return {
    name,
    prefillTokPerS: (PROMPT_LENGTH * 1000) / ttftMs,
    ttftMs,
    decodeTokPerS64,
    decodeTokPerS1024,
    pairedRatio,
    peakRssMb: peak,
    baseRssMb,
    loadedRssMb,
    tokens: tokens.slice(0, 16),
  };
}

/** Median time per token at context ~64 over that at ~1024, their decode steps alternating. */
async function pairedContextRatio(pipeline: ShardPipeline): Promise<number> {
  const sessions = [
    { id: 'short', position: PROMPT_LENGTH, prompt: promptTokens(PROMPT_LENGTH, 5), times: [] as number[] },
    { id: 'long', position: LONG_CONTEXT, prompt: promptTokens(LONG_CONTEXT, 7), times: [] as number[] },
  ];
  const next = new Map<string, number>();
  for (const s of sessions)
    next.set(s.id, greedyNext(await pipeline.forward(s.id, Int32Array.from(s.prompt), 0)));
  for (let i = 0; i < PAIRED_STEPS; i++) {
    // Which one goes first alternates too, so neither always runs right after the other.
    for (const s of i % 2 === 0 ? sessions : [...sessions].reverse()) {
      const t0 = performance.now();
      const logits = await pipeline.forward(s.id, Int32Array.of(next.get(s.id) as number), s.position++);
      s.times.push(performance.now() - t0);
      next.set(s.id, greedyNext(logits));
    }
  }
  for (const s of sessions) pipeline.dropSession(s.id);
  // The first steps after a prefill run new input shapes (onnxruntime plans memory per shape).
  const median = (times: number[]): number => {
    const sorted = times.slice(4).sort((a, b) => a - b);
    return sorted[sorted.length >> 1] as number;
  };
  const [short, long] = sessions as [(typeof sessions)[0], (typeof sessions)[0]];
  return median(short.times) / median(long.times);
}

async function runLlamaCpp(gguf: string, threads: number): Promise<Figures> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never' });
  const baseRssMb = currentRssMb();
  const model = await llama.loadModel({ modelPath: gguf });
  const loadedRssMb = currentRssMb();
  const context = await model.createContext({ contextSize: 2048, threads, batchSize: 1024 });
  const greedy = async (seqTokens: number[], count: number) => {
    const sequence = context.getSequence();
    const out: number[] = [];
    const times: number[] = [];
    const start = performance.now();
    for await (const t of sequence.evaluate(seqTokens as never, { temperature: 0 })) {
      times.push(performance.now());
      out.push(t as number);
      if (out.length === count + 1) break;
    }
    sequence.dispose();
    return { out, start, times };
  };
  await greedy(promptTokens(8), 1);
  const a = await greedy(promptTokens(PROMPT_LENGTH), DECODE_TOKENS);
  const ttftMs = (a.times[0] as number) - a.start;
  const decodeTokPerS64 =
    (DECODE_TOKENS * 1000) / ((a.times[DECODE_TOKENS] as number) - (a.times[0] as number));
  const b = await greedy(promptTokens(LONG_CONTEXT, 3), LONG_DECODE_TOKENS);
  const decodeTokPerS1024 =
    (LONG_DECODE_TOKENS * 1000) / ((b.times[LONG_DECODE_TOKENS] as number) - (b.times[0] as number));
  await context.dispose();
  await model.dispose();
  return {
    name: 'llama.cpp (node-llama-cpp)',
    prefillTokPerS: (PROMPT_LENGTH * 1000) / ttftMs,
    ttftMs,
    decodeTokPerS64,
    decodeTokPerS1024,
    peakRssMb: peakRssMb(),
    baseRssMb,
    loadedRssMb,
    tokens: a.out.slice(0, 16),
  };
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

function shardBytes(dir: string, count: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) {
    const shard = join(dir, `shard-${i}-of-${count}`);
    const manifest = JSON.parse(readFileSync(join(shard, 'manifest.json'), 'utf8')) as ShardManifest;
    for (const f of manifest.files) total += f.bytes;
  }
  return total;
}

const kvCacheType = ((): KvCacheType | undefined => {
  const value = process.env.BENCH_KV_CACHE;
  if (value === undefined || value === '') return undefined;
  if (value === 'float16' || value === 'float32' || value === 'int8') return value;
  throw new Error(`BENCH_KV_CACHE must be float16, float32 or int8 (got ${value})`);
})();

/** Exports afresh every run (about a second): shards from an older graph builder never get measured. */
async function ensureExport(gguf: string, outDir: string, shards: number): Promise<void> {
  const t0 = performance.now();
  await exportShards({ model: gguf, outDir, shards, ...(kvCacheType ? { kvCacheType } : {}) });
  console.log(`exported ${shards} shard(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${outDir}`);
}

async function main(): Promise<void> {
  const [mode, arg, threadsArg] = process.argv.slice(2);
  if (mode === '--worker') {
    const threads = Number(threadsArg);
    const figures =
      arg === 'llama.cpp'
        ? await runLlamaCpp(process.env.BENCH_GGUF as string, threads)
        : await runOurs(
            arg?.includes('shards-2') ? 'ours, 2 shards chained' : 'ours, whole model',
            arg as string,
            threads,
          );
    process.stdout.write(`RESULT ${JSON.stringify(figures)}\n`);
    return;
  }
  const gguf =
    process.env.SMOLLM2_GGUF ??
    join(
      process.env.CASCADIA_CACHE ?? join(homedir(), '.cache/cascadia/models'),
      'SmolLM2-135M-Instruct.Q4_1.gguf',
    );
  if (!existsSync(gguf))
    throw new Error(`SmolLM2 GGUF not found at ${gguf}; run \`cascadia-engine pull\` or set SMOLLM2_GGUF`);
  const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
  const work = join(tmpdir(), 'cascadia-bench');
  await ensureExport(gguf, join(work, 'shards-1'), 1);
  await ensureExport(gguf, join(work, 'shards-2'), 2);
  const self = fileURLToPath(import.meta.url);
  // Configurations alternate over several rounds and each keeps its best figures, so a burst of
  // load from other processes on a shared machine does not decide the comparison.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const best = new Map<string, Figures>();
  /** Every round's paired @1024 / @64 ratio per engine (a ratio of bests would mix rounds). */
  const paired = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const target of [join(work, 'shards-1'), join(work, 'shards-2'), 'llama.cpp']) {
      const r = spawnSync(
        process.execPath,
        [...process.execArgv, self, '--worker', target, String(threads)],
        {
          encoding: 'utf8',
          env: { ...process.env, BENCH_GGUF: gguf },
          maxBuffer: 1 << 24,
        },
      );
      const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
      if (!line) {
        console.error(`${target} failed:\n${r.stderr}`);
        continue;
      }
      const f = JSON.parse(line.slice(7)) as Figures;
      if (f.pairedRatio !== undefined) paired.set(f.name, [...(paired.get(f.name) ?? []), f.pairedRatio]);
      const prev = best.get(target);
      best.set(
        target,
        prev
          ? {
              ...f,
              prefillTokPerS: Math.max(prev.prefillTokPerS, f.prefillTokPerS),
              ttftMs: Math.min(prev.ttftMs, f.ttftMs),
              decodeTokPerS64: Math.max(prev.decodeTokPerS64, f.decodeTokPerS64),
              decodeTokPerS1024: Math.max(prev.decodeTokPerS1024, f.decodeTokPerS1024),
              peakRssMb: Math.max(prev.peakRssMb, f.peakRssMb),
            }
          : f,
      );
    }
  }
  const results = [...best.values()];
  const cpu = (() => {
    try {
      return execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], {
        encoding: 'utf8',
      }).trim();
    } catch {
      return 'unknown cpu';
    }
  })();
  console.log(
    `\nSmolLM2-135M-Instruct Q4_1 · ${threads} threads · ${cpu} · KV cache ${kvCacheType ?? 'int8 (default)'}`,
  );
  console.log(
    `best of ${rounds} alternating rounds; load average now ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    `prompt ${PROMPT_LENGTH} tokens, ${DECODE_TOKENS} decoded; long context ${LONG_CONTEXT} + ${LONG_DECODE_TOKENS} decoded\n`,
  );
  const header = [
    'engine',
    'prefill tok/s',
    'TTFT ms',
    'decode tok/s @64',
    'decode tok/s @1024',
    'peak RSS MB',
    'RSS before load MB',
    'load adds MB',
    'peak - before MB',
  ];
  const rows = results.map((r) => [
    r.name,
    r.prefillTokPerS.toFixed(1),
    r.ttftMs.toFixed(1),
    r.decodeTokPerS64.toFixed(1),
    r.decodeTokPerS1024.toFixed(1),
    r.peakRssMb.toFixed(0),
    r.baseRssMb.toFixed(0),
    (r.loadedRssMb - r.baseRssMb).toFixed(0),
    (r.peakRssMb - r.baseRssMb).toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  for (const row of [header, ...rows])
    console.log(row.map((c, i) => c.padEnd(widths[i] as number)).join('  '));
  const llama = results.find((r) => r.name.startsWith('llama.cpp'));
  console.log('');
  for (const r of results.filter((x) => x !== llama)) {
    const ratio = llama ? (r.decodeTokPerS64 / llama.decodeTokPerS64).toFixed(2) : 'n/a';
    const ctx = ((r.decodeTokPerS1024 / r.decodeTokPerS64) * 100).toFixed(0);
    console.log(`${r.name}: decode ${ratio}x llama.cpp; decode @1024 is ${ctx}% of @64`);
    const rounds = paired.get(r.name) ?? [];
    if (rounds.length > 0) {
      const sorted = [...rounds].sort((a, b) => a - b);
      console.log(
        `  paired (steps alternating in one process, median per token): @1024 is ${percent(sorted[sorted.length >> 1] as number)} of @64 (rounds: ${rounds.map(percent).join(', ')})`,
      );
    }
  }
  const files = new Map([
    ['ours, whole model', shardBytes(join(work, 'shards-1'), 1) / 2 ** 20],
    ['ours, 2 shards chained', shardBytes(join(work, 'shards-2'), 2) / 2 ** 20],
  ]);
  console.log(
    `shard files: whole ${(files.get('ours, whole model') as number).toFixed(0)} MB, 2 shards ${(files.get('ours, 2 shards chained') as number).toFixed(0)} MB total`,
  );
  for (const r of results) {
    const size = files.get(r.name);
    if (!size) continue;
    console.log(
      `${r.name}: load adds ${((r.loadedRssMb - r.baseRssMb) / size).toFixed(2)}x the shard files; peak minus before-load ${((r.peakRssMb - r.baseRssMb) / size).toFixed(2)}x; peak ${(r.peakRssMb / size).toFixed(2)}x`,
    );
  }
  const same = llama && results.every((r) => r.tokens.join(',') === llama.tokens.join(','));
  console.log(`greedy tokens (first 16) identical across engines: ${same ? 'yes' : 'no'}`);
  for (const r of results) console.log(`  ${r.name}: ${r.tokens.join(',')}`);
}

await main();
