// The mock upstream as its own process, so the benchmark's client, the gateway and the upstream do
// not share an event loop. Prints its base URL on stdout. It keeps no request bodies: the benchmark
// sends it several 100,000 calls, and a growing heap would add its GC pauses to every path's p99.
import { startMockUpstream } from '../test/helpers/upstream.js';

const upstream = await startMockUpstream({ keepRequests: false });
process.stdout.write(`${upstream.url}\n`);
process.on('SIGTERM', () => {
  void upstream.close().then(() => process.exit(0));
});
