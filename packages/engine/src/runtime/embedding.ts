import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { ShardManifest } from '../shard/manifest.js';

/**
 * Token embeddings for a first shard, read row by row from the 8-bit table in the shard's data
 * file (`ShardManifest.embeddingTable`) with plain file reads: the table is never mapped, so a
 * prompt's rows cost no resident memory beyond the hidden states they become.
 */
export class TokenEmbeddings {
  private readonly quants: Uint8Array;
  private readonly scales: Float32Array;

  private constructor(
    private readonly fd: number,
    private readonly table: NonNullable<ShardManifest['embeddingTable']>,
    private readonly hiddenSize: number,
  ) {
    this.quants = new Uint8Array(table.blocksPerRow * table.blockSize);
    this.scales = new Float32Array(table.blocksPerRow);
  }

  /** The shard's embedding table, or null when its graph gathers embeddings itself. */
  static open(dir: string, manifest: ShardManifest): TokenEmbeddings | null {
    const table = manifest.embeddingTable;
    if (!table) return null;
    if (table.blocksPerRow * table.blockSize !== manifest.hiddenSize || table.rows !== manifest.vocabSize) {
      throw new Error(
        `embedding table of ${table.rows} x ${table.blocksPerRow * table.blockSize} does not match the shard`,
      );
    }
    return new TokenEmbeddings(openSync(join(dir, table.file), 'r'), table, manifest.hiddenSize);
  }

  /** Hidden states [tokens.length, hiddenSize]: (q - 128) · scale per block. */
  lookup(tokens: Int32Array): Float32Array {
    const { blockSize, blocksPerRow, quantsOffset, scalesOffset } = this.table;
    const out = new Float32Array(tokens.length * this.hiddenSize);
    const scaleBytes = new Uint8Array(this.scales.buffer);
    for (let t = 0; t < tokens.length; t++) {
      const row = tokens[t] as number;
      this.read(this.quants, quantsOffset + row * this.quants.length);
      this.read(scaleBytes, scalesOffset + row * scaleBytes.length);
      const base = t * this.hiddenSize;
      for (let b = 0; b < blocksPerRow; b++) {
        const scale = this.scales[b] as number;
        for (let i = b * blockSize; i < (b + 1) * blockSize; i++) {
          out[base + i] = ((this.quants[i] as number) - 128) * scale;
        }
      }
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }

  private read(into: Uint8Array, position: number): void {
    const n = readSync(this.fd, into, 0, into.length, position);
    if (n !== into.length) throw new Error(`embedding table truncated at byte ${position}`);
  }
}
