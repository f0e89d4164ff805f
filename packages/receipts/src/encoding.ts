/**
 * Byte/text encodings used on the wire. Implemented without Buffer so the main entry runs in browsers.
 * base64url is always unpadded, and decoding is strict: a string decodes only if re-encoding the bytes
 * gives the same string. Otherwise two different strings could carry the same key or signature, and a
 * changed character in a signed document could go unnoticed.
 */

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const BASE64URL_INDEX: ReadonlyMap<string, number> = new Map(
  [...BASE64URL_ALPHABET].map((char, index) => [char, index]),
);

/** Thrown when a string is not the canonical unpadded base64url (or hex) encoding of some bytes. */
export class EncodingError extends Error {
  override readonly name = 'EncodingError';
}

export function base64urlEncode(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out +=
      BASE64URL_ALPHABET[(n >> 18) & 63]! +
      BASE64URL_ALPHABET[(n >> 12) & 63]! +
      BASE64URL_ALPHABET[(n >> 6) & 63]! +
      BASE64URL_ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += BASE64URL_ALPHABET[(n >> 18) & 63]! + BASE64URL_ALPHABET[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out +=
      BASE64URL_ALPHABET[(n >> 18) & 63]! +
      BASE64URL_ALPHABET[(n >> 12) & 63]! +
      BASE64URL_ALPHABET[(n >> 6) & 63]!;
  }
  return out;
}

/**
 * Decodes unpadded base64url. Rejects padding, characters outside the URL-safe alphabet, impossible
 * lengths and non-zero unused trailing bits. With `expectedBytes`, also rejects other lengths.
 */
export function base64urlDecode(text: string, expectedBytes?: number): Uint8Array {
  if (typeof text !== 'string') throw new EncodingError('base64url value must be a string');
  if (text.length % 4 === 1) throw new EncodingError('base64url value has an impossible length');
  const byteLength = Math.floor((text.length * 3) / 4);
  if (expectedBytes !== undefined && byteLength !== expectedBytes) {
    throw new EncodingError(`base64url value decodes to ${byteLength} bytes, expected ${expectedBytes}`);
  }
  const out = new Uint8Array(byteLength);
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const value = BASE64URL_INDEX.get(text[i]!);
    if (value === undefined) {
      throw new EncodingError(`base64url value has a character outside the URL-safe alphabet at index ${i}`);
    }
    buffer = ((buffer << 6) | value) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >> bits) & 0xff;
    }
  }
  if (bits > 0 && (buffer & ((1 << bits) - 1)) !== 0) {
    throw new EncodingError('base64url value is not canonical (unused trailing bits are set)');
  }
  return out;
}

/** True when `text` is the canonical unpadded base64url encoding of exactly `bytes` bytes. */
export function isBase64url(text: unknown, bytes?: number): text is string {
  if (typeof text !== 'string') return false;
  try {
    base64urlDecode(text, bytes);
    return true;
  } catch {
    return false;
  }
}

const HEX_DIGITS = '0123456789abcdef';

export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += HEX_DIGITS[byte >> 4]! + HEX_DIGITS[byte & 15]!;
  return out;
}

/** Decodes hex (either case). */
export function hexToBytes(hex: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new EncodingError('hex value must be an even number of hex digits');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const textEncoder = new TextEncoder();

export function utf8Encode(text: string): Uint8Array {
  return textEncoder.encode(text);
}
