/**
 * One request's path through the pipeline: opens a session on every stage, feeds tokens to the
 * first stage, awaits the token the last one samples, and closes with every stage's signed statement.
 * Every wait has a deadline, and a lost node or a node's Error frame fails the wait at once, so a
 * request never hangs on a dead hop.
 */
import { issueTicket } from '../auth/tickets.js';
import {
  FLAG_SAMPLE,
  type Frame,
  FrameType,
  newSessionId,
  PayloadKind,
  parseJsonPayload,
  payloadI32,
} from '../protocol/frames.js';
import { traceStep } from '../step-trace.js';
import { MeshError } from './errors.js';
import type { CoordinatorIdentity, NodeLink } from './node-link.js';
import type { NextHop, OpenSession, SessionSampling, SignedStage } from './types.js';

export interface RouteStage {
  link: NodeLink;
  layerStart: number;
  layerEnd: number;
}

interface Waiter {
  nodeId: string;
  type: FrameType;
  step: number;
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface PipelineTimeouts {
  /** Open / Close round trips */
  controlMs: number;
  /** one forward through every stage (prefill chunks included) */
  stepMs: number;
}

export const DEFAULT_TIMEOUTS: PipelineTimeouts = { controlMs: 10_000, stepMs: 60_000 };

export class PipelineSession {
  readonly session = newSessionId();
  private readonly waiters = new Set<Waiter>();
  private failure: MeshError | null = null;
  private step = 0;
  private opened = false;
  private abandoned = false;

  constructor(
    readonly stages: RouteStage[],
    private readonly identity: CoordinatorIdentity,
    readonly requestId: string,
    private readonly timeouts: PipelineTimeouts = DEFAULT_TIMEOUTS,
  ) {
    if (stages.length === 0) throw new Error('a pipeline needs at least one stage');
  }

  get nodeIds(): string[] {
    return this.stages.map((s) => s.link.target.nodeId);
  }

  private readonly listener = {
    onFrame: (nodeId: string, frame: Frame) => this.onFrame(nodeId, frame),
    onLost: (_nodeId: string, error: Error) => this.fail(error as MeshError),
  };

  /** Opens the session on every stage; `sampling` goes to the last one. */
  async open(sampling: SessionSampling): Promise<void> {
    for (const stage of this.stages) stage.link.attach(this.session, this.listener);
    const acks = this.stages.map((stage, i) => {
      const nextStage = this.stages[i + 1];
      const upstream = i === 0 ? this.identity.id : this.stages[i - 1]!.link.target.nodeId;
      let next: NextHop | null = null;
      if (nextStage) {
        const t = nextStage.link.target;
        next = {
          node_id: t.nodeId,
          public_key: t.publicKey,
          host: t.host,
          port: t.port,
          model_id: t.modelId,
          shard_digest: t.shardDigest,
          ticket: issueTicket(
            {
              iss: this.identity.id,
              sub: stage.link.target.nodeId,
              sub_key: stage.link.target.publicKey,
              aud: t.nodeId,
              exp: Date.now() + 10 * 60_000,
            },
            this.identity.privateKey,
          ),
        };
      }
      const open: OpenSession = {
        request_id: this.requestId,
        upstream,
        next,
        sampling: nextStage ? null : sampling,
      };
      const ack = this.expect(stage.link.target.nodeId, FrameType.Opened, 0, this.timeouts.controlMs);
      const body = Buffer.from(JSON.stringify(open), 'utf8');
      return stage.link
        .send({ type: FrameType.Open, kind: PayloadKind.Json, session: this.session }, body)
        .then(() => ack);
    });
    await Promise.all(acks);
    this.opened = true;
  }

  /**
   * Feeds `tokens` at absolute `position` to the first stage without waiting (prefill chunks whose
   * logits are not needed): FIFO order on every stage keeps them ahead of the next step.
   */
  async feed(tokens: Int32Array, position: number): Promise<void> {
    if (this.failure) throw this.failure;
    const step = ++this.step;
    await this.stages[0]!.link.send(
      {
        type: FrameType.Forward,
        kind: PayloadKind.TokensI32,
        session: this.session,
        step,
        position,
        count: tokens.length,
      },
      tokens,
    );
  }

