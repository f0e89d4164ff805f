/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the byte-exact form that signatures cover.
 *
 * - Numbers are written as ECMAScript's Number-to-String does (RFC 8785 section 3.2.2.3 defines
 *   them that way), so `String(n)` is the serializer; -0 becomes 0; NaN and Infinity are not JSON.
 * - Strings use the minimal escapes of RFC 8785 section 3.2.2.2 and must be well-formed UTF-16
 *   (a lone surrogate cannot be encoded as UTF-8, so it cannot be signed).
 * - Object keys are sorted by their UTF-16 code units (section 3.2.3), recursively.
 * - Anything JSON cannot represent (undefined, functions, symbols, bigints, Map, class instances
 *   without toJSON, cycles) is an error naming where it was found, rather than being dropped
 *   silently the way JSON.stringify drops it: a silently dropped field would be unsigned.
 */

export class CanonicalJsonError extends TypeError {
  override readonly name = 'CanonicalJsonError';
  constructor(
    message: string,
    /** JSONPath-like location of the offending value, e.g. `$.stages[1].tokens`. */
    readonly path: string,
  ) {
    super(`canonicalize: ${message} at ${path}`);
  }
}

export function canonicalize(value: unknown): string {
  return serialize(value, '$', new Set());
}

function serialize(value: unknown, path: string, ancestors: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return serializeNumber(value, path);
    case 'string':
      return serializeString(value, path);
    case 'undefined':
      throw new CanonicalJsonError('undefined is not a JSON value', path);
    case 'function':
      throw new CanonicalJsonError('a function is not a JSON value', path);
    case 'symbol':
      throw new CanonicalJsonError('a symbol is not a JSON value', path);
    case 'bigint':
      throw new CanonicalJsonError('a bigint is not a JSON value (convert it to a number or string)', path);
    case 'object':
      return serializeObjectOrArray(value, path, ancestors);
    default:
      throw new CanonicalJsonError(`unsupported type ${typeof value}`, path);
  }
}

function serializeNumber(value: number, path: string): string {
  if (!Number.isFinite(value)) {
    throw new CanonicalJsonError(`${String(value)} is not a JSON number`, path);
  }
  // ECMAScript Number::toString is exactly the RFC 8785 number format (and prints -0 as "0").
  return String(value);
}

function serializeString(value: string, path: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x22) out += '\\"';
    else if (code === 0x5c) out += '\\\\';
    else if (code < 0x20) out += escapeControl(code);
    else if (code >= 0xd800 && code <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) {
        throw new CanonicalJsonError(`lone high surrogate U+${hex4(code)} in string`, path);
      }
      out += value[i]! + value[i + 1]!;
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      throw new CanonicalJsonError(`lone low surrogate U+${hex4(code)} in string`, path);
    } else out += value[i]!;
  }
  return `${out}"`;
}

function escapeControl(code: number): string {
  switch (code) {
    case 0x08:
      return '\\b';
    case 0x09:
      return '\\t';
    case 0x0a:
      return '\\n';
    case 0x0c:
      return '\\f';
    case 0x0d:
      return '\\r';
    default:
      return `\\u${hex4(code)}`;
  }
}

function hex4(code: number): string {
  return code.toString(16).padStart(4, '0');
}

/** Orders strings by UTF-16 code units, as RFC 8785 section 3.2.3 requires (not by locale or code point). */
function compareUtf16(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const diff = a.charCodeAt(i) - b.charCodeAt(i);
    if (diff !== 0) return diff;
  }
  return a.length - b.length;
}

function serializeObjectOrArray(value: object, path: string, ancestors: Set<object>): string {
  if (ancestors.has(value)) throw new CanonicalJsonError('circular reference', path);
  const withToJson = value as { toJSON?: unknown };
  if (typeof withToJson.toJSON === 'function') {
    // Same rule as JSON.stringify: a value that knows its JSON form (e.g. Date) is replaced by it.
    const replacement: unknown = (withToJson.toJSON as (key: string) => unknown)('');
    ancestors.add(value);
    try {
      return serialize(replacement, path, ancestors);
    } finally {
      ancestors.delete(value);
    }
  }
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const items: string[] = [];
      for (let i = 0; i < value.length; i++) items.push(serialize(value[i], `${path}[${i}]`, ancestors));
      return `[${items.join(',')}]`;
    }
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new CanonicalJsonError(`a ${kind} is not a plain JSON object`, path);
    }
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort(compareUtf16)) {
      const memberPath = /^[A-Za-z_$][\w$]*$/.test(key)
        ? `${path}.${key}`
        : `${path}[${JSON.stringify(key)}]`;
      members.push(`${serializeString(key, memberPath)}:${serialize(record[key], memberPath, ancestors)}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}
