/**
 * The coordinator's data connection to one node: opened lazily with a self-issued ticket,
 * shared by every session that routes through the node, and demultiplexed by session id.
 */
import { issueTicket } from '../auth/tickets.js';
import { type FramedConnection, openConnection } from '../protocol/connection.js';
import { type Frame, type FrameHeader, type FrameType, sessionKey } from '../protocol/frames.js';
import { MeshError } from './errors.js';

export interface LinkTarget {
  nodeId: string;
  publicKey: string;
  host: string;
  port: number;
  modelId: string;
  shardDigest: string;
}

export interface CoordinatorIdentity {
  id: string;
  publicKey: string;
  privateKey: string;
}

export interface LinkListener {
  onFrame(nodeId: string, frame: Frame): void;
  onLost(nodeId: string, error: Error): void;
}

export class NodeLink {
  private conn: Promise<FramedConnection> | null = null;
  private readonly listeners = new Map<string, LinkListener>();

  constructor(
    readonly target: LinkTarget,
    private readonly identity: CoordinatorIdentity,
    private readonly connectTimeoutMs = 5000,
  ) {}

  get connected(): boolean {
    return this.conn !== null;
  }

  attach(session: Buffer, listener: LinkListener): void {
    this.listeners.set(sessionKey(session), listener);
  }

  detach(session: Buffer): void {
    this.listeners.delete(sessionKey(session));
  }

  connection(): Promise<FramedConnection> {
    if (this.conn) return this.conn;
    const ticket = issueTicket(
      {
        iss: this.identity.id,
        sub: this.identity.id,
        sub_key: this.identity.publicKey,
        aud: this.target.nodeId,
        exp: Date.now() + 60_000,
      },
      this.identity.privateKey,
    );
    const pending = openConnection(
      this.target,
      { id: this.identity.id, privateKey: this.identity.privateKey, ticket },
      {
        timeoutMs: this.connectTimeoutMs,
      },
    ).then((conn) => {
      conn.onFrame((frame) => {
        const listener = this.listeners.get(sessionKey(frame.session));
        listener?.onFrame(this.target.nodeId, frame);
      });
      conn.onClose((error) => {
        if (this.conn === pending) this.conn = null;
        const lost = new MeshError(
          'node_lost',
          `lost connection to ${this.target.nodeId}: ${error?.message ?? 'closed'}`,
          this.target.nodeId,
        );
        for (const listener of [...this.listeners.values()]) listener.onLost(this.target.nodeId, lost);
      });
      return conn;
    });
    pending.catch(() => {
      if (this.conn === pending) this.conn = null;
    });
    this.conn = pending;
    return pending;
  }

  async send(header: Partial<FrameHeader> & { type: FrameType }, payload?: ArrayBufferView): Promise<void> {
    let conn: FramedConnection;
    try {
      conn = await this.connection();
    } catch (error) {
      throw new MeshError(
        'node_unreachable',
        `${this.target.nodeId}: ${(error as Error).message}`,
        this.target.nodeId,
      );
    }
    if (!conn.send(header, payload) && conn.closed) {
      throw new MeshError('node_lost', `connection to ${this.target.nodeId} is closed`, this.target.nodeId);
    }
  }

  close(): void {
    const pending = this.conn;
    this.conn = null;
    pending?.then((c) => c.close()).catch(() => {});
  }
}
