// The floor for the gateway benchmark: a node:http pass-through proxy with no logic at all (no
// auth, no database, no metering). It pays what any proxy in Node pays on this machine (a second
// HTTP round trip, two more socket writes and reads), so "gateway minus bare proxy" is the cost of
// the gateway's own work. Its own process; prints its base URL on stdout.
// Usage: node --import tsx bench/bare-proxy.ts <upstream base URL>
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const upstreamArg = process.argv[2];
if (!upstreamArg) throw new Error('usage: bare-proxy.ts <upstream base URL>');
const upstream = new URL(upstreamArg);
const agent = new Agent({ keepAlive: true, maxSockets: 512 });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    // The proxy's paths are the upstream's (`/v1/chat/completions` on both).
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, {
          'content-type': answer.headers['content-type'] ?? 'application/json',
        });
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    forward.end(body);
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`http://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
