import type { ShardManifest } from '../shard/manifest.js';

export type EngineName = 'onnxruntime' | 'openvino';

export type ShardInput = { tokens: Int32Array } | { hidden: Float32Array };
export type ShardOutput = { hidden: Float32Array } | { logits: Float32Array };

export interface ForwardOptions {
  /** Absolute position of input[0]; less than the session's length rewinds (truncates) its cache. */
  position: number;
  /** Number of positions in the input. */
  length: number;
}

export interface ShardRunner {
  manifest: ShardManifest;
  engine: EngineName;
  device: string;
  /** hidden: [length * hiddenSize] f32; logits: last position only, [vocabSize]. */
  forward(sessionId: string, input: ShardInput, opts: ForwardOptions): Promise<ShardOutput>;
  dropSession(sessionId: string): void;
  close(): Promise<void>;
}

export interface LoadShardOptions {
  engine?: 'auto' | EngineName;
  device?: string;
  threads?: number;
  /** Sessions kept at once; the least recently used is dropped beyond this (default 16). */
  maxSessions?: number;
}

export class ShardInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShardInputError';
  }
}

/** Checks a forward call against the manifest and the session's cached length. */
export function validateForward(
  manifest: ShardManifest,
  cachedLength: number,
  input: ShardInput,
  opts: ForwardOptions,
): void {
  const { position, length } = opts;
  if (!Number.isInteger(length) || length < 1) throw new ShardInputError(`length must be a positive integer`);
  if (!Number.isInteger(position) || position < 0) {
    throw new ShardInputError(`position must be a non-negative integer`);
  }
  if (position > cachedLength) {
    throw new ShardInputError(
      `position ${position} is past the session's cached length ${cachedLength}; positions must be contiguous`,
    );
  }
  if (position + length > manifest.maxContext) {
    throw new ShardInputError(
      `context of ${position + length} positions exceeds the shard's maximum of ${manifest.maxContext}`,
    );
  }
  if (manifest.hasEmbeddings) {
    if (!('tokens' in input)) throw new ShardInputError('the first shard takes tokens, not hidden states');
    if (input.tokens.length !== length) {
      throw new ShardInputError(`expected ${length} tokens, got ${input.tokens.length}`);
    }
    for (const t of input.tokens) {
      if (t < 0 || t >= manifest.vocabSize)
        throw new ShardInputError(`token id ${t} is outside the vocabulary`);
    }
  } else {
    if (!('hidden' in input)) throw new ShardInputError('this shard takes hidden states, not tokens');
    if (input.hidden.length !== length * manifest.hiddenSize) {
      throw new ShardInputError(
        `expected ${length * manifest.hiddenSize} hidden values (${length} x ${manifest.hiddenSize}), got ${input.hidden.length}`,
      );
    }
  }
}
