/**
 * The coordinator's core, independent of HTTP: the fleet, the generation loop, tokenizers,
 * session admission, and the signed MeshReceipt for every completed request.
 */

import { randomInt } from 'node:crypto';
import {
  computeOutputDigest,
  computeRequestDigest,
  type MeshReceipt,
  type ReceiptUsage,
  signMeshReceipt,
} from '@cascadia/receipts';
import type { SamplingParams, Tokenizer } from './engine-binding.js';
import { MeshError } from './errors.js';
import { Fleet } from './fleet.js';
import { type GenerateResult, Generator } from './generation.js';
import type { CoordinatorIdentity } from './node-link.js';
import type { PipelineTimeouts } from './pipeline-session.js';
import { Tokenizers } from './tokenizers.js';

export interface MeshServiceOptions {
  identity: CoordinatorIdentity;
  joinToken: string;
  dataDir: string;
  /** concurrent generation sessions admitted by this coordinator */
  maxSessions?: number;
  heartbeatMs?: number;
  timeouts?: PipelineTimeouts;
  maxReplays?: number;
  plan?: Record<string, string[]>;
  /** assignable nodes per model to wait for before assigning layer ranges */
  expectNodes?: number;
  onReplay?: (failedNode: string, error: MeshError) => void;
}

export interface CompletionJob {
  requestId: string;
  modelId: string;
  /** the request body as received (its canonical digest goes into the receipt) */
  body: unknown;
  promptTokens: number[];
  maxTokens: number;
  stop: string[];
  sampling: SamplingParams;
  tokenizer: Tokenizer;
  signal?: AbortSignal;
  onText?: (delta: string) => void;
  onFirstToken?: () => void;
}

export interface CompletionOutcome extends GenerateResult {
  usage: ReceiptUsage;
  receipt: MeshReceipt;
}

export class SessionLimitError extends Error {
  override readonly name = 'SessionLimitError';
}

export class MeshService {
  readonly fleet: Fleet;
  readonly tokenizers: Tokenizers;
  private readonly generator: Generator;
  readonly maxSessions: number;
  active = 0;
  private closing = false;
  private readonly inflight = new Set<AbortController>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(readonly opts: MeshServiceOptions) {
    this.fleet = new Fleet({
      joinToken: opts.joinToken,
      identity: opts.identity,
      ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
      ...(opts.plan ? { plan: opts.plan } : {}),
      ...(opts.expectNodes ? { expectNodes: opts.expectNodes } : {}),
    });
    this.tokenizers = new Tokenizers(opts.dataDir);
    this.generator = new Generator({
      fleet: this.fleet,
      identity: opts.identity,
      ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
      ...(opts.maxReplays !== undefined ? { maxReplays: opts.maxReplays } : {}),
      ...(opts.onReplay ? { onReplay: opts.onReplay } : {}),
    });
    this.maxSessions = opts.maxSessions ?? 32;
    this.sweeper = setInterval(() => this.fleet.sweep(), this.fleet.heartbeatMs);
    this.sweeper.unref();
  }

  get identity(): CoordinatorIdentity {
    return this.opts.identity;
  }

  /** Models with a complete healthy pipeline whose tokenizer is loaded. */
  servableModels(): string[] {
    return this.fleet.servableModels().filter((m) => this.tokenizers.ready(m));
  }

  /** The model's tokenizer, or a MeshError when no node has provided it yet. */
  async tokenizer(modelId: string): Promise<Tokenizer> {
    const t = this.tokenizers.get(modelId);
    if (!t)
      throw new MeshError(
        'no_tokenizer',
        `the tokenizer of ${modelId} has not been provided by any node yet`,
      );
    return t;
  }

  /** The model's context window, as its shards declare it. */
  maxContext(modelId: string): number {
    const nodes = this.fleet.healthyNodesFor(modelId);
    return Math.min(...nodes.map((n) => n.shard.max_context));
  }

  /** Admits a session or throws SessionLimitError; the caller must call `release()`. */
  admit(): void {
    if (this.active >= this.maxSessions) {
      throw new SessionLimitError(`the mesh is serving its limit of ${this.maxSessions} concurrent sessions`);
    }
    this.active++;
  }

  release(): void {
    this.active--;
  }

  async complete(job: CompletionJob): Promise<CompletionOutcome> {
    if (this.closing) throw new MeshError('shutting_down', 'the coordinator is shutting down');
    const { seed, ...params } = job.sampling;
    // One controller per job, aborted by the client going away or by shutdown.
    const abort = new AbortController();
    const forward = () => abort.abort(job.signal?.reason);
    job.signal?.addEventListener('abort', forward, { once: true });
    this.inflight.add(abort);
    try {
      return await this.run(job, params, seed, abort.signal);
    } finally {
      this.inflight.delete(abort);
      job.signal?.removeEventListener('abort', forward);
    }
  }

  private async run(
    job: CompletionJob,
    params: Omit<SamplingParams, 'seed'>,
    seed: number | undefined,
    signal: AbortSignal,
  ): Promise<CompletionOutcome> {
    const result = await this.generator.generate({
      requestId: job.requestId,
      modelId: job.modelId,
      promptTokens: job.promptTokens,
      maxTokens: job.maxTokens,
      stop: job.stop,
      // Without a seed the request gets a random one: still one seed for all steps, so a replay
      // onto a replacement node continues the same draws.
      sampling: { ...params, seed: seed ?? randomInt(0, 2 ** 32) },
      tokenizer: job.tokenizer,
      signal,
      ...(job.onText ? { onText: job.onText } : {}),
      ...(job.onFirstToken ? { onFirstToken: job.onFirstToken } : {}),
    });
    const usage: ReceiptUsage = {
      prompt_tokens: job.promptTokens.length,
      completion_tokens: result.completionTokens,
      total_tokens: job.promptTokens.length + result.completionTokens,
    };
    const receipt = await signMeshReceipt(
      {
        v: 1,
        kind: 'mesh',
        request_id: job.requestId,
        created_at: new Date().toISOString(),
        model_id: job.modelId,
        coordinator_id: this.opts.identity.id,
        coordinator_public_key: this.opts.identity.publicKey,
        request_digest: computeRequestDigest(job.body),
        output_digest: computeOutputDigest(result.text),
        usage,
        node_ids: result.nodeIds,
        stages: result.stages,
      },
      this.opts.identity.privateKey,
    );
    return { ...result, usage, receipt };
  }

  /** Keys for verifiers: the coordinator's and every registered node's (GET /v1/cascadia/keys). */
  publishedKeys() {
    return {
      coordinator: { id: this.opts.identity.id, public_key: this.opts.identity.publicKey },
      nodes: [...this.fleet.knownKeys].map(([node_id, public_key]) => ({ node_id, public_key })),
    };
  }

  /** Ends every generation in flight with a clear error and refuses new ones (before the server closes). */
  shutdown(): void {
    this.closing = true;
    const reason = new MeshError('shutting_down', 'the coordinator is shutting down');
    for (const controller of this.inflight) controller.abort(reason);
  }

  close(): void {
    this.shutdown();
    clearInterval(this.sweeper);
    this.fleet.close();
  }
}
