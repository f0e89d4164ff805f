import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';

/** Just enough of the ZIP format to stream one member out of a wheel (stored or deflated, no ZIP64). */

export class ZipFormatError extends Error {
  readonly code = 'zip_format_error';
  constructor(path: string, detail: string) {
    super(`${path}: ${detail}`);
    this.name = 'ZipFormatError';
  }
}

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export async function listZip(path: string): Promise<ZipEntry[]> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    // The end-of-central-directory record is in the last 22 + 65535 bytes.
    const tailLen = Math.min(size, 22 + 65535);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new ZipFormatError(path, 'no end-of-central-directory record (not a zip file?)');
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff || count === 0xffff)
      throw new ZipFormatError(path, 'ZIP64 archives are not supported');
    if (cdOffset + cdSize > size)
      throw new ZipFormatError(path, 'central directory beyond the end of the file');
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50)
        throw new ZipFormatError(path, 'corrupt central directory');
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      entries.push({
        name: cd.toString('utf8', p + 46, p + 46 + nameLen),
        method: cd.readUInt16LE(p + 10),
        compressedSize: cd.readUInt32LE(p + 20),
        size: cd.readUInt32LE(p + 24),
        localHeaderOffset: cd.readUInt32LE(p + 42),
      });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** Stream one member to `dest`, reporting uncompressed bytes written. */
export async function extractZipEntry(
  path: string,
  entry: ZipEntry,
  dest: string,
  onBytes?: (written: number) => void,
): Promise<void> {
  const fh = await open(path, 'r');
  let dataStart: number;
  try {
    const header = Buffer.alloc(30);
    await fh.read(header, 0, 30, entry.localHeaderOffset);
    if (header.readUInt32LE(0) !== 0x04034b50)
      throw new ZipFormatError(path, `bad local header for ${entry.name}`);
    dataStart = entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  } finally {
    await fh.close();
  }
  if (entry.method !== 0 && entry.method !== 8) {
    throw new ZipFormatError(
      path,
      `${entry.name} uses compression method ${entry.method} (only stored and deflate)`,
    );
  }
  let written = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      onBytes?.(written);
      cb(null, chunk);
    },
  });
  const source = createReadStream(path, { start: dataStart, end: dataStart + entry.compressedSize - 1 });
  if (entry.method === 8) await pipeline(source, createInflateRaw(), count, createWriteStream(dest));
  else await pipeline(source, count, createWriteStream(dest));
  if (written !== entry.size) {
    throw new ZipFormatError(
      path,
      `${entry.name}: extracted ${written} bytes, the archive says ${entry.size}`,
    );
  }
}
