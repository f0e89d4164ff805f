#!/usr/bin/env node
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openModel } from './model/index.js';
import { pullDefaultModel, stderrProgress } from './pull/index.js';
import { readShardManifest } from './runtime/load.js';
import { findShardDirs, generateTokens, loadPipeline } from './runtime/pipeline.js';
import { createSampler } from './sampling/index.js';
import { exportShards } from './shard/export.js';
import { sha256File } from './shard/manifest.js';
import { DEFAULT_ACCURACY_LEVEL, defaultKvCacheType } from './shard/write.js';
import { loadTokenizer } from './tokenizer/index.js';

const USAGE = `usage: cascadia-engine <command> [options]

  pull [--cache DIR]
      Fetch SmolLM2-135M-Instruct (Q4_1 GGUF) into the cache; prints its path last.
  export --model <gguf|hf-dir> --out <dir> [--shards N | --boundaries 0,15,30 | --memory 8,4] [--model-id ID]
         [--kv-cache float32|float16|int8]
      Write layer-range ONNX shards to <dir>/shard-<i>-of-<n>/ with manifests.
  inspect <file.gguf | hf-dir | shard-dir | shards-dir>
      Print a model's config and tensors, or shard manifests (digests verified).
  generate --model <gguf|hf-dir|shards-dir> --prompt TEXT [--chat] [--max-tokens N] [--temperature T]
           [--top-p P] [--top-k K] [--seed S] [--engine auto|onnxruntime|openvino] [--threads N]
      Generate text; a model file or folder is exported to a cached whole-model shard first
      (again when the model or the default KV cache type changed).`;

class UsageError extends Error {}

function numberList(value: string, flag: string): number[] {
  const list = value.split(',').map((v) => Number(v.trim()));
  if (list.some((n) => !Number.isFinite(n))) throw new UsageError(`${flag} expects comma-separated numbers`);
  return list;
}

function numberFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`${flag} expects a number`);
  return n;
}

async function pull(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { cache: { type: 'string' } } });
  const path = await pullDefaultModel({
    ...(values.cache ? { cacheDir: values.cache } : {}),
    onProgress: stderrProgress(),
  });
  console.log(path);
}

async function exportCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      shards: { type: 'string' },
      boundaries: { type: 'string' },
      memory: { type: 'string' },
      'model-id': { type: 'string' },
      'kv-cache': { type: 'string' },
    },
  });
  if (!values.model || !values.out) throw new UsageError('export needs --model and --out');
  const kvCache = values['kv-cache'];
  if (kvCache !== undefined && kvCache !== 'float32' && kvCache !== 'float16' && kvCache !== 'int8')
    throw new UsageError(`--kv-cache must be float32, float16 or int8 (got ${kvCache})`);
  const shards = numberFlag(values.shards, '--shards');
  const manifests = await exportShards({
    model: values.model,
    outDir: values.out,
    ...(shards !== undefined ? { shards } : {}),
    ...(values.boundaries ? { boundaries: numberList(values.boundaries, '--boundaries') } : {}),
    ...(values.memory ? { memoryWeights: numberList(values.memory, '--memory') } : {}),
    ...(values['model-id'] ? { modelId: values['model-id'] } : {}),
    ...(kvCache !== undefined ? { kvCacheType: kvCache } : {}),
  });
  for (const m of manifests) {
    const bytes = m.files.reduce((a, f) => a + f.bytes, 0);
    console.log(
      `shard-${m.shardIndex}-of-${m.shardCount}  layers [${m.layerStart}, ${m.layerEnd})  ${(bytes / 2 ** 20).toFixed(1)} MB  digest ${m.digest}`,
    );
  }
}

async function inspect(args: string[]): Promise<void> {
  const target = args[0];
  if (!target) throw new UsageError('inspect needs a path');
  if (!existsSync(target)) throw new UsageError(`no such file or folder: ${target}`);
  const isShardPath =
    statSync(target).isDirectory() &&
    (existsSync(join(target, 'manifest.json')) ||
      (() => {
        try {
          return findShardDirs(target).length > 0;
        } catch {
          return false;
        }
      })());
  if (isShardPath) {
    for (const dir of findShardDirs(target)) {
      const m = await readShardManifest(dir);
      const problems: string[] = [];
      for (const f of m.files) {
        const actual = await sha256File(join(dir, f.path)).catch(() => null);
        if (!actual || actual.sha256 !== f.sha256 || actual.bytes !== f.bytes) problems.push(f.path);
      }
      console.log(
        JSON.stringify({ dir, ...m, verified: problems.length === 0, mismatched: problems }, null, 2),
      );
    }
    return;
  }
  const source = await openModel(target);
  const types = new Map<string, number>();
  for (const t of source.tensors.values()) types.set(t.type, (types.get(t.type) ?? 0) + 1);
  console.log(
    JSON.stringify(
      {
        modelId: source.modelId,
        format: source.format,
        sourceDigest: source.sourceDigest,
        config: source.config,
        tensors: source.tensors.size,
        tensorTypes: Object.fromEntries(types),
        vocabulary: source.tokenizer.tokens.length,
        chatTemplate: source.chatTemplate !== undefined,
      },
      null,
      2,
    ),
  );
}

