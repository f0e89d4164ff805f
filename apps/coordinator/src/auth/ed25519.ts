/**
 * Synchronous ed25519 for the wire handshake, on Node's built-in crypto (microseconds per
 * signature, so authenticating a connection costs nothing measurable). Keys use the receipts
 * package's encoding: unpadded base64url, public = 32 bytes, private = 32-byte seed.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface Identity {
  id: string;
  publicKey: string;
  privateKey: string;
}

function decode32(value: string, what: string): Buffer {
  const bytes = Buffer.from(value, 'base64url');
  if (bytes.length !== 32 || bytes.toString('base64url') !== value)
    throw new Error(`${what} is not 32 bytes of base64url`);
  return bytes;
}

const privateCache = new Map<string, KeyObject>();
const publicCache = new Map<string, KeyObject>();

function privateKeyObject(privateKey: string): KeyObject {
  let key = privateCache.get(privateKey);
  if (!key) {
    const der = Buffer.concat([PKCS8_ED25519_PREFIX, decode32(privateKey, 'private key')]);
    key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    privateCache.set(privateKey, key);
  }
  return key;
}

function publicKeyObject(publicKey: string): KeyObject {
  let key = publicCache.get(publicKey);
  if (!key) {
    const der = Buffer.concat([SPKI_ED25519_PREFIX, decode32(publicKey, 'public key')]);
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    if (publicCache.size > 1024) publicCache.clear();
    publicCache.set(publicKey, key);
  }
  return key;
}

export function signMessage(message: string | Uint8Array, privateKey: string): string {
  const data = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  return sign(null, data, privateKeyObject(privateKey)).toString('base64url');
}

/** Never throws: malformed keys or signatures simply do not verify. */
export function verifyMessage(message: string | Uint8Array, signature: string, publicKey: string): boolean {
  try {
    const data = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
    const sig = Buffer.from(signature, 'base64url');
    if (sig.length !== 64) return false;
    return verify(null, data, publicKeyObject(publicKey), sig);
  } catch {
    return false;
  }
}

export function publicKeyOf(privateKey: string): string {
  const jwk = createPublicKey(privateKeyObject(privateKey)).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('could not derive the public key');
  return jwk.x;
}
