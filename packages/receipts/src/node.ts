/**
 * Node-only entry (`@cascadia/receipts/node`): the on-disk key file of a node or coordinator.
 *
 * Format (JSON, JWK-like so standard tooling recognises it):
 *   { "kty": "OKP", "crv": "Ed25519", "x": <public key b64url>, "d": <seed b64url>,
 *     "kid": <key id>, "created_at": <ISO date-time> }
 * Written with mode 0600 and refused on read when group or others can access it, as ssh does:
 * a readable seed lets anyone sign receipts in this node's name.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { bytesToHex } from './encoding.js';
import { generateKeyPair, nodeIdFromPublicKey, publicKeyFromPrivateKey } from './keys.js';
import { describeSchemaError, PublicKeySchema } from './schema.js';

export type KeyFileErrorCode =
  | 'not_found'
  | 'unreadable'
  | 'invalid_json'
  | 'invalid_format'
  | 'key_mismatch'
  | 'insecure_permissions'
  | 'exists';

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
  constructor(
    readonly code: KeyFileErrorCode,
    readonly path: string,
    message: string,
  ) {
    super(`key file ${path}: ${message}`);
  }
}

export const KeyFileSchema = z.strictObject({
  kty: z.literal('OKP', { error: 'expected "OKP"' }),
  crv: z.literal('Ed25519', { error: 'expected "Ed25519"' }),
  x: PublicKeySchema,
  // The seed's message must not echo the value.
  d: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'expected a 32-byte seed in unpadded base64url' }),
  kid: z.string().min(1).max(256),
  created_at: z.iso.datetime({ offset: true }),
});
export type KeyFileDocument = z.infer<typeof KeyFileSchema>;

export interface KeyFile {
  path: string;
  kid: string;
  publicKey: string;
  /** Secret seed (base64url). Never log it. */
  privateKey: string;
  createdAt: string;
}

const PRIVATE_MODE = 0o600;

export async function readKeyFile(path: string): Promise<KeyFile> {
  let text: string;
  try {
    if (process.platform !== 'win32') {
      const info = await stat(path);
      if ((info.mode & 0o077) !== 0) {
        throw new KeyFileError(
          'insecure_permissions',
          path,
          `mode ${(info.mode & 0o777).toString(8)} lets other users read the private key; run chmod 600 on it`,
        );
      }
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof KeyFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeyFileError('not_found', path, 'does not exist');
    throw new KeyFileError('unreadable', path, `cannot be read (${code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse messages quote the input, which here contains the secret: say only where to look.
    throw new KeyFileError('invalid_json', path, 'is not valid JSON');
  }
  const parsed = KeyFileSchema.safeParse(json);
  if (!parsed.success) throw new KeyFileError('invalid_format', path, describeSchemaError(parsed.error, ''));
  let derived: string;
  try {
    derived = await publicKeyFromPrivateKey(parsed.data.d);
  } catch {
    throw new KeyFileError('invalid_format', path, 'd: expected a 32-byte seed in unpadded base64url');
  }
  if (derived !== parsed.data.x) {
    throw new KeyFileError('key_mismatch', path, `x (${parsed.data.x}) is not the public key of d`);
  }
  return {
    path,
    kid: parsed.data.kid,
    publicKey: parsed.data.x,
    privateKey: parsed.data.d,
    createdAt: parsed.data.created_at,
  };
}

/**
 * Creates a new key file with a fresh key pair. Never overwrites: fails with code `exists` when the
 * path is taken. The file appears atomically (written aside, then hard-linked into place), so a
 * concurrent reader never sees half a key and two concurrent creators cannot both win.
 */
export async function createKeyFile(path: string, opts: { kid?: string } = {}): Promise<KeyFile> {
  const pair = await generateKeyPair();
  const document: KeyFileDocument = {
    kty: 'OKP',
    crv: 'Ed25519',
    x: pair.publicKey,
    d: pair.privateKey,
    kid: opts.kid ?? nodeIdFromPublicKey(pair.publicKey),
    created_at: new Date().toISOString(),
  };
  const check = KeyFileSchema.safeParse(document);
  if (!check.success) throw new KeyFileError('invalid_format', path, describeSchemaError(check.error, ''));

  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${bytesToHex(randomBytes(6))}.tmp`;
  await writeFile(temporary, `${JSON.stringify(document, null, 2)}\n`, { mode: PRIVATE_MODE, flag: 'wx' });
  try {
    await chmod(temporary, PRIVATE_MODE); // the umask may only have removed bits; make it exact
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyFileError('exists', path, 'already exists; refusing to overwrite a key');
    }
    throw error;
  } finally {
    await unlink(temporary).catch(() => {});
  }
  return {
    path,
    kid: document.kid,
    publicKey: document.x,
    privateKey: document.d,
    createdAt: document.created_at,
  };
}

/** Reads the key file at `path`, creating it (and its directory, mode 0700) when it does not exist. */
export async function loadOrCreateKeyFile(
  path: string,
  opts: { kid?: string } = {},
): Promise<KeyFile & { created: boolean }> {
  try {
    return { ...(await readKeyFile(path)), created: false };
  } catch (error) {
    if (!(error instanceof KeyFileError) || error.code !== 'not_found') throw error;
  }
  try {
    return { ...(await createKeyFile(path, opts)), created: true };
  } catch (error) {
    // Someone else created it between our read and our create: theirs is the key.
    if (error instanceof KeyFileError && error.code === 'exists')
      return { ...(await readKeyFile(path)), created: false };
    throw error;
  }
}
