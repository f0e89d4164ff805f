/**
 * Mesh benchmark (loopback, this machine, one run):
 *  1. protocol-only hop cost: a pipeline step through 1 vs 2 in-process stages that do no compute;
 *  2. SmolLM2-135M decode tokens/s on one node alone vs two nodes in a pipeline (real processes),
 *     and the per-token overhead of the extra hop;
 *  3. time to first token;
 *  4. aggregate tokens/s at 1, 2, 4 and 8 concurrent streams.
 * Env: BENCH_MAX_TOKENS (default 64), BENCH_THREADS (threads per node, default 1), BENCH_RUNS
 * (alternating one-node / pipeline decode runs, default 6), BENCH_BUSY_POLL=1 (nodes run with
 * --busy-poll), SMOLLM2_GGUF.
 * Runs the built code (dist/), so `pnpm build` first (turbo's bench task does).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  balancedShards,
  DEFAULT_MODEL_ID,
  ensureShards,
  resolveDefaultModel,
} from '../dist/cli/local-command.js';
import { PipelineSession } from '../dist/mesh/pipeline-session.js';
import type { StageRunner } from '../dist/mesh/types.js';
import { runNode } from '../dist/node/run-node.js';
import { startCoordinator } from '../dist/server.js';
import { type StepBreakdown, stepBreakdown } from './step-breakdown.ts';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const MAX_TOKENS = Number(process.env.BENCH_MAX_TOKENS ?? 64);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const RUNS = Number(process.env.BENCH_RUNS ?? 6);
const BUSY_POLL = process.env.BENCH_BUSY_POLL === '1';
const TOKEN = 'bench-join-token-0123456789abcdef';
const children: ChildProcess[] = [];

function spawnCli(args: string[], traceDir?: string): Promise<string> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: {
      ...process.env,
      CASCADIA_JOIN_TOKEN: TOKEN,
      ...(traceDir ? { CASCADIA_STEP_TRACE: traceDir } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d.toString();
      const url = /coordinator listening on (http:\/\/[0-9.]+:\d+)\/v1/.exec(seen);
      if (url) resolve(url[1]!);
      if (/"msg":"node serving"/.test(seen)) resolve('node');
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`cascadia ${args[0]} exited ${code}: ${seen.slice(-500)}`)),
    );
  });
}

/** A coordinator and one node per shard; every process writes its step trace into `dataDir/trace`. */
async function mesh(shardDirs: string[], dataDir: string): Promise<string> {
  const traceDir = path.join(dataDir, 'trace');
  await mkdir(traceDir, { recursive: true });
  const url = await spawnCli(
    ['coordinator', '--port', '0', '--data', dataDir, '--max-sessions', '64'],
    traceDir,
  );
  await Promise.all(
    shardDirs.map((dir, i) =>
      spawnCli(
        [
          'node',
          '--coordinator',
          url,
          '--shard',
          dir,
          '--port',
          '0',
          '--threads',
          String(THREADS),
          '--key-file',
          path.join(dataDir, `n${i}.key`),
          ...(BUSY_POLL ? ['--busy-poll'] : []),
        ],
        traceDir,
      ),
    ),
  );
  for (let i = 0; i < 200; i++) {
    const h = (await (await fetch(`${url}/health`)).json()) as { models: string[] };
    if (h.models.includes(DEFAULT_MODEL_ID)) return url;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('mesh did not become servable');
}

interface StreamStats {
  ttftMs: number;
  decodeTps: number;
  tokens: number;
  totalMs: number;
  /** Time between consecutive streamed tokens, ms. */
  intervals: number[];
}

const PROMPTS = [
  'Write a long story about a dragon who learns to cook.',
  'Explain in detail how a steam engine works.',
  'Describe a walk through a busy city market.',
  'List many facts about the ocean, one per line.',
  'Write a letter to a friend about your holiday.',
  'Explain why the sky is blue, step by step.',
  'Describe the life cycle of a butterfly in detail.',
  'Write a poem about autumn leaves and rain.',
];

async function stream(url: string, prompt: string): Promise<StreamStats> {
  const started = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: DEFAULT_MODEL_ID,
      messages: [{ role: 'user', content: prompt }],
      temperature: 0,
      max_tokens: MAX_TOKENS,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!res.ok || !res.body) throw new Error(`status ${res.status}`);
  let first = 0;
  let last = 0;
  let tokens = 0;
  const intervals: number[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const part of res.body) {
    buffer += decoder.decode(part, { stream: true });
    let i = buffer.indexOf('\n\n');
    while (i >= 0) {
      const event = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      i = buffer.indexOf('\n\n');
      const data = event.replace(/^data: /, '');
      if (data === '[DONE]') continue;
      const json = JSON.parse(data) as {
        choices: { delta?: { content?: string } }[];
        usage?: { completion_tokens: number };
      };
      if (json.choices[0]?.delta?.content) {
        const now = performance.now();
        if (first) intervals.push(now - last);
        else first = now;
        last = now;
      }
      if (json.usage) tokens = json.usage.completion_tokens;
    }
  }
  return {
    ttftMs: first - started,
    decodeTps: tokens > 1 ? (tokens - 1) / ((last - first) / 1000) : 0,
    tokens,
    totalMs: performance.now() - started,
    intervals,
  };
}

