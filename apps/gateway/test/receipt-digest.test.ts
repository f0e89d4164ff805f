import { canonicalize, sha256Hex } from '@cascadia/receipts';
import { describe, expect, it } from 'vitest';
import { receiptDigest } from '../src/proxy/receipt-digest.js';

/** JSON texts as an upstream may send them: escapes, unicode, number forms, key orders, nesting. */
const TEXTS = [
  '{"v":1,"kind":"mesh","node_ids":["b","a"],"usage":{"prompt_tokens":3,"completion_tokens":2}}',
  '{"z":1,"a":{"y":[1,2,{"c":null,"b":true,"a":false}],"x":"s"},"m":[]}',
  '{"numbers":[0,-0,1.5,-2.25e-7,1e21,1e-7,123456789012345680000,0.1,5e-324,1.7976931348623157e308]}',
  '{"s":"quote \\" backslash \\\\ slash / tab \\t nl \\n cr \\r bs \\b ff \\f nul \\u0000 us \\u001f del \\u007f"}',
  '{"unicode":"h\\u00e9llo \\ud83d\\ude80 €\\u2028\\u2029 日本"}',
  '{"\\u00e9":1,"e":2,"\\ud83d\\ude80":3,"\\uff61":4,"_":5,"A":6,"a":7,"":8}',
  '{"__proto__":{"x":1},"constructor":"c"}',
  '[1,"two",[3,[4,{"five":5}]],null]',
  '"just a string"',
  '{"deep":{"a":{"b":{"c":{"d":{"e":{"f":[[[[]]]]}}}}}}}',
];

/** Values the receipts package refuses to canonicalize: no digest for them either. */
const NOT_CANONICAL = ['{"lone":"\\ud800"}', '{"\\udc00":1}', '{"big":1e400}', '[-1e999]'];

describe('receipt digest', () => {
  it.each(TEXTS)('equals sha256Hex(canonicalize(receipt)) of @cascadia/receipts for %s', (text) => {
    const value: unknown = JSON.parse(text);
    expect(receiptDigest(value)).toBe(sha256Hex(canonicalize(value)));
  });

  it.each(NOT_CANONICAL)('is null where canonicalize refuses the value: %s', (text) => {
    const value: unknown = JSON.parse(text);
    expect(() => canonicalize(value)).toThrow();
    expect(receiptDigest(value)).toBeNull();
  });
});
