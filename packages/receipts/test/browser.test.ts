/**
 * The built main entry in a real browser (headless Chromium): verifies a receipt made in Node,
 * rejects a tampered one, and signs a receipt that Node then verifies. Modules are served as they
 * are published (dist/ and the dependencies' ESM files) through an import map, with no bundler.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyMeshReceipt } from '../src/index.js';
import { clone, type Fixture, makeFixture } from './fixture.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const chromium = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (candidate): candidate is string => !!candidate && existsSync(candidate),
);
const built = existsSync(join(packageDir, 'dist', 'index.js'));
if (!chromium)
  console.log('browser.test.ts: not run, no Chromium found (set CHROMIUM_PATH or install chromium)');
if (!built)
  console.log('browser.test.ts: not run, dist/ is missing (build the package first; turbo test does)');

const PAGE = `<!doctype html><meta charset="utf-8"><title>receipts</title>
<script type="importmap">{"imports":{"zod":"/m/zod/index.js","@noble/ed25519":"/m/@noble/ed25519/index.js","@noble/hashes/":"/m/@noble/hashes/"}}</script>
<script type="module">
const report = (value) => fetch('/result', { method: 'POST', body: JSON.stringify(value) });
try {
  const r = await import('/dist/index.js');
  const f = await (await fetch('/fixture.json')).json();
  const genuine = await r.verifyMeshReceipt(f.receipt, { keys: r.keyDirectoryFromPublished(f.published) });
  const tampered = await r.verifyMeshReceipt(f.tampered, { keys: r.keyDirectoryFromPublished(f.published) });
  const coordinator = await r.generateKeyPair();
  const { signature, ...body } = f.receipt;
  const resigned = await r.signMeshReceipt({ ...body, coordinator_public_key: coordinator.publicKey }, coordinator.privateKey);
  await report({
    hasSubtle: !!globalThis.crypto.subtle,
    genuine: genuine.ok,
    tampered: tampered.ok ? 'ok' : tampered.reason,
    canonical: r.canonicalize({ b: [1e30, -0], a: '\\u20ac' }),
    digest: r.sha256Hex('abc'),
    coordinatorPublicKey: coordinator.publicKey,
    resigned,
  });
} catch (error) {
  await report({ error: String(error && error.stack || error) });
}
</script>`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

describe.skipIf(!chromium || !built)('in a real browser (headless Chromium)', () => {
  let f: Fixture;
  let server: Server;
  let profile: string;
  let browser: ChildProcess | undefined;
  let result: Promise<Record<string, unknown>>;

  beforeAll(async () => {
    f = await makeFixture();
    const tampered = clone(f.receipt);
    tampered.usage.completion_tokens += 1;
    const fixture = JSON.stringify({ receipt: f.receipt, published: f.published, tampered });
    const roots: Record<string, string> = {
      '/dist/': join(packageDir, 'dist'),
      '/m/zod/': await realpath(join(packageDir, 'node_modules', 'zod')),
      '/m/@noble/ed25519/': await realpath(join(packageDir, 'node_modules', '@noble', 'ed25519')),
      '/m/@noble/hashes/': await realpath(join(packageDir, 'node_modules', '@noble', 'hashes')),
    };
    let deliver: (value: Record<string, unknown>) => void = () => {};
    result = new Promise((resolve) => {
      deliver = resolve;
    });
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      if (url.pathname === '/fixture.json') {
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(fixture);
      }
      if (url.pathname === '/result' && req.method === 'POST') {
        deliver(JSON.parse(await readBody(req)) as Record<string, unknown>);
        return void res.writeHead(204).end();
      }
      for (const [prefix, root] of Object.entries(roots)) {
        if (!url.pathname.startsWith(prefix)) continue;
        const file = normalize(join(root, url.pathname.slice(prefix.length)));
        if (!file.startsWith(root + sep) || !file.endsWith('.js')) break;
        try {
          return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(await readFile(file));
        } catch {
          break;
        }
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    profile = await mkdtemp(join(tmpdir(), 'receipts-chromium-'));
    browser = spawn(
      chromium!,
      [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--no-default-browser-check',
        `--user-data-dir=${profile}`,
        url,
      ],
      { stdio: 'ignore' },
    );
  }, 30_000);

  afterAll(async () => {
    if (browser && browser.exitCode === null) {
      const exited = new Promise((resolve) => browser!.once('exit', resolve));
      browser.kill('SIGTERM');
      await exited;
    }
    await new Promise((resolve) => server?.close(resolve));
    // Chromium's helper processes may still be flushing the profile for a moment after it exits.
    if (profile) await rm(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('verifies, rejects tampering and signs with the published build', async () => {
    const outcome = await Promise.race([
      result,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('no result from Chromium in 45 s')), 45_000),
      ),
    ]);
    expect(outcome.error).toBeUndefined();
    expect(outcome).toMatchObject({
      hasSubtle: true,
      genuine: true,
      tampered: 'bad_signature',
      canonical: '{"a":"€","b":[1e+30,0]}',
      digest: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    });
    // What the browser signed verifies in Node.
    const keys = { ...f.keys, coordinator: [outcome.coordinatorPublicKey as string] };
    expect(await verifyMeshReceipt(outcome.resigned, { keys })).toMatchObject({ ok: true });
  }, 60_000);
});