const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

async function stopChildren(): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function aggregate(url: string, streams: number): Promise<{ tps: number; perStream: number }> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: streams }, (_, i) => stream(url, PROMPTS[i % PROMPTS.length]!)),
  );
  const seconds = (performance.now() - started) / 1000;
  const tokens = results.reduce((a, r) => a + r.tokens, 0);
  return { tps: tokens / seconds, perStream: median(results.map((r) => r.decodeTps)) };
}

/** A stage with no compute (or a fixed sleep per forward): isolates framing, sockets and scheduling. */
function echoRunner(layerStart: number, layerEnd: number, numLayers: number, sleepMs = 0): StageRunner {
  const hidden = 576;
  return {
    manifest: {
      modelId: 'echo',
      shardIndex: layerStart,
      shardCount: numLayers,
      layerStart,
      layerEnd,
      hasEmbeddings: layerStart === 0,
      hasLmHead: layerEnd === numLayers,
      hiddenSize: hidden,
      vocabSize: 49152,
      maxContext: 8192,
      digest: String(layerStart).padStart(64, '0'),
    },
    engine: 'onnxruntime',
    device: 'none',
    async forward(_s, _input, opts) {
      if (sleepMs) await new Promise((r) => setTimeout(r, sleepMs));
      if (layerEnd === numLayers) return { logits: new Float32Array(49152) };
      return { hidden: new Float32Array(opts.length * hidden) };
    },
    dropSession() {},
    async close() {},
  };
}

async function hopCost(stages: number, dataDir: string): Promise<{ wallMs: number; cpuMs: number }> {
  const coordinator = await startCoordinator({ port: 0, dataDir, joinToken: TOKEN });
  const nodes = [];
  for (let i = 0; i < stages; i++) {
    nodes.push(
      await runNode({
        coordinatorUrl: coordinator.url,
        joinToken: TOKEN,
        runner: echoRunner(i, i + 1, stages),
        createSampler: () => ({ sample: () => 1 }),
        keyFile: path.join(dataDir, `echo-${i}.key`),
        port: 0,
      }),
    );
  }
  const route = coordinator.mesh.fleet.requireRoute('echo');
  const session = new PipelineSession(
    route.map((n) => ({ link: n.link, layerStart: n.shard.layer_start, layerEnd: n.shard.layer_end })),
    coordinator.mesh.identity,
    'bench',
  );
  await session.open({ temperature: 0, seed: 1, generated: [] });
  let position = 0;
  for (; position < 200; position++) await session.forward(Int32Array.of(1), position);
  // Best of several batches: the machine is shared, and the minimum is the cost of the protocol
  // itself rather than of whoever else was scheduled.
  const batches: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let b = 0; b < 8; b++) {
    const t0 = performance.now();
    for (let i = 0; i < 250; i++, position++) await session.forward(Int32Array.of(1), position);
    batches.push((performance.now() - t0) / 250);
  }
  const cpu = process.cpuUsage(cpu0);
  // CPU time per step (coordinator and every stage share this process) is immune to how busy the
  // machine is; wall time is the best batch.
  const perStep = { wallMs: Math.min(...batches), cpuMs: (cpu.user + cpu.system) / 1000 / 2000 };
  await session.close();
  for (const node of nodes) await node.stop();
  await coordinator.close();
  return perStep;
}

