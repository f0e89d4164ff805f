// Gateway-added latency and throughput against a mock upstream on loopback, with keys, budgets,
// metering, the ledger (SQLite) and metrics on: upstream, gateway and client are separate processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { post, type RunResult, runLoad } from './http-client.js';

// BENCH_GATEWAY_CLI: another build's CLI to measure (comparing two commits back to back).
const CLI = process.env.BENCH_GATEWAY_CLI ?? fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const UPSTREAM = fileURLToPath(new URL('./upstream-process.ts', import.meta.url));
const BARE_PROXY = fileURLToPath(new URL('./bare-proxy.ts', import.meta.url));
const MASTER = 'bench-master-key';
/** NODE_OPTIONS of infra/gateway/cascadia-gateway.service. */
const UNIT_NODE_FLAGS = '--max-semi-space-size=4 --max-old-space-size=192';
/** The unit's allocator setting (glibc arenas: one per thread by default, each keeping freed memory). */
const UNIT_MALLOC_ARENA_MAX = '2';
/** The unit's LD_PRELOAD: jemalloc (Debian's libjemalloc2), where it is installed. */
const UNIT_PRELOAD = 'libjemalloc.so.2';
const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];

/**
 * The allocator the gateway runs with: BENCH_GATEWAY_PRELOAD (a library, or '' for glibc's malloc),
 * else the unit's jemalloc if installed here, else glibc's malloc.
 */
function gatewayPreload(): { preload: string | null; allocator: string } {
  const chosen = process.env.BENCH_GATEWAY_PRELOAD;
  if (chosen !== undefined) return chosen ? { preload: chosen, allocator: chosen } : glibc();
  const found = LIBRARY_DIRS.some((dir) => existsSync(join(dir, UNIT_PRELOAD)));
  return found ? { preload: UNIT_PRELOAD, allocator: `jemalloc (${UNIT_PRELOAD})` } : glibc();
}
const glibc = () => ({ preload: null, allocator: "glibc's malloc" });

function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = pattern.exec(out);
      if (match) {
        child.stdout?.off('data', onData);
        resolve(match[1] ?? match[0]);
      }
    };
    child.stdout?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`process exited (${code}): ${out}`)));
  });
}

/** User + system CPU time of a process (all threads) in ms, from /proc; null where there is none. */
function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ');
    const ticks = Number(fields?.[11]) + Number(fields?.[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on Linux on every common architecture (/proc/<pid>/stat counts in these ticks). */
const CLOCK_TICKS_PER_SECOND = 100;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('gateway did not become healthy within 60 s');
}

/** Resident set and V8 heap in use of the gateway process, in MB, from its own /metrics. */
async function gatewayMemory(url: string): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) => {
    const match = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
    return match ? Number(match[1]) / 1024 / 1024 : Number.NaN;
  };
  return {
    rss: read('gateway_process_resident_memory_bytes'),
    heap: read('gateway_nodejs_heap_size_used_bytes'),
  };
}

const fmt = (ms: number) => `${ms.toFixed(3)} ms`;

export interface OverheadOptions {
  sequential: number;
  concurrent: number;
  soak: number;
}

