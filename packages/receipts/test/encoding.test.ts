import { describe, expect, it } from 'vitest';
import {
  base64urlDecode,
  base64urlEncode,
  EncodingError,
  hexToBytes,
  isBase64url,
  sha256Hex,
} from '../src/index.js';

describe('base64url', () => {
  it('round-trips every length from 0 to 70 bytes without padding', () => {
    for (let length = 0; length <= 70; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 37 + length * 11) & 0xff);
      const text = base64urlEncode(bytes);
      expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
      expect(text.length).toBe(Math.ceil((length * 4) / 3));
      expect(base64urlDecode(text)).toEqual(bytes);
    }
  });

  it('matches the RFC 4648 test vectors (unpadded, URL alphabet)', () => {
    const cases: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, encoded] of cases) {
      expect(base64urlEncode(new TextEncoder().encode(plain))).toBe(encoded);
    }
    expect(base64urlEncode(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe('-_-_');
  });

  it('refuses padding, the standard alphabet, impossible lengths and non-canonical trailing bits', () => {
    expect(() => base64urlDecode('Zg==')).toThrow(EncodingError);
    expect(() => base64urlDecode('+/+/')).toThrow('outside the URL-safe alphabet at index 0');
    expect(() => base64urlDecode('Zm9vY')).toThrow('impossible length');
    // 'Zh' carries the same byte as 'Zg' plus a set unused bit: a second spelling of the same value.
    expect(() => base64urlDecode('Zh')).toThrow('not canonical');
    expect(() => base64urlDecode('Zg', 2)).toThrow('decodes to 1 bytes, expected 2');
    expect(isBase64url('Zg', 1)).toBe(true);
    expect(isBase64url('Zh', 1)).toBe(false);
    expect(isBase64url(42)).toBe(false);
  });
});

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 examples and hashes strings as UTF-8', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new Uint8Array([0x61, 0x62, 0x63]))).toBe(sha256Hex('abc'));
    expect(sha256Hex('é')).toBe(sha256Hex(hexToBytes('c3a9')));
  });
});