/**
 * Pipeline scheduling without CPU contention: two stages that each take a fixed 10 ms per forward
 * (a sleep, not compute). Aggregate steps/s at 1, 2, 4, 8 concurrent sessions shows whether the
 * stages really work on different sessions at once (ideal: 2x at 2 sessions, as each stage is busy
 * half the time with one session).
 */
async function schedulingCheck(dataDir: string): Promise<string[]> {
  const coordinator = await startCoordinator({ port: 0, dataDir, joinToken: TOKEN });
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    nodes.push(
      await runNode({
        coordinatorUrl: coordinator.url,
        joinToken: TOKEN,
        runner: echoRunner(i, i + 1, 2, 10),
        createSampler: () => ({ sample: () => 1 }),
        keyFile: path.join(dataDir, `sleep-${i}.key`),
        port: 0,
      }),
    );
  }
  const route = coordinator.mesh.fleet.requireRoute('echo');
  const rows: string[] = [];
  let base = 0;
  for (const n of [1, 2, 4, 8]) {
    const sessions = Array.from(
      { length: n },
      (_, k) =>
        new PipelineSession(
          route.map((r) => ({ link: r.link, layerStart: r.shard.layer_start, layerEnd: r.shard.layer_end })),
          coordinator.mesh.identity,
          `sched-${n}-${k}`,
        ),
    );
    await Promise.all(sessions.map((s) => s.open({ temperature: 0, seed: 1, generated: [] })));
    const steps = 40;
    const t0 = performance.now();
    await Promise.all(
      sessions.map(async (s) => {
        for (let i = 0; i < steps; i++) await s.forward(Int32Array.of(1), i);
      }),
    );
    const rate = (n * steps) / ((performance.now() - t0) / 1000);
    if (n === 1) base = rate;
    rows.push(`  ${String(n).padStart(7)} | ${rate.toFixed(1).padStart(10)} | ${(rate / base).toFixed(2)}x`);
    await Promise.all(sessions.map((s) => s.close()));
  }
  for (const node of nodes) await node.stop();
  await coordinator.close();
  return rows;
}

