import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, canonicalize, utf8Encode } from '../src/index.js';

function fromIeee754(bits: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${bits}`));
  return view.getFloat64(0);
}

describe('RFC 8785 canonical JSON', () => {
  it('serializes the number samples of RFC 8785 appendix B', () => {
    const samples: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, expected] of samples) {
      expect(canonicalize(fromIeee754(bits)), bits).toBe(expected);
    }
  });

  it('rejects the non-finite samples of appendix B (NaN, Infinity) with a clear error', () => {
    for (const bits of ['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000']) {
      expect(() => canonicalize({ x: fromIeee754(bits) })).toThrow(CanonicalJsonError);
    }
    expect(() => canonicalize({ a: [1, Number.NaN] })).toThrow(
      'canonicalize: NaN is not a JSON number at $.a[1]',
    );
    expect(() => canonicalize(Number.POSITIVE_INFINITY)).toThrow('Infinity is not a JSON number at $');
  });

  it('canonicalizes the primitive-data example of RFC 8785 section 3.2.2', () => {
    // The input exactly as the RFC writes it (JSON text, with its redundant escapes and number forms).
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
    expect(canonicalize(JSON.parse(input))).toBe(expected);
  });

  it('sorts keys by UTF-16 code units as in RFC 8785 section 3.2.3', () => {
    const input = String.raw`{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`;
    const canonical = canonicalize(JSON.parse(input));
    expect(canonical).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    // Sorting by code point instead would put U+FB33 before the emoji (U+1F600); UTF-16 puts D83D first.
    expect(canonical.indexOf('\ud83d')).toBeLessThan(canonical.indexOf('\ufb33'));
  });

  it('produces the UTF-8 bytes of RFC 8785 section 3.2.4 for the section 3.2.2 example', () => {
    const value =
      JSON.parse(String.raw`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],
      "string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`);
    const hex = [...utf8Encode(canonicalize(value))].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    expect(hex).toBe(
      '7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 ' +
        '72 73 22 3a 5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31 65 2b 33 30 2c 34 2e 35 2c 30 2e 30 ' +
        '30 32 2c 31 65 2d 32 37 5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 30 66 5c 6e 41 27 42 5c ' +
        '22 5c 5c 5c 5c 5c 22 2f 22 7d',
    );
  });

  it('escapes exactly the characters RFC 8785 escapes', () => {
    const controls = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).join('');
    expect(canonicalize(controls)).toBe(
      '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f' +
        '\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"',
    );
    // '/', DEL, U+2028/9, non-ASCII and astral characters are written as themselves.
    expect(canonicalize('/\u007f\u2028\u2029é😀"\\')).toBe('"/\u007f\u2028\u2029é😀\\"\\\\"');
  });

  it('sorts nested objects, keeps array order, and writes no whitespace', () => {
    const value = { b: [{ z: 1, y: [3, 2, 1] }, [], {}], a: { d: null, c: 'x', B: false }, '': 0, aa: -0 };
    expect(canonicalize(value)).toBe(
      '{"":0,"a":{"B":false,"c":"x","d":null},"aa":0,"b":[{"y":[3,2,1],"z":1},[],{}]}',
    );
  });

  it('gives the same text for the same data however its keys were ordered or spaced', () => {
    const a = JSON.parse('{ "x": 1, "y": { "q": [1, 2], "p": "s" } }');
    const b = JSON.parse('{"y":{"p":"s","q":[1,2]},"x":1.0}');
    expect(canonicalize(a)).toBe(canonicalize(b));
  });

  it('rejects what JSON cannot represent, naming where it is', () => {
    expect(() => canonicalize({ a: { b: undefined } })).toThrow('undefined is not a JSON value at $.a.b');
    expect(() => canonicalize([() => 1])).toThrow('a function is not a JSON value at $[0]');
    expect(() => canonicalize({ s: Symbol('x') })).toThrow('a symbol is not a JSON value at $.s');
    expect(() => canonicalize({ n: 10n })).toThrow('a bigint is not a JSON value');
    expect(() => canonicalize(new Map())).toThrow('a Map is not a plain JSON object at $');
    expect(() => canonicalize({ 'odd key': new Uint8Array(2) })).toThrow(
      'a Uint8Array is not a plain JSON object at $["odd key"]',
    );
    expect(() => canonicalize(undefined)).toThrow(CanonicalJsonError);
  });

  it('rejects lone surrogates, which have no UTF-8 encoding', () => {
    expect(() => canonicalize('a\ud800b')).toThrow('lone high surrogate U+d800');
    expect(() => canonicalize({ k: '\udc00' })).toThrow('lone low surrogate U+dc00 in string at $.k');
    expect(() => canonicalize({ '\ud83d': 1 })).toThrow(CanonicalJsonError);
  });

  it('rejects cycles but allows the same object twice in different branches', () => {
    const shared = { v: 1 };
    expect(canonicalize({ a: shared, b: [shared] })).toBe('{"a":{"v":1},"b":[{"v":1}]}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = { back: cyclic };
    expect(() => canonicalize(cyclic)).toThrow('circular reference at $.self.back');
  });

  it('uses toJSON like JSON.stringify does (dates become ISO strings)', () => {
    expect(canonicalize({ at: new Date('2026-05-09T10:00:00Z') })).toBe('{"at":"2026-05-09T10:00:00.000Z"}');
    expect(canonicalize(Object.create(null))).toBe('{}');
  });

  it('agrees with a sorted JSON.stringify on random data, and is idempotent', () => {
    // Deterministic PRNG so a failure reproduces.
    let state = 0x9e3779b9;
    const random = () => {
      state = (state * 1664525 + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
    const alphabet = [
      'a',
      'B',
      '0',
      ' ',
      '"',
      '\\',
      '\n',
      '\u0001',
      '\u007f',
      'é',
      '€',
      '\ud83d\ude00',
      '\ufb33',
      '/',
    ];
    const randomString = () =>
      Array.from(
        { length: Math.floor(random() * 6) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join('');
    const randomNumber = () => {
      const kind = Math.floor(random() * 4);
      if (kind === 0) return Math.floor(random() * 2000) - 1000;
      if (kind === 1) return (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20);
      if (kind === 2) return (random() - 0.5) * 1e300;
      return random();
    };
    const randomValue = (depth: number): unknown => {
      const kind = Math.floor(random() * (depth > 3 ? 4 : 6));
      if (kind === 0) return null;
      if (kind === 1) return random() < 0.5;
      if (kind === 2) return randomNumber();
      if (kind === 3) return randomString();
      if (kind === 4) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1));
      return Object.fromEntries(
        Array.from({ length: Math.floor(random() * 5) }, () => [randomString(), randomValue(depth + 1)]),
      );
    };
    const sortedStringify = (value: unknown): string => {
      if (Array.isArray(value)) return `[${value.map(sortedStringify).join(',')}]`;
      if (value !== null && typeof value === 'object') {
        const record = value as Record<string, unknown>;
        // Default sort compares UTF-16 code units, which is what RFC 8785 asks for.
        const keys = Object.keys(record).sort();
        return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedStringify(record[k])}`).join(',')}}`;
      }
      return JSON.stringify(value);
    };
    for (let i = 0; i < 500; i++) {
      const value = randomValue(0);
      const canonical = canonicalize(value);
      expect(canonical).toBe(sortedStringify(value));
      expect(canonicalize(JSON.parse(canonical))).toBe(canonical);
    }
  });
});
