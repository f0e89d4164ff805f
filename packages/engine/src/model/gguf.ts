import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CorruptModelError, NotAModelFileError, TruncatedModelError } from './errors.js';

/** The GGUF container: header, typed metadata, tensor directory. Tensor data is left on disk. */

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** GGML order: dims[0] is the innermost (contiguous) dimension. */
  dims: number[];
  ggmlType: number;
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
}

export interface GgufFile {
  path: string;
  version: number;
  fileSize: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataOffset: number;
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian

/** GGML tensor type ids (ggml.h `enum ggml_type`). */
export const GGML_TYPE_NAMES: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  6: 'Q5_0',
  7: 'Q5_1',
  8: 'Q8_0',
  9: 'Q8_1',
  10: 'Q2_K',
  11: 'Q3_K',
  12: 'Q4_K',
  13: 'Q5_K',
  14: 'Q6_K',
  15: 'Q8_K',
  16: 'IQ2_XXS',
  17: 'IQ2_XS',
  18: 'IQ3_XXS',
  19: 'IQ1_S',
  20: 'IQ4_NL',
  21: 'IQ3_S',
  22: 'IQ2_S',
  23: 'IQ4_XS',
  24: 'I8',
  25: 'I16',
  26: 'I32',
  27: 'I64',
  28: 'F64',
  29: 'IQ1_M',
  30: 'BF16',
  34: 'TQ1_0',
  35: 'TQ2_0',
  39: 'MXFP4',
};

enum ValueType {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
}

/** Sequential little-endian reader over a file descriptor, pulling chunks as the parse advances. */
class FileCursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    readonly path: string,
  ) {}

  private ensure(n: number, what: string): number {
    const rel = this.pos - this.bufStart;
    if (rel + n <= this.buf.length) return rel;
    if (this.pos + n > this.size) {
      throw new TruncatedModelError(
        this.path,
        `the header ends at byte ${this.size} while reading ${what} (needs ${n} bytes at ${this.pos})`,
      );
    }
    const want = Math.min(this.size - this.pos, Math.max(n, 1 << 20));
    const next = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const r = readSync(this.fd, next, got, want - got, this.pos + got);
      if (r === 0) break;
      got += r;
    }
    this.buf = next.subarray(0, got);
    this.bufStart = this.pos;
    if (got < n) throw new TruncatedModelError(this.path, `short read at byte ${this.pos}`);
    return 0;
  }

  u8(): number {
    const at = this.ensure(1, 'u8');
    this.pos += 1;
    return this.buf.readUInt8(at);
  }
  i8(): number {
    const at = this.ensure(1, 'i8');
    this.pos += 1;
    return this.buf.readInt8(at);
  }
  u16(): number {
    const at = this.ensure(2, 'u16');
    this.pos += 2;
    return this.buf.readUInt16LE(at);
  }
  i16(): number {
    const at = this.ensure(2, 'i16');
    this.pos += 2;
    return this.buf.readInt16LE(at);
  }
  u32(): number {
    const at = this.ensure(4, 'u32');
    this.pos += 4;
    return this.buf.readUInt32LE(at);
  }
  i32(): number {
    const at = this.ensure(4, 'i32');
    this.pos += 4;
    return this.buf.readInt32LE(at);
  }
  f32(): number {
    const at = this.ensure(4, 'f32');
    this.pos += 4;
    return this.buf.readFloatLE(at);
  }
  f64(): number {
    const at = this.ensure(8, 'f64');
    this.pos += 8;
    return this.buf.readDoubleLE(at);
  }
  u64(): bigint {
    const at = this.ensure(8, 'u64');
    this.pos += 8;
    return this.buf.readBigUInt64LE(at);
  }
  i64(): bigint {
    const at = this.ensure(8, 'i64');
    this.pos += 8;
    return this.buf.readBigInt64LE(at);
  }
  /** A u64 that must fit a JS number and stay below `limit`. */
  count(what: string, limit: number): number {
    const v = this.u64();
    if (v > BigInt(Math.floor(limit))) {
      throw new CorruptModelError(
        this.path,
        `${what} is ${v}, which is impossible for a ${this.size}-byte file`,
      );
    }
    return Number(v);
  }
  string(what: string): string {
    const len = this.count(`length of ${what}`, this.size);
    const at = this.ensure(len, what);
    this.pos += len;
    return this.buf.toString('utf8', at, at + len);
  }
}

