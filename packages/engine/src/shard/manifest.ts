import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { canonicalize, sha256Hex } from '@cascadia/receipts';
import { z } from 'zod';

export const ShardFileSchema = z.object({
  path: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
});

export const ShardManifestSchema = z.object({
  format: z.literal('cascadia-shard'),
  version: z.literal(1),
  modelId: z.string().min(1),
  architecture: z.string(),
  shardIndex: z.number().int().nonnegative(),
  shardCount: z.number().int().positive(),
  layerStart: z.number().int().nonnegative(),
  layerEnd: z.number().int().positive(),
  hasEmbeddings: z.boolean(),
  hasLmHead: z.boolean(),
  hiddenSize: z.number().int().positive(),
  vocabSize: z.number().int().positive(),
  maxContext: z.number().int().positive(),
  numLayers: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  numKvHeads: z.number().int().positive(),
  headDim: z.number().int().positive(),
  /**
   * First shard: where the 8-bit token embedding table lies in `file` — per row `blocksPerRow`
   * blocks of `blockSize` quants (uint8, zero point 128) at `quantsOffset`, then one f32 scale
   * per block at `scalesOffset`. The runtime looks up token rows there and feeds the graph
   * `hidden_in`; absent in shards whose graph takes `input_ids` and gathers the rows itself.
   */
  embeddingTable: z
    .object({
      file: z.string(),
      rows: z.number().int().positive(),
      blockSize: z.number().int().positive(),
      blocksPerRow: z.number().int().positive(),
      quantsOffset: z.number().int().nonnegative(),
      scalesOffset: z.number().int().nonnegative(),
    })
    .optional(),
  /** Element type of the KV cache the graph reads and returns; absent means float32. */
  kvCacheType: z.enum(['float32', 'float16', 'int8']).optional(),
  /** The ONNX graph among `files`. */
  graph: z.string(),
  sourceDigest: z.string(),
  quantization: z
    .object({
      scheme: z.string(),
      blockSize: z.number().int().positive(),
      bits: z.number().int().positive(),
      accuracyLevel: z.number().int().nonnegative(),
      embedding: z.string(),
      tensors: z.record(z.string(), z.string()),
    })
    .loose(),
  files: z.array(ShardFileSchema),
  tokenizer: z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});

export type ShardManifest = z.infer<typeof ShardManifestSchema>;
export type ShardFile = z.infer<typeof ShardFileSchema>;

/** digest = sha256Hex(canonicalize(manifest without digest)). */
export function manifestDigest(manifest: Omit<ShardManifest, 'digest'> | ShardManifest): string {
  const { digest: _ignored, ...body } = manifest as ShardManifest;
  return sha256Hex(canonicalize(body));
}

export class ShardIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShardIntegrityError';
  }
}

export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  // One buffer reused for every read: a read stream allocates a new chunk per read, and a shard's
  // worth of them (tens of MB) stayed in RSS until the next GC, right when the model loads.
  const buffer = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  const file = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
  } finally {
    await file.close();
  }
  return { sha256: hash.digest('hex'), bytes };
}
