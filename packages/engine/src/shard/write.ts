import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serializeModel } from '../onnx/graph.js';
import { buildShardGraph, type KvCacheType } from './graph.js';
import { manifestDigest, type ShardFile, type ShardManifest, sha256File } from './manifest.js';
import { prepareShardWeights, QUANTIZATION_NOTES, type WeightReader } from './weights.js';

export const GRAPH_FILE = 'model.onnx';
export const GRAPH_DATA_FILE = 'model.onnx.data';
export const MANIFEST_FILE = 'manifest.json';

export interface ShardSourceInfo {
  modelId: string;
  sourceDigest: string;
  /** The tokenizer file copied into every shard. */
  tokenizer: { file: string; bytes: Uint8Array };
}

export interface WriteShardsOptions {
  outDir: string;
  /** [0, ..., numLayers]. */
  boundaries: number[];
  accuracyLevel?: number;
  /** Longest context a session may reach (defaults to the model's, capped at 8192). */
  maxContext?: number;
  /** KV cache element type; default int8, or float32 at accuracy level 0 (f32 throughout). */
  kvCacheType?: KvCacheType;
}

/** MatMulNBits accuracy level of an export that names none: int8 activations. */
export const DEFAULT_ACCURACY_LEVEL = 4;

/**
 * int8 quarters the cache and keeps decode speed nearly flat as the context grows (attention reads
 * a quarter of the f32 bytes and never widens them); accuracy level 0 keeps every step in f32.
 */
export function defaultKvCacheType(accuracyLevel: number): KvCacheType {
  return accuracyLevel === 0 ? 'float32' : 'int8';
}

export function shardDirName(index: number, count: number): string {
  return `shard-${index}-of-${count}`;
}

function describeTensorTypes(
  reader: WeightReader,
  layerStart: number,
  layerEnd: number,
): Record<string, string> {
  const notes: Record<string, string> = {};
  for (const t of reader.tensors.values()) {
    const m = /^model\.layers\.(\d+)\./.exec(t.name);
    if (!m || Number(m[1]) < layerStart || Number(m[1]) >= layerEnd || t.shape.length !== 2) continue;
    const key = t.type in QUANTIZATION_NOTES ? (t.type as keyof typeof QUANTIZATION_NOTES) : null;
    const note =
      key ?? (t.type === 'f32' || t.type === 'f16' || t.type === 'bf16' ? 'float' : ('other' as const));
    notes[t.type] = QUANTIZATION_NOTES[note];
  }
  return notes;
}

/** Writes one directory per layer range with the ONNX graph, its weights, the tokenizer and a manifest. */
export async function writeShards(
  reader: WeightReader,
  source: ShardSourceInfo,
  opts: WriteShardsOptions,
): Promise<ShardManifest[]> {
  const c = reader.config;
  const count = opts.boundaries.length - 1;
  const maxContext = opts.maxContext ?? Math.min(c.maxContext, 8192);
  const accuracyLevel = opts.accuracyLevel ?? DEFAULT_ACCURACY_LEVEL;
  const kvCacheType = opts.kvCacheType ?? defaultKvCacheType(accuracyLevel);
  const manifests: ShardManifest[] = [];
  for (let i = 0; i < count; i++) {
    const layerStart = opts.boundaries[i] as number;
    const layerEnd = opts.boundaries[i + 1] as number;
    const dir = join(opts.outDir, shardDirName(i, count));
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const weights = prepareShardWeights(reader, layerStart, layerEnd);
    const graph = buildShardGraph(weights, { maxContext, accuracyLevel, kvCacheType });
    const serialized = serializeModel(graph, { externalDataFile: GRAPH_DATA_FILE });
    await writeFile(join(dir, GRAPH_FILE), serialized.model);
    const data = await open(join(dir, GRAPH_DATA_FILE), 'w');
    let embeddingTable: ShardManifest['embeddingTable'];
    try {
      for (const chunk of serialized.externalChunks) await data.write(chunk);
      if (weights.embedding) {
        // The runtime reads embedding rows from the data file: a tied head already stored the
        // table's bytes there; otherwise they are appended after the graph's initializers.
        let end = serialized.externalBytes;
        const place = async (bytes: ArrayBufferView): Promise<number> => {
          const known = serialized.externalOffsetOf(bytes);
          if (known !== undefined) return known;
          const pad = (64 - (end % 64)) % 64;
          if (pad > 0) await data.write(new Uint8Array(pad));
          await data.write(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          const at = end + pad;
          end = at + bytes.byteLength;
          return at;
        };
        const table = weights.embedding;
        embeddingTable = {
          file: GRAPH_DATA_FILE,
          rows: table.n,
          blockSize: table.blockSize,
          blocksPerRow: table.k / table.blockSize,
          quantsOffset: await place(table.quants),
          scalesOffset: await place(table.scales),
        };
      }
    } finally {
      await data.close();
    }
    await writeFile(join(dir, source.tokenizer.file), source.tokenizer.bytes);
    const files: ShardFile[] = [];
    for (const path of [GRAPH_FILE, GRAPH_DATA_FILE, source.tokenizer.file]) {
      files.push({ path, ...(await sha256File(join(dir, path))) });
    }
    const tokenizerEntry = files[2] as ShardFile;
    const body: Omit<ShardManifest, 'digest'> = {
      format: 'cascadia-shard',
      version: 1,
      modelId: source.modelId,
      architecture: c.architecture,
      shardIndex: i,
      shardCount: count,
      layerStart,
      layerEnd,
      hasEmbeddings: layerStart === 0,
      hasLmHead: layerEnd === c.numLayers,
      hiddenSize: c.hiddenSize,
      vocabSize: c.vocabSize,
      maxContext,
      numLayers: c.numLayers,
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      ...(embeddingTable ? { embeddingTable } : {}),
      kvCacheType,
      graph: GRAPH_FILE,
      sourceDigest: source.sourceDigest,
      quantization: {
        scheme: 'com.microsoft.MatMulNBits',
        blockSize: 32,
        bits: 4,
        accuracyLevel,
        embedding:
          '8-bit blocks of 32 (Q8_0 carried over unchanged; float tables quantized symmetric absmax/127)',
        tensors: describeTensorTypes(reader, layerStart, layerEnd),
      },
      files,
      tokenizer: { file: tokenizerEntry.path, sha256: tokenizerEntry.sha256 },
    };
    const manifest: ShardManifest = { ...body, digest: manifestDigest(body) };
    await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    manifests.push(manifest);
  }
  return manifests;
}