/** The shortest decimal that rounds to the same f32 (1e-5 rather than 9.999999747378752e-6). */
export function shortestF32(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 1; p <= 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return v;
}

function numberish(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

function readValue(c: FileCursor, type: number, key: string, depth: number): GgufValue {
  switch (type) {
    case ValueType.U8:
      return c.u8();
    case ValueType.I8:
      return c.i8();
    case ValueType.U16:
      return c.u16();
    case ValueType.I16:
      return c.i16();
    case ValueType.U32:
      return c.u32();
    case ValueType.I32:
      return c.i32();
    case ValueType.F32:
      return shortestF32(c.f32());
    case ValueType.Bool:
      return c.u8() !== 0;
    case ValueType.String:
      return c.string(`value of ${key}`);
    case ValueType.U64:
      return numberish(c.u64());
    case ValueType.I64:
      return numberish(c.i64());
    case ValueType.F64:
      return c.f64();
    case ValueType.Array: {
      if (depth > 4) throw new CorruptModelError(c.path, `metadata ${key} nests arrays too deeply`);
      const itemType = c.u32();
      const n = c.count(`length of array ${key}`, c.size);
      const out: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, itemType, key, depth + 1);
      return out;
    }
    default:
      throw new CorruptModelError(c.path, `metadata ${key} has unknown value type ${type}`);
  }
}

/** Parse the header and tensor directory of a GGUF file; checks every tensor lies inside the file. */
export function readGguf(path: string): GgufFile {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const c = new FileCursor(fd, size, path);
    if (size < 4) throw new NotAModelFileError(path, `only ${size} bytes`);
    const magic = c.u32();
    if (magic !== GGUF_MAGIC) {
      throw new NotAModelFileError(path, 'missing the "GGUF" magic number at the start of the file');
    }
    const version = c.u32();
    if (version < 2 || version > 3) {
      throw new CorruptModelError(path, `GGUF version ${version} is not supported (2 and 3 are)`);
    }
    // Every tensor info and key-value pair takes at least 8 bytes, which bounds the counts.
    const tensorCount = c.count('tensor count', size / 8);
    const kvCount = c.count('metadata count', size / 8);
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = c.string('metadata key');
      const type = c.u32();
      metadata.set(key, readValue(c, type, key, 0));
    }
    const alignmentValue = metadata.get('general.alignment') ?? 32;
    const alignment = typeof alignmentValue === 'number' ? alignmentValue : Number.NaN;
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
      throw new CorruptModelError(path, `general.alignment ${String(alignmentValue)} is not a multiple of 8`);
    }
    const infos: { name: string; dims: number[]; ggmlType: number; rel: number }[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = c.string('tensor name');
      const nDims = c.u32();
      if (nDims > 8) throw new CorruptModelError(path, `tensor ${name} has ${nDims} dimensions`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) dims.push(c.count(`dimension of ${name}`, 2 ** 40));
      const ggmlType = c.u32();
      const rel = c.count(`offset of ${name}`, 2 ** 50);
      infos.push({ name, dims, ggmlType, rel });
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    const tensors = infos.map((t) => ({
      name: t.name,
      dims: t.dims,
      ggmlType: t.ggmlType,
      offset: dataOffset + t.rel,
    }));
    return { path, version, fileSize: size, metadata, tensors, alignment, dataOffset };
  } finally {
    closeSync(fd);
  }
}

/** Read `length` bytes at `offset` of a file into a fresh array. */
export function readFileRange(path: string, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const fd = openSync(path, 'r');
  try {
    let got = 0;
    while (got < length) {
      const r = readSync(fd, out, got, length - got, offset + got);
      if (r === 0)
        throw new TruncatedModelError(path, `expected ${length} bytes at ${offset}, the file ends first`);
      got += r;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
