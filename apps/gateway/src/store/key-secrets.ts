import { hash, randomBytes } from 'node:crypto';

export const KEY_PREFIX = 'sk-cas-';

/** 256 random bits, base64url: `sk-cas-` + 43 characters. */
export function generateKeySecret(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Keys are high-entropy, so a plain SHA-256 is a sufficient one-way lookup hash (no salt needed).
 * The one-shot `hash` (no Hash object per call) costs about 0.8 us against createHash's 2.
 */
export function hashKeySecret(secret: string): string {
  return hash('sha256', secret, 'hex');
}

/** Non-secret display form: the prefix plus the first 4 random characters (24 bits). */
export function displayPrefix(secret: string): string {
  return `${secret.slice(0, KEY_PREFIX.length + 4)}…`;
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}