/**
 * A model file/folder becomes a cached whole-model shard, re-exported when the source changes or
 * when the cached one was written with another KV cache type than today's default (an export from
 * before the int8 default would otherwise keep running the f16 cache).
 */
async function shardsFor(model: string): Promise<string> {
  try {
    findShardDirs(model);
    return model;
  } catch {
    // not a shard folder: export it
  }
  const source = await openModel(model);
  const cache = join(process.env.CASCADIA_CACHE ?? join(homedir(), '.cache', 'cascadia'), 'shards');
  const dir = join(cache, source.sourceDigest.slice(0, 16));
  const manifestPath = join(dir, 'shard-0-of-1', 'manifest.json');
  const cachedType = existsSync(manifestPath)
    ? ((JSON.parse(readFileSync(manifestPath, 'utf8')) as { kvCacheType?: string }).kvCacheType ?? 'float32')
    : null;
  if (cachedType !== defaultKvCacheType(DEFAULT_ACCURACY_LEVEL)) {
    mkdirSync(dir, { recursive: true });
    process.stderr.write(`exporting ${model} to ${dir}\n`);
    await exportShards({ model, outDir: dir, shards: 1 });
  }
  return dir;
}

async function generate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      chat: { type: 'boolean', default: false },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      seed: { type: 'string' },
      engine: { type: 'string' },
      threads: { type: 'string' },
    },
  });
  if (!values.model || values.prompt === undefined)
    throw new UsageError('generate needs --model and --prompt');
  const engine = values.engine ?? 'auto';
  if (engine !== 'auto' && engine !== 'onnxruntime' && engine !== 'openvino') {
    throw new UsageError('--engine must be auto, onnxruntime or openvino');
  }
  const dir = await shardsFor(values.model);
  const firstShard = findShardDirs(dir)[0] as string;
  const tokenizer = loadTokenizer(firstShard);
  const threads = numberFlag(values.threads, '--threads');
  const pipeline = await loadPipeline(dir, { engine, ...(threads !== undefined ? { threads } : {}) });
  try {
    const text = values.chat
      ? tokenizer.applyChatTemplate([{ role: 'user', content: values.prompt }], { addGenerationPrompt: true })
      : values.prompt;
    const prompt = tokenizer.encode(text, values.chat ? { addSpecial: false } : {});
    const temperature = numberFlag(values.temperature, '--temperature') ?? 0;
    const topP = numberFlag(values['top-p'], '--top-p');
    const topK = numberFlag(values['top-k'], '--top-k');
    const seed = numberFlag(values.seed, '--seed');
    const sampler = createSampler({
      temperature,
      ...(topP !== undefined ? { top_p: topP } : {}),
      ...(topK !== undefined ? { top_k: topK } : {}),
      ...(seed !== undefined ? { seed } : {}),
    });
    const decoder = tokenizer.createStreamDecoder({ skipSpecial: true });
    const maxTokens = numberFlag(values['max-tokens'], '--max-tokens') ?? 128;
    const started = performance.now();
    const tokens = await generateTokens(pipeline, prompt, {
      maxTokens,
      sample: (logits, generated) => sampler.sample(logits, generated),
      stopTokenIds: tokenizer.eosTokenIds,
      onToken: (t) => process.stdout.write(decoder.push(t)),
    });
    process.stdout.write(`${decoder.flush()}\n`);
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(
      `[${pipeline.runners[0]?.engine}] ${prompt.length} prompt tokens, ${tokens.length} generated in ${seconds.toFixed(2)} s\n`,
    );
  } finally {
    await pipeline.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'pull':
        await pull(rest);
        return 0;
      case 'export':
        await exportCommand(rest);
        return 0;
      case 'inspect':
        await inspect(rest);
        return 0;
      case 'generate':
        await generate(rest);
        return 0;
      case undefined:
      case '-h':
      case '--help':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err)) {
      console.error(`cascadia-engine: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`cascadia-engine: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
