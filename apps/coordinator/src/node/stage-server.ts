/**
 * The node's data plane: accepts authenticated connections, keeps one engine session (KV state)
 * per mesh session, runs forwards in arrival order (so steps of different sessions interleave
 * across the pipeline), passes hidden states downstream and, on the last stage, samples
 * and returns the token to the coordinator.
 * It hashes what it receives and sends incrementally for its signed stage statement.
 */
import { createHash, type Hash } from 'node:crypto';
import net from 'node:net';
import type { Sampler, SamplingParams } from '../mesh/engine-binding.js';
import { stepSeed } from '../mesh/step-seed.js';
import type {
  NextHop,
  OpenSession,
  SessionSampling,
  SignedStage,
  StageRunner,
  StageStatement,
} from '../mesh/types.js';
import {
  acceptConnection,
  FramedConnection,
  openConnection,
  type ServerIdentity,
} from '../protocol/connection.js';
import {
  FLAG_SAMPLE,
  type Frame,
  FrameType,
  PayloadKind,
  ProtocolError,
  parseJsonPayload,
  payloadF32,
  payloadI32,
  sessionKey,
} from '../protocol/frames.js';
import { traceStep } from '../step-trace.js';

export interface StageServerOptions {
  runner: StageRunner;
  nodeId: string;
  publicKey: string;
  privateKey: string;
  /** signs a stage statement with the node key (the receipts package's signStage) */
  signStage: (statement: StageStatement) => Promise<SignedStage>;
  /** the engine's createSampler (used by the last stage) */
  createSampler: (params: SamplingParams) => Pick<Sampler, 'sample'>;
  /** current coordinator id and key (null until joined) */
  coordinator: () => { id: string; publicKey: string } | null;
  maxSessions?: number;
  /** sessions untouched for this long are dropped (their KV freed) */
  idleSessionMs?: number;
  handshakeTimeoutMs?: number;
  /**
   * Keep the event loop polling (never sleeping) while any session is open, so a step's frame is
   * picked up without waking an idle CPU. Costs a core during generation; on VMs, where waking an
   * idle virtual CPU is slow, it shortens every step.
   */
  busyPoll?: boolean;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

interface StageSession {
  key: string;
  session: Buffer;
  requestId: string;
  upstream: string;
  next: NextHop | null;
  sampling: SessionSampling | null;
  control: FramedConnection;
  inputHash: Hash;
  outputHash: Hash;
  positions: number;
  startedAt: string;
  lastUsed: number;
}

interface PeerConnection {
  conn: FramedConnection;
  clientId: string;
}

export class StageServer {
  private readonly server: net.Server;
  private readonly sessions = new Map<string, StageSession>();
  private readonly downstream = new Map<string, Promise<FramedConnection>>();
  private readonly connections = new Set<FramedConnection>();
  private queue: Promise<void> = Promise.resolve();
  /** Tasks enqueued and not finished (the running one included). */
  private queued = 0;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly maxSessions: number;
  readonly identity: ServerIdentity;
  stats = { forwards: 0, rejectedConnections: 0, protocolErrors: 0 };

  constructor(private readonly opts: StageServerOptions) {
    const m = opts.runner.manifest;
    this.identity = {
      nodeId: opts.nodeId,
      publicKey: opts.publicKey,
      privateKey: opts.privateKey,
      modelId: m.modelId,
      shardDigest: m.digest,
      layerStart: m.layerStart,
      layerEnd: m.layerEnd,
    };
    this.maxSessions = opts.maxSessions ?? 64;
    this.server = net.createServer((socket) => this.onSocket(socket));
    const idleMs = opts.idleSessionMs ?? 10 * 60_000;
    this.idleTimer = setInterval(() => this.dropIdle(idleMs), Math.min(idleMs, 60_000));
    this.idleTimer.unref();
  }

