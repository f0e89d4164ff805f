/**
 * The node's control loop: join the coordinator (challenge → HMAC proof of the join token +
 * signature by the node key), heartbeat with the lease, and join again whenever the coordinator
 * forgets the node (restart) or cannot be reached — nodes never need a restart of their own.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { signMessage } from '../auth/ed25519.js';
import { joinMessage, joinProof } from '../auth/join.js';
import type { Assignment } from '../mesh/fleet.js';
import type { ShardInfo } from '../mesh/types.js';

export interface AgentOptions {
  coordinatorUrl: string;
  joinToken: string;
  nodeId: string;
  publicKey: string;
  privateKey: string;
  /** the shard served; null for an assignable node still waiting for its layer range */
  shard: ShardInfo | null;
  /** for an assignable node: the model it holds whole */
  assignable?: { model_id: string; num_layers: number; last_stage_extra?: number };
  shardDir?: string;
  /** address other machines reach this node's data port at (nodes with a shard) */
  advertise?: { host: string; port: number };
  device: string;
  engine: string;
  activeSessions: () => number;
  version?: string;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
  /** retry delay after a failed join (grows to 10x) */
  retryMs?: number;
}

export interface CoordinatorKey {
  id: string;
  publicKey: string;
}

export class JoinRejected extends Error {
  override readonly name = 'JoinRejected';
}

export class NodeAgent {
  coordinator: CoordinatorKey | null = null;
  private lease: string | null = null;
  private heartbeatMs = 5000;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private failures = 0;
  joins = 0;
  lastError: string | null = null;
  assignment: Assignment | null = null;
  private assignmentWaiters: ((a: Assignment) => void)[] = [];

  constructor(private readonly opts: AgentOptions) {}

  private url(p: string): string {
    return new URL(p, this.opts.coordinatorUrl.replace(/\/v1\/?$/, '/').replace(/([^/])$/, '$1/')).toString();
  }

  private report() {
    return {
      device: this.opts.device,
      engine: this.opts.engine,
      memory: { total_bytes: os.totalmem(), free_bytes: os.freemem() },
      active_sessions: this.opts.activeSessions(),
    };
  }

  private async post(p: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(this.url(p), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    return { status: res.status, json };
  }

  /** One join attempt. Throws JoinRejected when the coordinator refuses (bad token), Error when unreachable. */
  async join(): Promise<void> {
    const challenge = await this.post('v1/cascadia/fleet/challenge', {});
    const nonce = challenge.json.nonce;
    if (challenge.status !== 200 || typeof nonce !== 'string')
      throw new Error(`challenge failed (${challenge.status})`);
    const message = joinMessage(nonce, this.opts.nodeId, this.opts.publicKey);
    const res = await this.post('v1/cascadia/fleet/join', {
      nonce,
      node_id: this.opts.nodeId,
      public_key: this.opts.publicKey,
      proof: joinProof(this.opts.joinToken, message),
      signature: signMessage(message, this.opts.privateKey),
      ...(this.opts.shard
        ? { data: this.opts.advertise, shard: this.opts.shard }
        : { assignable: this.opts.assignable }),
      report: this.report(),
      ...(this.opts.version ? { version: this.opts.version } : {}),
    });
    const error = res.json.error as { message?: string; code?: string } | undefined;
    // Refusals that retrying cannot fix end the node (bad token, key or id); anything else, such as
    // a challenge issued by a coordinator that has since restarted, is retried.
    if (res.status === 400 || res.status === 409 || (res.status === 401 && error?.code !== 'bad_nonce')) {
      throw new JoinRejected(`coordinator refused the join: ${error?.message ?? `status ${res.status}`}`);
    }
    if (res.status !== 200) throw new Error(`join failed (${res.status})`);
    const coord = res.json.coordinator as { id: string; public_key: string };
    this.coordinator = { id: coord.id, publicKey: coord.public_key };
    this.lease = res.json.lease as string;
    this.heartbeatMs = Number(res.json.heartbeat_ms) || 5000;
    this.joins++;
    this.opts.log?.('joined coordinator', { coordinator: coord.id });
    this.takeAssignment(res.json.assignment);
    if (res.json.upload_tokenizer === true) await this.uploadTokenizer();
  }

  private async uploadTokenizer(): Promise<void> {
    const dir = this.opts.shardDir;
    const shard = this.opts.shard;
    if (!dir || !shard) return;
    const manifestBytes = await readFile(path.join(dir, 'manifest.json'));
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as {
      tokenizer?: { file: string; sha256: string };
    };
    if (!manifest.tokenizer) return;
    const files: Record<string, string> = {
      'manifest.json': manifestBytes.toString('base64'),
      [path.basename(manifest.tokenizer.file)]: (
        await readFile(path.join(dir, manifest.tokenizer.file))
      ).toString('base64'),
    };
    const res = await this.post('v1/cascadia/fleet/tokenizer', {
      node_id: this.opts.nodeId,
      lease: this.lease,
      model_id: shard.model_id,
      sha256: manifest.tokenizer.sha256,
      files,
    });
    if (res.status !== 200) this.opts.log?.('tokenizer upload refused', { status: res.status });
  }

  /** Joins (retrying while the coordinator is unreachable), then heartbeats until stop(). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.joinWithRetry();
    this.schedule();
  }

  private async joinWithRetry(): Promise<void> {
    const base = this.opts.retryMs ?? 1000;
    for (;;) {
      if (this.stopped) return;
      try {
        await this.join();
        this.failures = 0;
        return;
      } catch (error) {
        if (error instanceof JoinRejected) throw error;
        this.failures++;
        this.lastError = (error as Error).message;
        const delay = Math.min(base * 2 ** Math.min(this.failures - 1, 4), base * 10);
        this.opts.log?.('coordinator unreachable, retrying', { in_ms: delay });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.beat().finally(() => this.schedule());
    }, this.heartbeatMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    try {
      const res = await this.post('v1/cascadia/fleet/heartbeat', {
        node_id: this.opts.nodeId,
        lease: this.lease,
        report: this.report(),
      });
      if (res.status === 200) {
        this.takeAssignment(res.json.assignment);
        return;
      }
      if (res.status !== 401) throw new Error(`heartbeat failed (${res.status})`);
      this.opts.log?.('coordinator forgot this node, joining again');
    } catch (error) {
      this.lastError = (error as Error).message;
    }
    try {
      await this.joinWithRetry();
    } catch (error) {
      this.lastError = (error as Error).message;
      this.opts.log?.('join refused', { reason: (error as Error).message });
    }
  }

  /** Resolves with this node's layer range once the coordinator has assigned one. */
  waitAssignment(): Promise<Assignment> {
    if (this.assignment) return Promise.resolve(this.assignment);
    return new Promise((resolve) => this.assignmentWaiters.push(resolve));
  }

  private takeAssignment(value: unknown): void {
    if (!value || typeof value !== 'object' || this.assignment) return;
    this.assignment = value as Assignment;
    this.opts.log?.('layer range assigned', { ...this.assignment });
    for (const w of this.assignmentWaiters.splice(0)) w(this.assignment);
  }

  async stop(leave = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (leave && this.lease) {
      await this.post('v1/cascadia/fleet/leave', { node_id: this.opts.nodeId, lease: this.lease }).catch(
        () => {},
      );
    }
  }
}
