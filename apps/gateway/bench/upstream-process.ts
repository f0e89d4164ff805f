// The mock upstream as its own process, so the benchmark's client, the gateway and the upstream do
// not share an event loop. Prints its base URL on stdout.
import { startMockUpstream } from '../test/helpers/upstream.js';

const upstream = await startMockUpstream();
process.stdout.write(`${upstream.url}\n`);
process.on('SIGTERM', () => {
  void upstream.close().then(() => process.exit(0));
});