  /**
   * Runs `tokens` at `position` through the pipeline; resolves with the token the last stage sampled.
   * `onSent` runs once the step is on its way to the first stage (work that can overlap the step).
   */
  async forward(tokens: Int32Array, position: number, onSent?: () => void): Promise<number> {
    if (this.failure) throw this.failure;
    const step = ++this.step;
    const last = this.stages[this.stages.length - 1]!;
    const reply = this.expect(last.link.target.nodeId, FrameType.Token, step, this.timeouts.stepMs);
    traceStep('sent', this.session, step);
    await this.stages[0]!.link.send(
      {
        type: FrameType.Forward,
        kind: PayloadKind.TokensI32,
        flags: FLAG_SAMPLE,
        session: this.session,
        step,
        position,
        count: tokens.length,
      },
      tokens,
    );
    onSent?.();
    const frame = await reply;
    const token = frame.kind === PayloadKind.TokensI32 ? payloadI32(frame)[0] : undefined;
    if (token === undefined)
      throw new MeshError('bad_frame', 'last stage sent a Token frame without a token');
    return token;
  }

  /** Ends the session on every stage; resolves with their signed stage statements in pipeline order. */
  async close(): Promise<SignedStage[]> {
    if (this.failure) throw this.failure;
    const stages = await Promise.all(
      this.stages.map(async (stage) => {
        const reply = this.expect(stage.link.target.nodeId, FrameType.Stage, 0, this.timeouts.controlMs);
        await stage.link.send({ type: FrameType.Close, session: this.session });
        return parseJsonPayload(await reply) as SignedStage;
      }),
    );
    this.detach();
    return stages;
  }

  /** Releases the session on every reachable stage without waiting (after failures or client aborts). */
  abandon(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    if (this.opened) {
      for (const stage of this.stages) {
        stage.link.send({ type: FrameType.Close, session: this.session }).catch(() => {});
      }
    }
    this.fail(new MeshError('abandoned', 'session abandoned'));
    this.detach();
  }

  private detach(): void {
    for (const stage of this.stages) stage.link.detach(this.session);
  }

  private expect(nodeId: string, type: FrameType, step: number, timeoutMs: number): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    const reply = new Promise<Frame>((resolve, reject) => {
      const waiter: Waiter = {
        nodeId,
        type,
        step,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new MeshError('timeout', `${nodeId} did not answer within ${timeoutMs} ms`, nodeId));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
    // The caller awaits the reply only after sending its request; a failure in between (node lost,
    // session abandoned) must not count as an unhandled rejection, which would end the process.
    reply.catch(() => {});
    return reply;
  }

  private onFrame(nodeId: string, frame: Frame): void {
    if (frame.type === FrameType.Error) {
      let detail = { code: 'node_error', message: 'node reported an error' };
      try {
        detail = parseJsonPayload(frame) as typeof detail;
      } catch {}
      // next_hop_lost names the downstream node in its message; blame it for replacement.
      const blamed =
        detail.code === 'next_hop_lost' || detail.code === 'next_hop_unreachable'
          ? this.nextOf(nodeId)
          : nodeId;
      this.fail(new MeshError(detail.code, `${nodeId}: ${detail.message}`, blamed));
      return;
    }
    for (const waiter of this.waiters) {
      if (
        waiter.nodeId === nodeId &&
        waiter.type === frame.type &&
        (waiter.step === frame.step || waiter.step === 0)
      ) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.resolve(frame);
        return;
      }
    }
  }

  private nextOf(nodeId: string): string {
    const i = this.stages.findIndex((s) => s.link.target.nodeId === nodeId);
    return this.stages[i + 1]?.link.target.nodeId ?? nodeId;
  }

  private fail(error: MeshError): void {
    if (this.failure) return;
    this.failure = error;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiters.clear();
  }
}