  listen(port: number, host: string): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const addr = this.server.address() as net.AddressInfo;
        resolve({ host, port: addr.port });
      });
    });
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  async close(): Promise<void> {
    clearInterval(this.idleTimer);
    for (const conn of this.connections) conn.close();
    for (const pending of this.downstream.values()) pending.then((c) => c.close()).catch(() => {});
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions.values()) this.opts.runner.dropSession(s.key);
    this.sessions.clear();
  }

  private log(msg: string, extra?: Record<string, unknown>): void {
    this.opts.log?.(msg, extra);
  }

  private async onSocket(socket: net.Socket): Promise<void> {
    const conn = new FramedConnection(socket);
    this.connections.add(conn);
    conn.onClose(() => {
      this.connections.delete(conn);
      this.onPeerClosed(conn);
    });
    let peer: PeerConnection;
    try {
      const accepted = await acceptConnection(
        conn,
        this.identity,
        () => this.opts.coordinator()?.publicKey ?? null,
        this.opts.handshakeTimeoutMs,
      );
      peer = { conn, clientId: accepted.clientId };
    } catch (error) {
      this.stats.rejectedConnections++;
      this.log('data connection rejected', { reason: (error as Error).message });
      return;
    }
    conn.onFrame((frame) => {
      try {
        this.onFrame(peer, frame);
      } catch (error) {
        // A frame that breaks the protocol ends that connection only; the node keeps serving.
        this.stats.protocolErrors++;
        const code = error instanceof ProtocolError ? error.code : 'bad_frame';
        this.log('protocol error', { peer: peer.clientId, reason: (error as Error).message });
        conn.reject(code, (error as Error).message);
      }
    });
  }

  private isCoordinator(peer: PeerConnection): boolean {
    return peer.clientId === this.opts.coordinator()?.id;
  }

  private onFrame(peer: PeerConnection, frame: Frame): void {
    switch (frame.type) {
      case FrameType.Open:
        this.onOpen(peer, frame);
        return;
      case FrameType.Forward:
        this.onForward(peer, frame);
        return;
      case FrameType.Close:
        this.onCloseSession(peer, frame);
        return;
      case FrameType.Ping:
        peer.conn.send({ type: FrameType.Pong, session: frame.session, step: frame.step });
        return;
      case FrameType.Error:
        return;
      default:
        throw new ProtocolError(
          'unexpected_frame',
          `frame type 0x${frame.type.toString(16)} is not accepted by a node`,
        );
    }
  }

  private sendError(
    conn: FramedConnection,
    session: Buffer,
    step: number,
    code: string,
    message: string,
  ): void {
    conn.sendJson(FrameType.Error, { code, message }, { session, step });
  }

  private onOpen(peer: PeerConnection, frame: Frame): void {
    if (!this.isCoordinator(peer))
      throw new ProtocolError('unexpected_frame', 'only the coordinator opens sessions');
    const open = parseJsonPayload(frame) as OpenSession;
    if (!open || typeof open.request_id !== 'string' || typeof open.upstream !== 'string') {
      throw new ProtocolError('bad_payload', 'Open needs request_id and upstream');
    }
    const key = sessionKey(frame.session);
    const existing = this.sessions.get(key);
    if (!existing && this.sessions.size >= this.maxSessions) {
      this.sendError(
        peer.conn,
        frame.session,
        frame.step,
        'node_busy',
        `node holds ${this.maxSessions} sessions`,
      );
      return;
    }
    if (existing) this.opts.runner.dropSession(key);
    const last = this.opts.runner.manifest.hasLmHead;
    if (last !== (open.next === null) || last !== (open.sampling != null)) {
      this.sendError(
        peer.conn,
        frame.session,
        frame.step,
        'bad_route',
        'next hop or sampling does not match this stage',
      );
      return;
    }
    if (open.sampling && (!Number.isInteger(open.sampling.seed) || !Array.isArray(open.sampling.generated))) {
      throw new ProtocolError('bad_payload', 'sampling needs an integer seed and the generated tokens');
    }
    if (this.opts.busyPoll) this.startPolling();
    this.sessions.set(key, {
      key,
      session: Buffer.from(frame.session),
      requestId: open.request_id,
      upstream: open.upstream,
      next: open.next,
      sampling: open.sampling ?? null,
      control: peer.conn,
      inputHash: createHash('sha256'),
      outputHash: createHash('sha256'),
      positions: 0,
      startedAt: new Date().toISOString(),
      lastUsed: Date.now(),
    });
    if (open.next) {
      // Warm the downstream connection so the first step does not pay the handshake.
      this.downstreamConnection(open.next).catch(() => {});
    }
    peer.conn.send({ type: FrameType.Opened, session: frame.session, step: frame.step });
  }

  private onForward(peer: PeerConnection, frame: Frame): void {
    const key = sessionKey(frame.session);
    const s = this.sessions.get(key);
    if (!s) {
      this.sendError(peer.conn, frame.session, frame.step, 'unknown_session', 'no such session on this node');
      return;
    }
    if (s.upstream !== peer.clientId) {
      throw new ProtocolError('unexpected_frame', `${peer.clientId} may not feed this session`);
    }
    const m = this.opts.runner.manifest;
    let input: { tokens: Int32Array } | { hidden: Float32Array };
    if (m.hasEmbeddings) {
      if (frame.kind !== PayloadKind.TokensI32)
        throw new ProtocolError('bad_payload', 'first stage takes i32 tokens');
      const tokens = payloadI32(frame);
      if (tokens.length !== frame.count || frame.count === 0)
        throw new ProtocolError('bad_payload', 'token count mismatch');
      for (const t of tokens) {
        if (t < 0 || t >= m.vocabSize)
          throw new ProtocolError('bad_payload', `token ${t} is outside the vocabulary`);
      }
      input = { tokens };
    } else {
      if (frame.kind !== PayloadKind.HiddenF32)
        throw new ProtocolError('bad_payload', 'this stage takes f32 hidden states');
      const hidden = payloadF32(frame);
      if (frame.count === 0 || hidden.length !== frame.count * m.hiddenSize) {
        throw new ProtocolError('bad_payload', `hidden payload must be count x ${m.hiddenSize} floats`);
      }
      input = { hidden };
    }
    if (frame.position + frame.count > m.maxContext) {
      this.sendError(
        s.control,
        frame.session,
        frame.step,
        'context_overflow',
        'position beyond the model context',
      );
      return;
    }
    s.lastUsed = Date.now();
    s.inputHash.update(frame.payload);
    const step = frame.step;
    const position = frame.position;
    const count = frame.count;
    const flags = frame.flags;
    const run = async () => {
      if (!this.sessions.has(key)) return;
      let out: Awaited<ReturnType<StageRunner['forward']>>;
      traceStep('forward_start', s.session, step);
      try {
        out = await this.opts.runner.forward(key, input, { position, length: count });
        traceStep('forward_end', s.session, step);
      } catch (error) {
        this.sendError(s.control, s.session, step, 'forward_failed', (error as Error).message);
        return;
      }
      this.stats.forwards++;
      s.positions += count;
      if ('logits' in out) {
        // Intermediate prefill chunks only fill the KV cache; the flagged step is sampled here so
        // that only a 4-byte token, never the vocabulary-sized logits, leaves the node.
        if (!(flags & FLAG_SAMPLE) || !s.sampling) return;
        let token: number;
        try {
          const { seed, generated, ...params } = s.sampling;
          token = this.opts
            .createSampler({ ...params, seed: stepSeed(seed, generated.length) })
            .sample(out.logits, generated);
        } catch (error) {
          this.sendError(s.control, s.session, step, 'sample_failed', (error as Error).message);
          return;
        }
        s.sampling.generated.push(token);
        const bytes = Int32Array.of(token);
        // Send first, hash after: the digest does not depend on the order, the next step's latency does.
        traceStep('sent', s.session, step);
        s.control.send(
          {
            type: FrameType.Token,
            kind: PayloadKind.TokensI32,
            session: s.session,
            step,
            position,
            count: 1,
          },
          bytes,
        );
        s.outputHash.update(new Uint8Array(bytes.buffer));
        return;
      }
      const next = s.next;
      if (!next) {
        this.sendError(
          s.control,
          s.session,
          step,
          'bad_route',
          'stage produced hidden states but has no next hop',
        );
        return;
      }
      const bytes = new Uint8Array(out.hidden.buffer, out.hidden.byteOffset, out.hidden.byteLength);
      try {
        const down = await this.downstreamConnection(next);
        traceStep('sent', s.session, step);
        down.send(
          {
            type: FrameType.Forward,
            kind: PayloadKind.HiddenF32,
            flags,
            session: s.session,
            step,
            position,
            count,
          },
          bytes,
        );
        s.outputHash.update(bytes);
      } catch (error) {
        this.sendError(
          s.control,
          s.session,
          step,
          'next_hop_unreachable',
          `${next.node_id}: ${(error as Error).message}`,
        );
      }
    };
    // One forward at a time per node, in arrival order: the engine session is not re-entrant and
    // FIFO keeps every stage of the pipeline busy with different sessions' steps.
    this.enqueue(run);
  }

  private onCloseSession(peer: PeerConnection, frame: Frame): void {
    if (!this.isCoordinator(peer))
      throw new ProtocolError('unexpected_frame', 'only the coordinator closes sessions');
    const key = sessionKey(frame.session);
    const s = this.sessions.get(key);
    if (!s) {
      this.sendError(peer.conn, frame.session, frame.step, 'unknown_session', 'no such session on this node');
      return;
    }
    // Queue behind in-flight forwards so the statement covers all of them.
    const finish = async () => {
      // A repeated Close (or one racing a newer Open) must not finalize the digests twice.
      if (this.sessions.get(key) !== s) return;
      this.sessions.delete(key);
      this.opts.runner.dropSession(key);
      const m = this.opts.runner.manifest;
      const statement: StageStatement = {
        v: 1,
        kind: 'stage',
        request_id: s.requestId,
        node_id: this.opts.nodeId,
        public_key: this.opts.publicKey,
        model_id: m.modelId,
        shard_digest: m.digest,
        layer_start: m.layerStart,
        layer_end: m.layerEnd,
        input_digest: s.inputHash.digest('hex'),
        output_digest: s.outputHash.digest('hex'),
        tokens: s.positions,
        started_at: s.startedAt,
        finished_at: new Date().toISOString(),
      };
      try {
        const signed = await this.opts.signStage(statement);
        peer.conn.sendJson(FrameType.Stage, signed, { session: frame.session, step: frame.step });
      } catch (error) {
        this.sendError(peer.conn, frame.session, frame.step, 'sign_failed', (error as Error).message);
      }
    };
    this.enqueue(finish);
  }

  /**
   * Runs `task` after everything queued before it. A failing task is logged and never breaks the
   * chain: one bad session must not stop the node serving the others.
   */
  /** True while the event loop is kept polling for open sessions (`busyPoll`). */
  get polling(): boolean {
    return this.pollingActive;
  }

  private pollingActive = false;

  private startPolling(): void {
    if (this.pollingActive) return;
    this.pollingActive = true;
    // Each turn of setImmediate polls the sockets without blocking; it stops by itself once the
    // last session is gone (closed, abandoned or dropped as idle).
    const spin = () => {
      if (this.sessions.size === 0) {
        this.pollingActive = false;
        return;
      }
      setImmediate(spin);
    };
    setImmediate(spin);
  }

  private enqueue(task: () => Promise<void>): void {
    const run = () =>
      task()
        .catch((error: unknown) => {
          this.log('stage task failed', { reason: (error as Error).message });
        })
        .finally(() => {
          this.queued--;
        });
    // An idle node starts at once: going through the promise chain costs a step a few event-loop
    // microtasks, and a pipeline pays that on every stage of every token.
    this.queue = this.queued++ === 0 ? run() : this.queue.then(run);
  }

  private downstreamConnection(next: NextHop): Promise<FramedConnection> {
    const cached = this.downstream.get(next.node_id);
    if (cached) return cached;
    const pending = openConnection(
      {
        host: next.host,
        port: next.port,
        nodeId: next.node_id,
        publicKey: next.public_key,
        modelId: next.model_id,
        shardDigest: next.shard_digest,
      },
      { id: this.opts.nodeId, privateKey: this.opts.privateKey, ticket: next.ticket },
    ).then((conn) => {
      conn.onClose(() => {
        if (this.downstream.get(next.node_id) === pending) this.downstream.delete(next.node_id);
        this.failSessionsVia(next.node_id);
      });
      conn.onFrame(() => {});
      return conn;
    });
    pending.catch(() => {
      if (this.downstream.get(next.node_id) === pending) this.downstream.delete(next.node_id);
    });
    this.downstream.set(next.node_id, pending);
    return pending;
  }

  /** Tell the coordinator at once when the next hop goes away, rather than letting steps time out. */
  private failSessionsVia(nodeId: string): void {
    for (const s of this.sessions.values()) {
      if (s.next?.node_id === nodeId)
        this.sendError(s.control, s.session, 0, 'next_hop_lost', `lost connection to ${nodeId}`);
    }
  }

  private onPeerClosed(conn: FramedConnection): void {
    for (const [key, s] of this.sessions) {
      if (s.control === conn) {
        this.sessions.delete(key);
        this.opts.runner.dropSession(key);
      }
    }
  }

  private dropIdle(idleMs: number): void {
    const cutoff = Date.now() - idleMs;
    for (const [key, s] of this.sessions) {
      if (s.lastUsed < cutoff) {
        this.sessions.delete(key);
        this.opts.runner.dropSession(key);
      }
    }
  }
}