async function main() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cascadia-bench-'));
  try {
    const line = (s: string) => process.stdout.write(`${s}\n`);
    line(
      `# cascadia mesh benchmark (loopback, ${os.availableParallelism()} cores, load average ${os.loadavg()[0]!.toFixed(1)}, ${THREADS} thread(s) per node${BUSY_POLL ? ', nodes busy-polling' : ''}, max_tokens ${MAX_TOKENS})`,
    );
    await hopCost(2, path.join(dir, 'echo-warm')); // JIT warm-up
    const one = await hopCost(1, path.join(dir, 'echo1'));
    const two = await hopCost(2, path.join(dir, 'echo2'));
    line(
      'protocol only (coordinator and stages in one process, no compute, SmolLM2-sized hidden states, 2000 steps):',
    );
    line(
      `  wall (best batch): 1 stage ${one.wallMs.toFixed(3)} ms/step, 2 stages ${two.wallMs.toFixed(3)} ms/step -> ${(two.wallMs - one.wallMs).toFixed(3)} ms per extra hop`,
    );
    line(
      `  CPU: 1 stage ${one.cpuMs.toFixed(3)} ms/step, 2 stages ${two.cpuMs.toFixed(3)} ms/step -> ${(two.cpuMs - one.cpuMs).toFixed(3)} ms of CPU per extra hop`,
    );

    line(
      'pipeline scheduling (2 stages of a fixed 10 ms each, no CPU contention): steps/s by concurrent sessions',
    );
    line('  streams |    steps/s | vs 1');
    for (const row of await schedulingCheck(path.join(dir, 'sched'))) line(row);

    const gguf = await resolveDefaultModel();
    // The two-node split `cascadia local` uses: compute-balanced (layers 0-19 | 19-30 + LM head).
    const [shards1, shards2] = [await ensureShards(gguf, 1), await balancedShards(gguf, 2)];
    const single = await mesh(shards1, path.join(dir, 'single'));
    const pipeline = await mesh(shards2, path.join(dir, 'pipeline'));
    for (const url of [single, pipeline]) await stream(url, 'Hello'); // warm up
    // Alternating runs, so that both configurations see the same background load; the per-token
    // figure is the median of every token interval (a preempted step moves a mean, not a median).
    const runs = RUNS;
    const s1: StreamStats[] = [];
    const s2: StreamStats[] = [];
    const traceFrom = monotonicMs();
    for (let i = 0; i < runs; i++) {
      s1.push(await stream(single, PROMPTS[i % PROMPTS.length]!));
      s2.push(await stream(pipeline, PROMPTS[i % PROMPTS.length]!));
    }
    const traceTo = monotonicMs();
    const tps1 = median(s1.map((s) => s.decodeTps));
    const tps2 = median(s2.map((s) => s.decodeTps));
    const step1 = median(s1.flatMap((s) => s.intervals));
    const step2 = median(s2.flatMap((s) => s.intervals));
    line(
      `SmolLM2-135M decode, one stream (${runs} alternating runs): one node ${tps1.toFixed(1)} tok/s, two-node pipeline ${tps2.toFixed(1)} tok/s`,
    );
    line(
      `  median time per token: one node ${step1.toFixed(2)} ms, pipeline ${step2.toFixed(2)} ms -> per-token overhead of the extra hop ${(step2 - step1).toFixed(3)} ms`,
    );
    line(
      `  (from the tok/s above: ${(1000 / tps2 - 1000 / tps1).toFixed(3)} ms, ${(1000 / tps1).toFixed(2)} -> ${(1000 / tps2).toFixed(2)} ms/token)`,
    );
    line(
      `  time to first token (median of ${runs}): one node ${median(s1.map((s) => s.ttftMs)).toFixed(1)} ms, pipeline ${median(s2.map((s) => s.ttftMs)).toFixed(1)} ms`,
    );
    line('aggregate decode throughput (tokens/s over wall time, all streams):');
    line('  streams | one node | two-node pipeline | pipeline vs 1 stream');
    let base = 0;
    for (const n of [1, 2, 4, 8]) {
      const a = await aggregate(single, n);
      const b = await aggregate(pipeline, n);
      if (n === 1) base = b.tps;
      line(
        `  ${String(n).padStart(7)} | ${a.tps.toFixed(1).padStart(8)} | ${b.tps.toFixed(1).padStart(17)} | ${(b.tps / base).toFixed(2)}x`,
      );
    }
    // The processes write their step traces as they exit.
    await stopChildren();
    const oneNode = await stepBreakdown(path.join(dir, 'single', 'trace'), traceFrom, traceTo);
    const twoNodes = await stepBreakdown(path.join(dir, 'pipeline', 'trace'), traceFrom, traceTo);
    line(
      `where a decode step's time goes (one-stream runs above; medians over ${oneNode.steps} / ${twoNodes.steps} steps, one clock shared by the processes):`,
    );
    line(
      '  mesh      | step ms | compute | not compute | per hop (sent -> frame at next) | frame -> forward | forward -> sent',
    );
    const row = (name: string, b: StepBreakdown) =>
      `  ${name.padEnd(9)} | ${b.total.toFixed(2).padStart(7)} | ${b.compute.toFixed(2).padStart(7)} | ${b.nonCompute.toFixed(3).padStart(11)} | ${`${b.hop.toFixed(3)} (${b.stages + 1} hops)`.padStart(31)} | ${b.dispatch.toFixed(3).padStart(16)} | ${b.output.toFixed(3).padStart(15)}`;
    line(row('one node', oneNode));
    line(row('pipeline', twoNodes));
    line(
      `  not-compute time added by the extra hop: ${(twoNodes.nonCompute - oneNode.nonCompute).toFixed(3)} ms per token; compute ${(twoNodes.compute - oneNode.compute).toFixed(3)} ms`,
    );
  } finally {
    await stopChildren();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
