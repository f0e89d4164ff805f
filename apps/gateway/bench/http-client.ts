// A lean keep-alive HTTP client: the same one measures direct and through-gateway calls, so its
// own overhead cancels out of the "added latency" figures.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export const agent = new Agent({ keepAlive: true, maxSockets: 256 });

export function post(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; ms: number; bytes: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, bytes }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export interface RunResult {
  count: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
}

/** `count` calls with `concurrency` in flight; latencies in ms. */
export async function runLoad(
  count: number,
  concurrency: number,
  call: () => Promise<{ status: number; ms: number }>,
): Promise<RunResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const { status, ms } = await call();
        if (status !== 200) errors++;
        latencies.push(ms);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { count, seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}
