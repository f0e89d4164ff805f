/**
 * A framed, authenticated TCP connection: the handshake of PROTOCOL.md on both sides, then a
 * stream of frames. One idea per side: `acceptConnection` (node as server) and `openConnection`
 * (coordinator or upstream node as client).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { signMessage, verifyMessage } from '../auth/ed25519.js';
import { checkTicket, handshakeMessage, type TicketClaims } from '../auth/tickets.js';
import { stepTraceOn, traceStep } from '../step-trace.js';
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  type FrameHeader,
  FrameType,
  jsonPayload,
  PROTOCOL_VERSION,
  ProtocolError,
  parseJsonPayload,
} from './frames.js';

export interface ServerIdentity {
  nodeId: string;
  publicKey: string;
  privateKey: string;
  modelId: string;
  shardDigest: string;
  layerStart: number;
  layerEnd: number;
}

export interface HelloMessage {
  v: number;
  node_id: string;
  public_key: string;
  model_id: string;
  shard_digest: string;
  layer_start: number;
  layer_end: number;
  nonce: string;
}

interface AuthMessage {
  v: number;
  client_id: string;
  model_id: string;
  shard_digest: string;
  ticket: string;
  signature: string;
  nonce: string;
}

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const SMALL_FRAME_BYTES = 16 * 1024;

/** Frames in, frames out, over one socket. Decoding errors close the socket with a Reject frame. */
export class FramedConnection {
  private readonly decoder: FrameDecoder;
  private frameHandler: ((frame: Frame) => void) | null = null;
  private readonly pending: Frame[] = [];
  private readonly closeHandlers: ((error?: Error) => void)[] = [];
  closed = false;
  closeError: Error | undefined;

