/**
 * The generation loop the coordinator runs for every request: prefill the prompt through the
 * pipeline in chunks, take each next token the last stage samples, detokenize
 * incrementally (holding back partial UTF-8 and possible stop-sequence prefixes), and on a lost
 * node replay the whole prefix through a replacement route (Petals-style recovery).
 */
import type { SamplingParams, StreamDecoder, Tokenizer } from './engine-binding.js';
import { MeshError } from './errors.js';
import type { Fleet, FleetNode } from './fleet.js';
import type { CoordinatorIdentity } from './node-link.js';
import { DEFAULT_TIMEOUTS, PipelineSession, type PipelineTimeouts } from './pipeline-session.js';
import { findStageProblem } from './stage-check.js';
import type { SignedStage } from './types.js';

/** Prompt tokens per Forward frame: bounds frame size and lets other sessions' steps interleave. */
export const PREFILL_CHUNK = 256;

export interface GenerateRequest {
  requestId: string;
  modelId: string;
  promptTokens: number[];
  maxTokens: number;
  stop: string[];
  /** sampling parameters (the last stage samples); `seed` is required: draws are seeded per step */
  sampling: Omit<SamplingParams, 'seed'> & { seed: number };
  tokenizer: Tokenizer;
  signal?: AbortSignal;
  onText?: (delta: string) => void;
  /** fires once with the first generated token (time to first token) */
  onFirstToken?: () => void;
}

export interface GenerateResult {
  text: string;
  completionTokens: number;
  finishReason: 'stop' | 'length';
  stages: SignedStage[];
  nodeIds: string[];
  replays: number;
}

export interface GeneratorOptions {
  fleet: Fleet;
  identity: CoordinatorIdentity;
  timeouts?: PipelineTimeouts;
  /** replacement routes to try after a node is lost */
  maxReplays?: number;
  onReplay?: (failedNode: string, error: MeshError) => void;
}

export class Generator {
  constructor(private readonly opts: GeneratorOptions) {}

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const excluded = new Set<string>();
    const generated: number[] = [];
    const eos = new Set(req.tokenizer.eosTokenIds);
    const stream = new TextEmitter(req.tokenizer, req.stop, req.onText);
    const maxReplays = this.opts.maxReplays ?? 2;
    let replays = 0;
    let finishReason: 'stop' | 'length' | null = null;
    let firstTokenSeen = false;

    for (;;) {
      const route = this.opts.fleet.requireRoute(req.modelId, excluded);
      const session = new PipelineSession(
        route.map((n) => ({ link: n.link, layerStart: n.shard.layer_start, layerEnd: n.shard.layer_end })),
        this.opts.identity,
        req.requestId,
        this.opts.timeouts ?? DEFAULT_TIMEOUTS,
      );
      for (const n of route) n.load++;
      const onAbort = () => session.abandon();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await session.open({ ...req.sampling, generated: [...generated] });
        // On a replacement route the prefix is the prompt plus every token accepted so far; the
        // last stage continues sampling at step `generated.length` with the same seed.
        const prefix = [...req.promptTokens, ...generated];
        let token = await this.prefill(session, prefix);
        let position = prefix.length;
        // A node lost while closing (generation already finished): the replay above re-ran the
        // whole sequence on the replacement route only so that its stages can sign for it.
        while (finishReason === null) {
          if (req.signal?.aborted) throw abortError(req.signal);
          if (!firstTokenSeen) {
            firstTokenSeen = true;
            req.onFirstToken?.();
          }
          if (eos.has(token)) {
            finishReason = 'stop';
            break;
          }
          generated.push(token);
          // Only stop sequences need the text before deciding on the next step.
          if (stream.hasStops && stream.push(generated)) {
            finishReason = 'stop';
            break;
          }
          if (generated.length >= req.maxTokens) {
            finishReason = 'length';
            break;
          }
          // The next step goes out before this token's text is decoded (without stop sequences) and
          // written to the client: detokenizing the whole text so far and the client write (and
          // waking its reader) then overlap the nodes' compute instead of delaying every step.
          token = await session.forward(Int32Array.of(token), position, () => {
            if (!stream.hasStops) stream.push(generated);
            stream.release();
          });
          position++;
        }
        stream.flush(generated);
        const stages = await session.close();
        const problem = findStageProblem(
          req.requestId,
          stages,
          route.map((n) => ({
            node_id: n.node_id,
            public_key: n.public_key,
            model_id: n.shard.model_id,
            shard_digest: n.shard.digest,
            layer_start: n.shard.layer_start,
            layer_end: n.shard.layer_end,
          })),
        );
        if (problem) throw new MeshError('bad_stage', `refusing to sign a receipt: ${problem}`);
        return {
          text: stream.text,
          completionTokens: generated.length,
          finishReason,
          stages,
          nodeIds: session.nodeIds,
          replays,
        };
      } catch (error) {
        session.abandon();
        const mesh = error instanceof MeshError ? error : new MeshError('internal', (error as Error).message);
        if (mesh.code === 'aborted' || mesh.code === 'abandoned' || req.signal?.aborted) {
          throw req.signal ? abortError(req.signal) : mesh;
        }
        if (!mesh.nodeId || replays >= maxReplays) throw mesh;
        this.opts.fleet.markUnreachable(mesh.nodeId);
        excluded.add(mesh.nodeId);
        if (!this.opts.fleet.route(req.modelId, excluded)) {
          throw new MeshError('node_lost', `${mesh.message}; no other node holds those layers`, mesh.nodeId);
        }
        replays++;
        this.opts.onReplay?.(mesh.nodeId, mesh);
      } finally {
        req.signal?.removeEventListener('abort', onAbort);
        for (const n of route) n.load--;
      }
    }
  }

  /** Sends the prefix in chunks (only the last one waits) and returns the first sampled token. */
  private async prefill(session: PipelineSession, tokens: number[]): Promise<number> {
    if (tokens.length === 0) throw new MeshError('empty_prompt', 'the prompt has no tokens');
    let start = 0;
    for (; start + PREFILL_CHUNK < tokens.length; start += PREFILL_CHUNK) {
      await session.feed(Int32Array.from(tokens.slice(start, start + PREFILL_CHUNK)), start);
    }
    return session.forward(Int32Array.from(tokens.slice(start)), start);
  }
}

