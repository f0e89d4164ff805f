// The receipt digest of the ledger: sha256Hex(canonicalize(receipt)) as @cascadia/receipts defines
// it (RFC 8785 JSON canonicalization), computed for values that come from JSON.parse, on the hot
// path of every call. Such values are only null, booleans, numbers, strings, arrays and plain
// objects, so the general serializer's checks (toJSON, cycles, class instances, paths for error
// messages) have nothing to find; what remains is exactly JCS:
// - strings and keys are written as JSON.stringify writes them (RFC 8785 section 3.2.2.2 uses the
//   same minimal escapes), and must be well-formed UTF-16 (a lone surrogate has no UTF-8 form);
// - numbers as ECMAScript's Number-to-String (section 3.2.2.3), finite only (JSON.parse turns
//   1e400 into Infinity, which is not JSON);
// - object keys sorted by UTF-16 code units (section 3.2.3), which is Array.prototype.sort's
//   default order.
// A value the receipts package cannot canonicalize gets no digest here either (tested against it).
import { hash } from 'node:crypto';

class NotCanonicalizable extends Error {}

/** String.prototype.isWellFormed (ES2024, in Node since 20; the project's lib is ES2023). */
const isWellFormed = (value: string) => (value as string & { isWellFormed(): boolean }).isWellFormed();

function string(value: string): string {
  if (!isWellFormed(value)) throw new NotCanonicalizable('lone surrogate');
  return JSON.stringify(value);
}

function canonical(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return string(value);
    case 'number':
      if (!Number.isFinite(value)) throw new NotCanonicalizable('not a JSON number');
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonical(value[i]);
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        out += `${i ? ',' : ''}${string(key)}:${canonical(record[key])}`;
      }
      return `${out}}`;
    }
    default:
      throw new NotCanonicalizable(`not a JSON value (${typeof value})`);
  }
}

/** sha256 hex of the canonical JSON of a JSON.parse result, or null if it has no canonical form. */
export function receiptDigest(parsed: unknown): string | null {
  let text: string;
  try {
    text = canonical(parsed);
  } catch (error) {
    if (error instanceof NotCanonicalizable) return null;
    throw error;
  }
  // One-shot: no Hash object per call.
  return hash('sha256', text, 'hex');
}