export async function benchGatewayOverhead(options: OverheadOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-bench-'));
  const children: ChildProcess[] = [];
  // The child servers stop with the bench, also when it is interrupted (Ctrl-C) or throws: they
  // would otherwise go on listening on loopback.
  const stopChildren = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  };
  const onSignal = (signal: NodeJS.Signals) => {
    stopChildren();
    rmSync(dir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', stopChildren);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const upstreamProc = spawn(process.execPath, ['--import', 'tsx', UPSTREAM], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(upstreamProc);
    const upstreamUrl = await waitForLine(upstreamProc, /(http:\/\/127\.0\.0\.1:\d+\/v1)/);
    // The floor: a logic-free node:http pass-through proxy in its own process, same upstream.
    const bareProc = spawn(process.execPath, ['--import', 'tsx', BARE_PROXY, upstreamUrl], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(bareProc);
    const bareUrl = await waitForLine(bareProc, /(http:\/\/127\.0\.0\.1:\d+)/);

    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      `providers:\n  - name: mock\n    api_base: ${upstreamUrl}\npricing:\n  - { model: mock:echo, input_per_million: 1, output_per_million: 2 }\n`,
    );
    // The gateway logs (one JSON line per call) go to a file, as they would to journald: a pipe
    // drained by this busy load generator would back up into the gateway's memory.
    const port = await freePort();
    const logFd = openSync(join(dir, 'gateway.log'), 'w');
    // The systemd unit's heap flags (its NODE_OPTIONS), MALLOC_ARENA_MAX and allocator by default,
    // so the RSS figure is the deployed one; BENCH_GATEWAY_NODE_FLAGS='' runs with Node's defaults.
    const allocator = gatewayPreload();
    const nodeFlags = (process.env.BENCH_GATEWAY_NODE_FLAGS ?? UNIT_NODE_FLAGS).split(' ').filter(Boolean);
    const gateway = spawn(
      process.execPath,
      [...nodeFlags, CLI, 'serve', '--config', config, '--port', String(port)],
      {
        env: {
          ...process.env,
          MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? UNIT_MALLOC_ARENA_MAX,
          ...(allocator.preload ? { LD_PRELOAD: allocator.preload } : {}),
          DATABASE_URL: `file:${join(dir, 'gateway.db')}`,
          GATEWAY_MASTER_KEY: MASTER,
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', logFd, 'inherit'],
      },
    );
    children.push(gateway);
    const gatewayUrl = `http://127.0.0.1:${port}`;
    await waitForHealth(gatewayUrl, gateway);

    const created = await fetch(`${gatewayUrl}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' },
      body: JSON.stringify({ alias: 'bench', budget: { max_usd: 1_000_000 }, rpm_limit: 100_000_000 }),
    });
    const { key } = (await created.json()) as { key: string };

    const body = (stream: boolean, model: string) =>
      JSON.stringify({
        model,
        messages: [{ role: 'user', content: 'benchmark prompt of a few words' }],
        max_tokens: 8,
        stream,
      });
    const direct = (stream: boolean) => {
      const payload = body(stream, 'echo');
      return () => post(`${upstreamUrl}/chat/completions`, payload, {});
    };
    const viaBareProxy = (stream: boolean) => {
      const payload = body(stream, 'echo');
      return () => post(`${bareUrl}/v1/chat/completions`, payload, {});
    };
    const viaGateway = (stream: boolean) => {
      const payload = body(stream, 'mock:echo');
      const headers = { authorization: `Bearer ${key}` };
      return () => post(`${gatewayUrl}/v1/chat/completions`, payload, headers);
    };

    // Warm up every path (JIT, connections, SQLite pages).
    await runLoad(2000, 8, direct(false));
    await runLoad(2000, 8, viaBareProxy(false));
    await runLoad(2000, 8, viaGateway(false));

    const rows: string[] = [];
    // What one CPU core sustains: calls per CPU-second of each server, from its CPU time per call.
    // The upstream's and the client's CPU are not in it (the mock answers at once), so it is the
    // proxy's own ceiling per core, for sizing a host: a real upstream's latency does not lower it.
    const capacity: string[] = [];
    const perCpuSecond = (us: number) => Math.round(1e6 / us).toLocaleString('en-US');
    const rate = (r: RunResult) => r.count / r.seconds;
    const cell = (r: RunResult) => `p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} ${rate(r).toFixed(0)} req/s`;
    const errorsOf = (runs: RunResult[]) =>
      runs.some((r) => r.errors) ? ` | errors ${runs.map((r) => r.errors).join('/')}` : '';
    // Direct, bare proxy and gateway run back to back, so all three see the same machine load.
    // CPU time per call of each server (all its threads), which scheduling noise on a shared
    // machine disturbs far less than latency: the gateway's own cost against the floor's.
    const cpuPerCall = async (pid: number | undefined, count: number, run: () => Promise<RunResult>) => {
      const before = processCpuMs(pid);
      const result = await run();
      const after = processCpuMs(pid);
      const us = before === null || after === null ? null : ((after - before) * 1000) / count;
      return { result, us };
    };
    const measure = async (label: string, count: number, concurrency: number, stream: boolean) => {
      const d = await runLoad(count, concurrency, direct(stream));
      const bare = await cpuPerCall(bareProc.pid, count, () =>
        runLoad(count, concurrency, viaBareProxy(stream)),
      );
      const gw = await cpuPerCall(gateway.pid, count, () => runLoad(count, concurrency, viaGateway(stream)));
      const b = bare.result;
      const g = gw.result;
      rows.push(`${label}${errorsOf([d, b, g])}`);
      rows.push(`  direct      ${cell(d)}`);
      rows.push(
        `  bare proxy  ${cell(b)} | added p50 ${fmt(b.p50 - d.p50)} p99 ${fmt(b.p99 - d.p99)} | ${((rate(b) / rate(d)) * 100).toFixed(0)}% of direct`,
      );
      rows.push(
        `  gateway     ${cell(g)} | added p50 ${fmt(g.p50 - d.p50)} p99 ${fmt(g.p99 - d.p99)} | ${((rate(g) / rate(d)) * 100).toFixed(0)}% of direct`,
      );
      rows.push(
        `  gateway over the bare proxy: p50 +${fmt(g.p50 - b.p50)} p99 +${fmt(g.p99 - b.p99)} | ${((rate(g) / rate(b)) * 100).toFixed(0)}% of its throughput`,
      );
      if (bare.us !== null && gw.us !== null) {
        rows.push(
          `  CPU per call: bare proxy ${bare.us.toFixed(0)} us, gateway ${gw.us.toFixed(0)} us (${(gw.us / bare.us).toFixed(2)}x)`,
        );
        capacity.push(
          `  ${label.split(' (')[0]!.padEnd(16)} gateway ${perCpuSecond(gw.us).padStart(6)} calls/s per CPU-second, bare proxy ${perCpuSecond(bare.us).padStart(6)}`,
        );
      }
    };
    for (const stream of [false, true]) {
      const kind = stream ? 'stream' : 'non-stream';
      await measure(`c=1 ${kind} (${options.sequential} calls)`, options.sequential, 1, stream);
      await measure(`c=64 ${kind} (${options.concurrent} calls)`, options.concurrent, 64, stream);
    }

    const loadDuringRuns = loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    const before = await gatewayMemory(gatewayUrl);
    const soak = await runLoad(options.soak, 64, viaGateway(false));
    const after = await gatewayMemory(gatewayUrl);
    rows.push(
      `soak: ${options.soak} calls at c=64 in ${soak.seconds.toFixed(1)} s (${(soak.count / soak.seconds).toFixed(0)} req/s, ${soak.errors} errors); ` +
        `gateway RSS ${before.rss.toFixed(0)} MB before, ${after.rss.toFixed(0)} MB after (V8 heap in use ${before.heap.toFixed(0)} → ${after.heap.toFixed(0)} MB)`,
    );
    const usage = (await (
      await fetch(`${gatewayUrl}/admin/usage/summary?group_by=model`, {
        headers: { authorization: `Bearer ${MASTER}` },
      })
    ).json()) as { data: { requests: number; cost_usd: number }[] };
    rows.push(
      `ledger: ${usage.data[0]?.requests} calls metered, $${usage.data[0]?.cost_usd.toFixed(6)} charged`,
    );

    console.log(
      '\n== gateway overhead (mock upstream on loopback; SQLite ledger, keys, budgets, metrics, logs on;\n' +
        '   bare proxy = a logic-free node:http pass-through, the floor for any Node proxy on this machine)',
    );
    console.log(`gateway: node ${nodeFlags.join(' ') || '(defaults)'}, allocator ${allocator.allocator}`);
    for (const row of rows) console.log(row);
    if (capacity.length > 0) {
      console.log(
        'capacity per core (1 / CPU per call of the server process, all its threads; mock upstream and client excluded):',
      );
      for (const row of capacity) console.log(row);
    }
    console.log(
      `load average after the latency runs: ${loadDuringRuns}; at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    process.off('exit', stopChildren);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopChildren();
    await new Promise((r) => setTimeout(r, 500));
    rmSync(dir, { recursive: true, force: true });
  }
}