/** Why a generation stopped early: the abort reason when it is a MeshError (shutdown), else the client left. */
function abortError(signal: AbortSignal): MeshError {
  return signal.reason instanceof MeshError ? signal.reason : new MeshError('aborted', 'client went away');
}

/**
 * Turns a growing token list into text deltas. Holds back a trailing partial UTF-8 character and
 * any suffix that could still become a stop sequence; cuts the text at the first stop sequence.
 * Decodes incrementally (only the new tokens each step), so a long generation costs the same per
 * token as a short one.
 */
export class TextEmitter {
  text = '';
  private emitted = 0;
  private stopped = false;
  private readonly maxStop: number;
  // Control tokens (<|im_start|>…) are not text: clients get what the model said, not its markup.
  private readonly decoder: StreamDecoder;
  /** Text of the tokens consumed so far, complete UTF-8 characters only. */
  private decoded = '';
  private consumed = 0;

  constructor(
    tokenizer: Tokenizer,
    private readonly stops: string[],
    private readonly onText?: (delta: string) => void,
  ) {
    this.maxStop = Math.max(0, ...stops.map((s) => s.length));
    this.decoder = tokenizer.createStreamDecoder({ skipSpecial: true });
  }

  get hasStops(): boolean {
    return this.stops.length > 0;
  }

  /**
   * Takes the tokens so far (the same list, grown); returns true when a stop sequence was reached
   * (the text is final). The new text is held until release() or flush(), so the caller can send
   * the next step first.
   */
  push(ids: readonly number[]): boolean {
    const full = this.consume(ids);
    for (const stop of this.stops) {
      const at = full.indexOf(stop, Math.max(0, this.emitted - this.maxStop));
      if (at >= 0) {
        this.stopped = true;
        this.text = full.slice(0, at);
        return true;
      }
    }
    const end = full.length;
    let safe = end;
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, end); k > 0; k--) {
        if (full.slice(end - k, end) === stop.slice(0, k)) {
          safe = Math.min(safe, end - k);
          break;
        }
      }
    }
    this.text = full.slice(0, Math.max(safe, this.emitted));
    return false;
  }

  /** Sends the text that push() made safe to show. */
  release(): void {
    this.emit();
  }

  /** At the end of generation: sends the rest (cut at the stop sequence if one completed). */
  flush(ids: readonly number[]): void {
    if (!this.stopped) this.text = this.consume(ids) + this.decoder.flush();
    this.emit();
  }

  private consume(ids: readonly number[]): string {
    for (; this.consumed < ids.length; this.consumed++)
      this.decoded += this.decoder.push(ids[this.consumed]!);
    return this.decoded;
  }

  private emit(): void {
    if (this.text.length > this.emitted) {
      this.onText?.(this.text.slice(this.emitted));
      this.emitted = this.text.length;
    }
  }
}

export type { FleetNode };
