import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeIdFromPublicKey, publicKeyFromPrivateKey, signBytes, verifyBytes } from '../src/index.js';
import { createKeyFile, KeyFileError, loadOrCreateKeyFile, readKeyFile } from '../src/node.js';

const posix = process.platform !== 'win32';

describe('key files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'receipts-keys-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a 0600 JWK-like file once, then loads the same key', async () => {
    const path = join(dir, 'nested', 'node.key.json');
    const created = await loadOrCreateKeyFile(path);
    expect(created.created).toBe(true);
    expect(created.kid).toBe(nodeIdFromPublicKey(created.publicKey));
    expect(await publicKeyFromPrivateKey(created.privateKey)).toBe(created.publicKey);

    const document = JSON.parse(await readFile(path, 'utf8'));
    expect(document).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: created.publicKey,
      d: created.privateKey,
      kid: created.kid,
      created_at: created.createdAt,
    });
    if (posix) {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'nested'))).mode & 0o077).toBe(0);
    }

    const loaded = await loadOrCreateKeyFile(path);
    expect(loaded).toEqual({ ...created, created: false });
    const signature = await signBytes(new Uint8Array([1, 2, 3]), loaded.privateKey);
    expect(await verifyBytes(signature, new Uint8Array([1, 2, 3]), created.publicKey)).toBe(true);
  });

  it('uses a given kid and never overwrites an existing file', async () => {
    const path = join(dir, 'coordinator.json');
    const first = await createKeyFile(path, { kid: 'coordinator-main' });
    expect(first.kid).toBe('coordinator-main');
    await expect(createKeyFile(path)).rejects.toMatchObject({ code: 'exists' });
    expect((await readKeyFile(path)).privateKey).toBe(first.privateKey);
  });

  it('concurrent loadOrCreate calls agree on one key', async () => {
    const path = join(dir, 'race.json');
    const results = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateKeyFile(path)));
    expect(new Set(results.map((r) => r.publicKey)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('gives clear errors for bad files, without revealing the secret', async () => {
    const good = await createKeyFile(join(dir, 'good.json'));
    const cases: [string, string, KeyFileError['code'], RegExp][] = [
      ['missing.json', '', 'not_found', /does not exist$/],
      ['garbage.json', `{"d": "${good.privateKey}", oops`, 'invalid_json', /is not valid JSON$/],
      [
        'wrong-kty.json',
        JSON.stringify({ ...(await docOf(good.path)), kty: 'RSA' }),
        'invalid_format',
        /kty: expected "OKP"/,
      ],
      [
        'missing-x.json',
        JSON.stringify({ ...(await docOf(good.path)), x: undefined }),
        'invalid_format',
        /x: /,
      ],
      [
        'short-d.json',
        JSON.stringify({ ...(await docOf(good.path)), d: 'abc' }),
        'invalid_format',
        /d: expected a 32-byte seed/,
      ],
      [
        'extra.json',
        JSON.stringify({ ...(await docOf(good.path)), use: 'sig' }),
        'invalid_format',
        /unknown field/,
      ],
      [
        'mismatch.json',
        JSON.stringify({
          ...(await docOf(good.path)),
          x: (await createKeyFile(join(dir, 'other.json'))).publicKey,
        }),
        'key_mismatch',
        /is not the public key of d/,
      ],
    ];
    for (const [name, content, code, message] of cases) {
      const path = join(dir, name);
      if (content) await writeFile(path, content, { mode: 0o600 });
      const error = await readKeyFile(path).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(KeyFileError);
      expect((error as KeyFileError).code, name).toBe(code);
      expect((error as KeyFileError).message, name).toMatch(message);
      expect((error as KeyFileError).message, name).toContain(path);
      expect((error as KeyFileError).message, name).not.toContain(good.privateKey);
    }
  });

  it.runIf(posix)('refuses a key file other users can read', async () => {
    const path = join(dir, 'open.json');
    await createKeyFile(path);
    await chmod(path, 0o644);
    await expect(readKeyFile(path)).rejects.toMatchObject({
      code: 'insecure_permissions',
      message: expect.stringMatching(/mode 644 lets other users read the private key; run chmod 600/),
    });
    await expect(loadOrCreateKeyFile(path)).rejects.toMatchObject({ code: 'insecure_permissions' });
  });
});

async function docOf(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}
