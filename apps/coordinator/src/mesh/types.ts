/**
 * The slice of `@cascadia/engine`'s ShardRunner the mesh uses, declared structurally so the stage
 * server can be exercised with any runner that honours the same contract.
 */
export interface StageManifest {
  modelId: string;
  architecture?: string;
  shardIndex: number;
  shardCount: number;
  layerStart: number;
  layerEnd: number;
  hasEmbeddings: boolean;
  hasLmHead: boolean;
  hiddenSize: number;
  vocabSize: number;
  maxContext: number;
  digest: string;
  tokenizer?: { file: string; sha256: string };
}

export type StageInput = { tokens: Int32Array } | { hidden: Float32Array };
export type StageOutput = { hidden: Float32Array } | { logits: Float32Array };

export interface StageRunner {
  manifest: StageManifest;
  engine: string;
  device: string;
  forward(
    sessionId: string,
    input: StageInput,
    opts: { position: number; length: number },
  ): Promise<StageOutput>;
  dropSession(sessionId: string): void;
  close(): Promise<void>;
}

export type { SignedStage, StageStatement } from '@cascadia/receipts';

/** What a node announces about its shard when it joins, and what the data handshake checks. */
export interface ShardInfo {
  model_id: string;
  digest: string;
  layer_start: number;
  layer_end: number;
  has_embeddings: boolean;
  has_lm_head: boolean;
  hidden_size: number;
  vocab_size: number;
  max_context: number;
  shard_index: number;
  shard_count: number;
  architecture?: string;
  /** sha256 of the shard's tokenizer file (lets the coordinator ask for it once) */
  tokenizer_sha256?: string;
}

export function shardInfoOf(m: StageManifest): ShardInfo {
  return {
    model_id: m.modelId,
    digest: m.digest,
    layer_start: m.layerStart,
    layer_end: m.layerEnd,
    has_embeddings: m.hasEmbeddings,
    has_lm_head: m.hasLmHead,
    hidden_size: m.hiddenSize,
    vocab_size: m.vocabSize,
    max_context: m.maxContext,
    shard_index: m.shardIndex,
    shard_count: m.shardCount,
    ...(m.architecture ? { architecture: m.architecture } : {}),
    ...(m.tokenizer ? { tokenizer_sha256: m.tokenizer.sha256 } : {}),
  };
}

/** Sent in an Open frame: who may feed this session and where its output goes. */
export interface OpenSession {
  request_id: string;
  /** client id allowed to send Forward frames for the session */
  upstream: string;
  /** next stage, or null for the last stage (which samples and returns tokens to the coordinator) */
  next: NextHop | null;
  /** for the last stage: how to sample */
  sampling: SessionSampling | null;
}

/**
 * Sampling runs on the last stage. Each step's draw is seeded from (seed, step index), so a
 * replacement node given the same seed and the tokens generated so far continues exactly.
 */
export interface SessionSampling {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
  seed: number;
  /** tokens already generated (replay after a lost node), for penalties and the step index */
  generated: number[];
}

export interface NextHop {
  node_id: string;
  public_key: string;
  host: string;
  port: number;
  model_id: string;
  shard_digest: string;
  /** coordinator-signed ticket authorising this node to connect to `node_id` */
  ticket: string;
}
