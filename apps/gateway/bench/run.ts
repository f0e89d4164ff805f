// `pnpm --filter @cascadia/gateway bench` (after a build). Parameters by environment:
//   BENCH_LEDGER_ROWS (default 10000000), BENCH_SEQUENTIAL (10000), BENCH_CONCURRENT (20000),
//   BENCH_SOAK (100000), BENCH_ONLY=overhead|ledger, BENCH_GATEWAY_NODE_FLAGS (the systemd unit's heap flags).
import { benchGatewayOverhead } from './gateway-overhead.js';
import { benchLedger } from './ledger.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const only = process.env.BENCH_ONLY;

if (only !== 'ledger') {
  await benchGatewayOverhead({
    // 10,000 sequential calls: their p99 is the 100th slowest call, which one stall of a shared
    // machine (a few slow calls in a row) moves far less than the 20th of 2,000.
    sequential: env('BENCH_SEQUENTIAL', 10_000),
    concurrent: env('BENCH_CONCURRENT', 20_000),
    soak: env('BENCH_SOAK', 100_000),
  });
}
if (only !== 'overhead') await benchLedger(env('BENCH_LEDGER_ROWS', 10_000_000));