  constructor(
    readonly socket: net.Socket,
    maxFrameBytes?: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes);
    socket.setNoDelay(true);
    // Probes find a peer that vanished without closing (the heartbeat sweep usually acts first).
    socket.setKeepAlive(true, 15_000);
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.decoder.push(chunk);
      } catch (error) {
        const e = error as ProtocolError;
        this.reject(e.code ?? 'bad_frame', e.message);
        return;
      }
      for (const frame of frames) {
        if (stepTraceOn && (frame.type === FrameType.Forward || frame.type === FrameType.Token))
          traceStep('received', frame.session, frame.step);
        if (this.closed) return;
        if (this.frameHandler) this.frameHandler(frame);
        else this.pending.push(frame);
      }
    });
    socket.on('error', (error) => this.finish(error));
    socket.on('close', () => this.finish(this.closeError ?? new Error('connection closed')));
  }

  onFrame(handler: (frame: Frame) => void): void {
    this.frameHandler = handler;
    for (const frame of this.pending.splice(0)) handler(frame);
  }

  onClose(handler: (error?: Error) => void): void {
    if (this.closed) handler(this.closeError);
    else this.closeHandlers.push(handler);
  }

  send(header: Partial<FrameHeader> & { type: FrameType }, payload?: ArrayBufferView): boolean {
    if (this.closed) return false;
    const parts = encodeFrame(header, payload);
    if (parts.length === 1) return this.socket.write(parts[0]!);
    // Small frames (tokens, one position's hidden state) are copied into one buffer: one write is
    // cheaper than Node's corked writev; large ones go out as two buffers in one segment.
    if (parts[1]!.length <= SMALL_FRAME_BYTES) return this.socket.write(Buffer.concat(parts));
    this.socket.cork();
    this.socket.write(parts[0]!);
    const ok = this.socket.write(parts[1]!);
    this.socket.uncork();
    return ok;
  }

  sendJson(type: FrameType, value: unknown, header: Partial<FrameHeader> = {}): boolean {
    return this.send({ ...header, type }, jsonPayload(value));
  }

  /** Sends a Reject frame and closes: used for protocol and authentication failures. */
  reject(code: string, message: string): void {
    if (this.closed) return;
    this.closeError = new HandshakeError(code, message);
    this.sendJson(FrameType.Reject, { code, message });
    this.socket.end();
    this.socket.destroySoon();
    this.finish(this.closeError);
  }

  close(): void {
    if (this.closed) return;
    this.socket.end();
    this.socket.destroySoon();
    this.finish(new Error('connection closed locally'));
  }

  private finish(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError ??= error;
    for (const handler of this.closeHandlers.splice(0)) handler(this.closeError);
  }

  /** Resolves with the next frame (handshake use only). */
  nextFrame(timeoutMs: number): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.frameHandler = null;
        reject(new HandshakeError('timeout', `no handshake frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.onClose((error) => {
        clearTimeout(timer);
        reject(error ?? new Error('connection closed'));
      });
      const pendingFrame = this.pending.shift();
      if (pendingFrame) {
        clearTimeout(timer);
        resolve(pendingFrame);
        return;
      }
      this.frameHandler = (frame) => {
        clearTimeout(timer);
        this.frameHandler = null;
        resolve(frame);
      };
    });
  }
}

export interface AcceptedPeer {
  clientId: string;
  claims: TicketClaims;
}

/**
 * Server side of the handshake. `coordinatorPublicKey()` returns the key of the coordinator this
 * node joined (null before the first join: then every connection is refused).
 */
export async function acceptConnection(
  conn: FramedConnection,
  identity: ServerIdentity,
  coordinatorPublicKey: () => string | null,
  timeoutMs = 5000,
): Promise<AcceptedPeer> {
  const nonce = randomBytes(24).toString('base64url');
  const hello: HelloMessage = {
    v: PROTOCOL_VERSION,
    node_id: identity.nodeId,
    public_key: identity.publicKey,
    model_id: identity.modelId,
    shard_digest: identity.shardDigest,
    layer_start: identity.layerStart,
    layer_end: identity.layerEnd,
    nonce,
  };
  conn.sendJson(FrameType.Hello, hello);
  const fail = (code: string, message: string): never => {
    conn.reject(code, message);
    throw new HandshakeError(code, message);
  };
  let frame: Frame;
  try {
    frame = await conn.nextFrame(timeoutMs);
  } catch (error) {
    conn.close();
    throw error;
  }
  if (frame.type !== FrameType.Auth) return fail('unauthenticated', 'the first frame must be Auth');
  let auth: AuthMessage;
  try {
    auth = parseJsonPayload(frame) as AuthMessage;
  } catch (error) {
    return fail('bad_payload', (error as Error).message);
  }
  if (!auth || typeof auth !== 'object') return fail('bad_payload', 'Auth must be a JSON object');
  if (auth.v !== PROTOCOL_VERSION)
    return fail('version_mismatch', `protocol version ${auth.v} is not ${PROTOCOL_VERSION}`);
  if (auth.model_id !== identity.modelId)
    return fail('model_mismatch', `this node serves ${identity.modelId}`);
  if (auth.shard_digest !== identity.shardDigest)
    return fail('shard_mismatch', 'shard digest does not match');
  const coordKey = coordinatorPublicKey();
  if (!coordKey) return fail('not_joined', 'this node has not joined a coordinator yet');
  const ticket = checkTicket(auth.ticket, { coordinatorPublicKey: coordKey, audience: identity.nodeId });
  if (!ticket.ok) return fail('unauthenticated', ticket.reason);
  if (ticket.claims.sub !== auth.client_id)
    return fail('unauthenticated', 'ticket subject does not match the client');
  const message = handshakeMessage('client', nonce, identity.nodeId, auth.client_id);
  if (typeof auth.signature !== 'string' || !verifyMessage(message, auth.signature, ticket.claims.sub_key)) {
    return fail('unauthenticated', 'client signature over the nonce does not verify');
  }
  const clientNonce = typeof auth.nonce === 'string' ? auth.nonce : '';
  conn.sendJson(FrameType.Ready, {
    signature: signMessage(
      handshakeMessage('server', clientNonce, identity.nodeId, auth.client_id),
      identity.privateKey,
    ),
  });
  return { clientId: auth.client_id, claims: ticket.claims };
}

export interface ConnectTarget {
  host: string;
  port: number;
  nodeId: string;
  /** the node's registered public key: the server must prove it holds it */
  publicKey: string;
  modelId: string;
  shardDigest: string;
}

export interface ClientIdentity {
  id: string;
  privateKey: string;
  ticket: string;
}

/** Client side of the handshake: connect, check the node's identity, authenticate with a ticket. */
export async function openConnection(
  target: ConnectTarget,
  client: ClientIdentity,
  opts: { timeoutMs?: number; maxFrameBytes?: number } = {},
): Promise<FramedConnection> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new HandshakeError('timeout', `connect to ${target.nodeId} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  const conn = new FramedConnection(socket, opts.maxFrameBytes);
  try {
    const helloFrame = await conn.nextFrame(timeoutMs);
    if (helloFrame.type === FrameType.Reject) throw rejection(helloFrame);
    if (helloFrame.type !== FrameType.Hello) throw new HandshakeError('unexpected_frame', 'expected Hello');
    const hello = parseJsonPayload(helloFrame) as HelloMessage;
    if (hello.v !== PROTOCOL_VERSION)
      throw new HandshakeError('version_mismatch', `node speaks protocol ${hello.v}`);
    if (hello.node_id !== target.nodeId || hello.public_key !== target.publicKey) {
      throw new HandshakeError('identity_mismatch', `expected ${target.nodeId}, found ${hello.node_id}`);
    }
    if (hello.model_id !== target.modelId || hello.shard_digest !== target.shardDigest) {
      throw new HandshakeError('shard_mismatch', `${target.nodeId} serves a different model or shard`);
    }
    const clientNonce = randomBytes(24).toString('base64url');
    conn.sendJson(FrameType.Auth, {
      v: PROTOCOL_VERSION,
      client_id: client.id,
      model_id: target.modelId,
      shard_digest: target.shardDigest,
      ticket: client.ticket,
      signature: signMessage(
        handshakeMessage('client', hello.nonce, target.nodeId, client.id),
        client.privateKey,
      ),
      nonce: clientNonce,
    } satisfies AuthMessage);
    const readyFrame = await conn.nextFrame(timeoutMs);
    if (readyFrame.type === FrameType.Reject) throw rejection(readyFrame);
    if (readyFrame.type !== FrameType.Ready) throw new HandshakeError('unexpected_frame', 'expected Ready');
    const ready = parseJsonPayload(readyFrame) as { signature?: string };
    const serverMessage = handshakeMessage('server', clientNonce, target.nodeId, client.id);
    if (
      typeof ready.signature !== 'string' ||
      !verifyMessage(serverMessage, ready.signature, target.publicKey)
    ) {
      throw new HandshakeError('identity_mismatch', `${target.nodeId} did not prove its identity`);
    }
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

function rejection(frame: Frame): HandshakeError {
  try {
    const body = parseJsonPayload(frame) as { code?: string; message?: string };
    return new HandshakeError(body.code ?? 'rejected', body.message ?? 'rejected by node');
  } catch {
    return new HandshakeError('rejected', 'rejected by node');
  }
}

export { ProtocolError };
