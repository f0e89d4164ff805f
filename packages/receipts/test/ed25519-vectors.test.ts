import { afterEach, describe, expect, it, vi } from 'vitest';
import { base64urlDecode } from '../src/encoding.js';
import {
  base64urlEncode,
  bytesToHex,
  generateKeyPair,
  hexToBytes,
  publicKeyFromPrivateKey,
  signBytes,
  verifyBytes,
} from '../src/index.js';
import { TEST_1024 } from './rfc8032-test1024.js';

// RFC 8032 section 7.1, test vectors for Ed25519 (secret key = 32-byte seed).
const VECTORS = [
  {
    name: 'TEST 1 (empty message)',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2 (one byte)',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3 (two bytes)',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
  TEST_1024,
  {
    name: 'TEST SHA(abc) (64-byte message)',
    secret: '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
    public: 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf',
    message:
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    signature:
      'dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704',
  },
];

describe('ed25519 against RFC 8032 section 7.1', () => {
  for (const vector of VECTORS) {
    it(`${vector.name}: derives the public key, signs to the exact signature, and verifies`, async () => {
      const privateKey = base64urlEncode(hexToBytes(vector.secret));
      const publicKey = await publicKeyFromPrivateKey(privateKey);
      expect(bytesToHex(base64urlDecode(publicKey))).toBe(vector.public);

      const message = hexToBytes(vector.message);
      if (vector === TEST_1024) expect(message.length).toBe(1023);
      const signature = await signBytes(message, privateKey);
      expect(bytesToHex(base64urlDecode(signature))).toBe(vector.signature);
      expect(await verifyBytes(signature, message, publicKey)).toBe(true);

      // The same signature must not verify for another message or another key.
      const otherMessage = new Uint8Array([...message, 0]);
      expect(await verifyBytes(signature, otherMessage, publicKey)).toBe(false);
      const otherKey = base64urlEncode(
        hexToBytes(VECTORS[(VECTORS.indexOf(vector) + 1) % VECTORS.length]!.public),
      );
      expect(await verifyBytes(signature, message, otherKey)).toBe(false);
    });
  }

  it('rejects a signature whose S is not reduced mod L (RFC 8032 strict verification)', async () => {
    const vector = VECTORS[0]!;
    const signature = hexToBytes(vector.signature);
    // S + L encodes the same scalar; RFC 8032 section 5.1.7 requires rejecting S >= L (malleability).
    const l = (1n << 252n) + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]!);
    let sPlusL = s + l;
    for (let i = 32; i < 64; i++) {
      signature[i] = Number(sPlusL & 0xffn);
      sPlusL >>= 8n;
    }
    const publicKey = base64urlEncode(hexToBytes(vector.public));
    expect(await verifyBytes(base64urlEncode(signature), new Uint8Array(), publicKey)).toBe(false);
  });

  describe('without WebCrypto (a browser page on plain http has no crypto.subtle)', () => {
    afterEach(() => {
      vi.unstubAllGlobals();
    });

    it('signs and verifies the RFC vectors the same way, and generates keys', async () => {
      const realCrypto = globalThis.crypto;
      vi.stubGlobal('crypto', { getRandomValues: realCrypto.getRandomValues.bind(realCrypto) });
      expect(globalThis.crypto.subtle).toBeUndefined();
      for (const vector of VECTORS) {
        const privateKey = base64urlEncode(hexToBytes(vector.secret));
        const signature = await signBytes(hexToBytes(vector.message), privateKey);
        expect(bytesToHex(base64urlDecode(signature))).toBe(vector.signature);
        const publicKey = await publicKeyFromPrivateKey(privateKey);
        expect(await verifyBytes(signature, hexToBytes(vector.message), publicKey)).toBe(true);
        expect(await verifyBytes(signature, hexToBytes(`${vector.message}00`), publicKey)).toBe(false);
      }
      const pair = await generateKeyPair();
      expect(await publicKeyFromPrivateKey(pair.privateKey)).toBe(pair.publicKey);
    });
  });
});
