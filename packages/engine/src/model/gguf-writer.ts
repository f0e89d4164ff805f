import { writeFileSync } from 'node:fs';
import { GGUF_MAGIC } from './gguf.js';

/** Writes GGUF v3 files (used for tiny test models and for crafting bad inputs in tests). */

export type GgufWriteValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: bigint | number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: 'u32' | 'i32' | 'f32' | 'string'; value: (number | string)[] };

export interface GgufWriteTensor {
  name: string;
  /** GGML order: dims[0] is the row length. */
  dims: number[];
  ggmlType: number;
  data: Uint8Array;
}

const TYPE_IDS = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

function encodeScalar(type: keyof typeof TYPE_IDS, v: number | bigint | boolean | string): Buffer {
  const b = Buffer.alloc(8);
  switch (type) {
    case 'u8':
      return Buffer.of(Number(v));
    case 'i8':
      b.writeInt8(Number(v));
      return b.subarray(0, 1);
    case 'u16':
      b.writeUInt16LE(Number(v));
      return b.subarray(0, 2);
    case 'i16':
      b.writeInt16LE(Number(v));
      return b.subarray(0, 2);
    case 'u32':
      b.writeUInt32LE(Number(v));
      return b.subarray(0, 4);
    case 'i32':
      b.writeInt32LE(Number(v));
      return b.subarray(0, 4);
    case 'f32':
      b.writeFloatLE(Number(v));
      return b.subarray(0, 4);
    case 'f64':
      b.writeDoubleLE(Number(v));
      return b;
    case 'u64':
      b.writeBigUInt64LE(BigInt(v as number));
      return b;
    case 'i64':
      b.writeBigInt64LE(BigInt(v as number));
      return b;
    case 'bool':
      return Buffer.of(v ? 1 : 0);
    case 'string': {
      const s = Buffer.from(String(v), 'utf8');
      b.writeBigUInt64LE(BigInt(s.length));
      return Buffer.concat([b, s]);
    }
    default:
      throw new Error(`cannot write ${type} as a scalar`);
  }
}

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: bigint | number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  scalar(type: keyof typeof TYPE_IDS, v: number | bigint | boolean | string): void {
    this.push(encodeScalar(type, v));
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export function encodeGguf(
  metadata: Record<string, GgufWriteValue>,
  tensors: readonly GgufWriteTensor[],
  alignment = 32,
): Buffer {
  const head = new ByteSink();
  head.u32(GGUF_MAGIC);
  head.u32(3);
  head.u64(tensors.length);
  head.u64(Object.keys(metadata).length);
  for (const [key, v] of Object.entries(metadata)) {
    head.str(key);
    head.u32(TYPE_IDS[v.type]);
    if (v.type === 'array') {
      head.u32(TYPE_IDS[v.itemType]);
      head.u64(v.value.length);
      for (const item of v.value) head.scalar(v.itemType, item);
    } else head.scalar(v.type, v.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    offset += Math.ceil(t.data.length / alignment) * alignment;
  }
  tensors.forEach((t, i) => {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.ggmlType);
    head.u64(offsets[i]!);
  });
  const pad = (n: number) => (alignment - (n % alignment)) % alignment;
  head.push(Buffer.alloc(pad(head.length)));
  for (const t of tensors) {
    head.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    head.push(Buffer.alloc(pad(t.data.length)));
  }
  return head.concat();
}

export function writeGguf(
  path: string,
  metadata: Record<string, GgufWriteValue>,
  tensors: readonly GgufWriteTensor[],
): void {
  writeFileSync(path, encodeGguf(metadata, tensors));
}
