import { closeSync, fstatSync, openSync, readSync, writeFileSync } from 'node:fs';
import {
  CorruptModelError,
  NotAModelFileError,
  TruncatedModelError,
  UnsupportedTensorTypeError,
} from './errors.js';
import { readFileRange } from './gguf.js';
import { elementCount } from './quant.js';
import type { TensorType, WeightTensor } from './types.js';

/** The safetensors container: an 8-byte header length, a JSON header, then raw little-endian data. */

const DTYPES: Record<string, { type: TensorType; bytes: number }> = {
  F32: { type: 'f32', bytes: 4 },
  F16: { type: 'f16', bytes: 2 },
  BF16: { type: 'bf16', bytes: 2 },
};

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Tensors of one .safetensors file, read from disk when their `data` is accessed. */
export function readSafetensors(path: string): WeightTensor[] {
  const fd = openSync(path, 'r');
  let header: Record<string, unknown>;
  let dataStart: number;
  let size: number;
  try {
    size = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || readSync(fd, lenBuf, 0, 8, 0) < 8)
      throw new NotAModelFileError(path, 'too short for safetensors');
    const len = lenBuf.readBigUInt64LE(0);
    if (len > BigInt(size - 8) || len > 100_000_000n) {
      throw new TruncatedModelError(path, `header claims ${len} bytes but the file has ${size}`);
    }
    const json = Buffer.alloc(Number(len));
    readSync(fd, json, 0, json.length, 8);
    try {
      header = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new CorruptModelError(path, 'the safetensors header is not JSON');
    }
    dataStart = 8 + json.length;
  } finally {
    closeSync(fd);
  }
  const out: WeightTensor[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = raw as HeaderEntry;
    if (!e || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw new CorruptModelError(path, `tensor ${name} has a malformed header entry`);
    }
    const dtype = DTYPES[e.dtype];
    if (!dtype) throw new UnsupportedTensorTypeError(path, name, e.dtype);
    const [begin, end] = e.data_offsets;
    const bytes = elementCount(e.shape) * dtype.bytes;
    if (end - begin !== bytes)
      throw new CorruptModelError(path, `tensor ${name} spans ${end - begin} bytes, expected ${bytes}`);
    if (dataStart + end > size) {
      throw new TruncatedModelError(
        path,
        `tensor ${name} data ends at byte ${dataStart + end}, beyond the end of the file (${size} bytes)`,
      );
    }
    const offset = dataStart + begin;
    out.push({
      name,
      shape: [...e.shape],
      type: dtype.type,
      get data(): Uint8Array {
        return readFileRange(path, offset, bytes);
      },
    });
  }
  return out;
}

/** Write tensors (f32/f16/bf16) as one .safetensors file, in the given order. */
export function writeSafetensors(
  path: string,
  tensors: readonly WeightTensor[],
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const datas: Uint8Array[] = [];
  for (const t of tensors) {
    const dtype = Object.entries(DTYPES).find(([, d]) => d.type === t.type)?.[0];
    if (!dtype) throw new Error(`safetensors cannot hold ${t.type} tensor ${t.name}`);
    const data = t.data;
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + data.length] };
    offset += data.length;
    datas.push(data);
  }
  let json = JSON.stringify(header);
  // Pad the header so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  writeFileSync(path, Buffer.concat([len, headerBytes, ...datas]));
}
