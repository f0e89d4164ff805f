/** Mean ms per call of `fn` over about `ms` milliseconds. */
async function round(fn: () => Promise<unknown>, ms: number): Promise<number> {
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await fn();
    runs++;
  }
  return (performance.now() - start) / runs;
}

/**
 * Times several variants in alternating rounds (so load from other processes hits them alike) and
 * prints each one's best round: ops/s and ms per call. Returns the best ms per call, by label.
 */
export async function compare(
  variants: Record<string, () => Promise<unknown>>,
  options: { rounds?: number; roundMs?: number } = {},
): Promise<Record<string, number>> {
  const { rounds = 5, roundMs = 400 } = options;
  const best: Record<string, number> = {};
  for (const fn of Object.values(variants)) for (let i = 0; i < 5; i++) await fn();
  for (let r = 0; r < rounds; r++) {
    for (const [label, fn] of Object.entries(variants)) {
      const mean = await round(fn, roundMs);
      best[label] = Math.min(best[label] ?? Number.POSITIVE_INFINITY, mean);
    }
  }
  for (const [label, meanMs] of Object.entries(best)) {
    console.log(
      `${label.padEnd(48)} ${(1000 / meanMs).toFixed(1).padStart(10)} ops/s  ${meanMs.toFixed(3).padStart(9)} ms/op`,
    );
  }
  return best;
}
