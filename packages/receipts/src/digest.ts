import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalize } from './canonical-json.js';
import { bytesToHex, utf8Encode } from './encoding.js';

/** SHA-256 as lowercase hex; strings are hashed as their UTF-8 bytes. */
export function sha256Hex(data: Uint8Array | string): string {
  return bytesToHex(sha256(typeof data === 'string' ? utf8Encode(data) : data));
}

/** `request_digest` of a receipt: SHA-256 of the canonical JSON of the request body as the coordinator received it. */
export function computeRequestDigest(requestBody: unknown): string {
  return sha256Hex(canonicalize(requestBody));
}

/** `output_digest` of a receipt: SHA-256 of the full generated text (UTF-8). */
export function computeOutputDigest(generatedText: string): string {
  return sha256Hex(generatedText);
}

/**
 * Digest naming one receipt (e.g. in a usage ledger): SHA-256 of its canonical JSON, signature
 * included. Throws CanonicalJsonError for a value JSON cannot represent.
 */
export function computeReceiptDigest(receipt: unknown): string {
  return sha256Hex(canonicalize(receipt));
}
