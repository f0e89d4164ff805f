/**
 * ed25519 keys and raw signatures (RFC 8032 via @noble/ed25519's async API, which hashes with
 * WebCrypto SHA-512 and therefore runs unchanged in Node and browsers).
 * Keys travel as unpadded base64url: a public key is the 32-byte RFC 8032 encoding, a private key is
 * the 32-byte seed.
 */
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { base64urlDecode, base64urlEncode, EncodingError } from './encoding.js';

// Browsers expose WebCrypto (crypto.subtle) only in secure contexts (https, localhost); a page
// served over plain http on a LAN address has none. There the synchronous API with a pure-JS
// SHA-512 gives the same results. Setting `hashes.sha512` is noble's documented way to enable it
// and changes nothing for callers that already set one.
ed.hashes.sha512 ??= sha512;
const hasWebCrypto = (): boolean => globalThis.crypto?.subtle !== undefined;

export const PUBLIC_KEY_BYTES = 32;
export const PRIVATE_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export interface KeyPair {
  /** 32-byte ed25519 public key, unpadded base64url (43 characters). */
  publicKey: string;
  /** 32-byte ed25519 seed, unpadded base64url (43 characters). Secret. */
  privateKey: string;
}

/** Thrown when a key given to a signing or key helper is not a valid encoded key. */
export class KeyFormatError extends Error {
  override readonly name = 'KeyFormatError';
}

export async function generateKeyPair(): Promise<KeyPair> {
  const { secretKey, publicKey } = hasWebCrypto() ? await ed.keygenAsync() : ed.keygen();
  return { publicKey: base64urlEncode(publicKey), privateKey: base64urlEncode(secretKey) };
}

export async function publicKeyFromPrivateKey(privateKey: string): Promise<string> {
  const seed = decodePrivateKey(privateKey);
  return base64urlEncode(hasWebCrypto() ? await ed.getPublicKeyAsync(seed) : ed.getPublicKey(seed));
}

/** The node id convention of the mesh: `node-` + the first 12 characters of the base64url public key. */
export function nodeIdFromPublicKey(publicKey: string): string {
  decodePublicKey(publicKey);
  return `node-${publicKey.slice(0, 12)}`;
}

export function decodePublicKey(publicKey: string): Uint8Array {
  try {
    return base64urlDecode(publicKey, PUBLIC_KEY_BYTES);
  } catch (error) {
    throw new KeyFormatError(`public key is not 32 bytes of unpadded base64url: ${describe(error)}`);
  }
}

export function decodePrivateKey(privateKey: string): Uint8Array {
  try {
    return base64urlDecode(privateKey, PRIVATE_KEY_BYTES);
  } catch (error) {
    // The message never includes the value: it is a secret.
    throw new KeyFormatError(`private key is not a 32-byte seed in unpadded base64url: ${describe(error)}`);
  }
}

/** Signs raw bytes; returns the 64-byte signature as unpadded base64url. */
export async function signBytes(message: Uint8Array, privateKey: string): Promise<string> {
  const seed = decodePrivateKey(privateKey);
  return base64urlEncode(hasWebCrypto() ? await ed.signAsync(message, seed) : ed.sign(message, seed));
}

export type SignatureCheck =
  | { valid: true }
  | { valid: false; problem: 'bad_signature' | 'malformed'; detail: string };

/**
 * Verifies a base64url signature over raw bytes. Never throws: encoding problems come back as
 * `malformed`, a signature that does not verify as `bad_signature`. Uses RFC 8032's strict rules
 * (not ZIP-215), so non-canonical encodings of the same signature are rejected.
 */
export async function checkSignature(
  signature: string,
  message: Uint8Array,
  publicKey: string,
): Promise<SignatureCheck> {
  let signatureBytes: Uint8Array;
  let publicKeyBytes: Uint8Array;
  try {
    signatureBytes = base64urlDecode(signature, SIGNATURE_BYTES);
  } catch (error) {
    return { valid: false, problem: 'malformed', detail: `signature: ${describe(error)}` };
  }
  try {
    publicKeyBytes = base64urlDecode(publicKey, PUBLIC_KEY_BYTES);
  } catch (error) {
    return { valid: false, problem: 'malformed', detail: `public key: ${describe(error)}` };
  }
  try {
    const strict = { zip215: false };
    const ok = hasWebCrypto()
      ? await ed.verifyAsync(signatureBytes, message, publicKeyBytes, strict)
      : ed.verify(signatureBytes, message, publicKeyBytes, strict);
    return ok
      ? { valid: true }
      : { valid: false, problem: 'bad_signature', detail: 'signature does not verify' };
  } catch (error) {
    // noble throws for a public key that is not a curve point or an out-of-range S.
    return {
      valid: false,
      problem: 'bad_signature',
      detail: `signature does not verify (${describe(error)})`,
    };
  }
}

/** Convenience boolean form of {@link checkSignature}. */
export async function verifyBytes(
  signature: string,
  message: Uint8Array,
  publicKey: string,
): Promise<boolean> {
  return (await checkSignature(signature, message, publicKey)).valid;
}

function describe(error: unknown): string {
  if (error instanceof EncodingError || error instanceof Error) return error.message;
  return String(error);
}
