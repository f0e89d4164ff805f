/**
 * The mesh data-plane wire format: the single implementation of PROTOCOL.md.
 *
 * Every frame is a fixed 36-byte little-endian header (u32 length prefix + 32 bytes) followed by a payload. Tensors travel as raw
 * little-endian arrays (i32 token ids, f32 hidden states); only the handshake and control
 * messages (open/close/error/stage) carry small JSON payloads.
 */

export const PROTOCOL_VERSION = 1;
/** Bytes of the header after the u32 length prefix (36 bytes on the wire with the prefix). */
export const HEADER_BYTES = 32;
const LENGTH_PREFIX_BYTES = 4;
/** Default cap on one frame (prefill chunks are far smaller; see MAX_PREFILL_CHUNK). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
export const SESSION_ID_BYTES = 16;

export enum FrameType {
  /** server → client on connect: JSON {v, node_id, public_key, model_id, shard_digest, layer_start, layer_end, nonce} */
  Hello = 0x01,
  /** client → server: JSON {v, client_id, client_public_key, model_id, shard_digest, ticket, signature, nonce} */
  Auth = 0x02,
  /** server → client: JSON {signature} (server's signature over the client's nonce) */
  Ready = 0x03,
  /** either way, then close: JSON {code, message} */
  Reject = 0x04,
  /** coordinator → node: JSON OpenSession */
  Open = 0x10,
  /** node → coordinator: empty; the session is ready for Forward frames */
  Opened = 0x11,
  /** upstream → node: tokens (i32) or hidden states (f32), `count` positions from `position` */
  Forward = 0x20,
  /** last node → coordinator: the token it sampled from the last position's logits (one i32) */
  Token = 0x22,
  /** coordinator → node: end the session, reply with Stage */
  Close = 0x30,
  /** node → coordinator: JSON SignedStage for the session */
  Stage = 0x31,
  /** either way: JSON {code, message}; session id zero for connection-level errors */
  Error = 0x3f,
  Ping = 0x40,
  Pong = 0x41,
}

export enum PayloadKind {
  None = 0,
  Json = 1,
  TokensI32 = 2,
  HiddenF32 = 3,
}

/** Header flag bits (u16 at offset 6). */
export const FLAG_SAMPLE = 0x0001;
const KNOWN_FLAGS = FLAG_SAMPLE;

const KNOWN_TYPES = new Set<number>(
  Object.values(FrameType).filter((v): v is number => typeof v === 'number'),
);

export interface FrameHeader {
  type: FrameType;
  kind: PayloadKind;
  /** FLAG_SAMPLE on a Forward: the last stage samples a token from this step's last position */
  flags: number;
  /** 16 raw bytes; all zero for connection-level frames. */
  session: Buffer;
  step: number;
  position: number;
  count: number;
}

export interface Frame extends FrameHeader {
  payload: Buffer;
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: 'frame_too_large' | 'unknown_type' | 'bad_payload' | 'bad_header' | 'unexpected_frame',
    message: string,
  ) {
    super(message);
  }
}

export const NO_SESSION = Buffer.alloc(SESSION_ID_BYTES);

export function newSessionId(): Buffer {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(SESSION_ID_BYTES)));
}

export function sessionKey(session: Buffer): string {
  return session.toString('hex');
}

/** Encodes one frame as [header, payload] buffers so large tensors are written without a copy. */
export function encodeFrame(
  header: Partial<FrameHeader> & { type: FrameType },
  payload?: ArrayBufferView,
): Buffer[] {
  const body = payload
    ? Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    : Buffer.alloc(0);
  const head = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + HEADER_BYTES);
  head.writeUInt32LE(HEADER_BYTES + body.length, 0);
  head.writeUInt8(header.type, 4);
  head.writeUInt8(header.kind ?? (body.length ? PayloadKind.Json : PayloadKind.None), 5);
  head.writeUInt16LE(header.flags ?? 0, 6);
  const session = header.session ?? NO_SESSION;
  if (session.length !== SESSION_ID_BYTES)
    throw new ProtocolError('bad_header', 'session id must be 16 bytes');
  session.copy(head, 8);
  head.writeUInt32LE(header.step ?? 0, 24);
  head.writeUInt32LE(header.position ?? 0, 28);
  head.writeUInt32LE(header.count ?? 0, 32);
  return body.length ? [head, body] : [head];
}

export function jsonPayload(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function parseJsonPayload(frame: Frame): unknown {
  if (frame.kind !== PayloadKind.Json)
    throw new ProtocolError('bad_payload', `frame ${frame.type} must carry JSON`);
  try {
    return JSON.parse(frame.payload.toString('utf8'));
  } catch {
    throw new ProtocolError('bad_payload', `frame ${frame.type} carries invalid JSON`);
  }
}

/** Views a payload as Float32Array, copying only when the socket buffer is misaligned. */
export function payloadF32(frame: Frame): Float32Array {
  return typedView(frame.payload, 4, (b, o, n) => new Float32Array(b, o, n));
}

export function payloadI32(frame: Frame): Int32Array {
  return typedView(frame.payload, 4, (b, o, n) => new Int32Array(b, o, n));
}

function typedView<T>(buf: Buffer, size: number, make: (b: ArrayBuffer, offset: number, n: number) => T): T {
  if (buf.length % size !== 0)
    throw new ProtocolError('bad_payload', 'tensor payload is not a whole number of elements');
  if (buf.byteOffset % size === 0 && buf.buffer instanceof ArrayBuffer) {
    return make(buf.buffer, buf.byteOffset, buf.length / size);
  }
  const copy = new ArrayBuffer(buf.length);
  new Uint8Array(copy).set(buf);
  return make(copy, 0, buf.length / size);
}

/**
 * Incremental decoder: feed socket chunks, get whole frames. Throws ProtocolError on a frame that
 * violates the format; the caller answers with Reject/Error and closes the connection.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < LENGTH_PREFIX_BYTES) break;
      const length = this.peekLength();
      if (length < HEADER_BYTES)
        throw new ProtocolError('bad_header', `frame length ${length} is shorter than the header`);
      if (length > this.maxFrameBytes) {
        throw new ProtocolError(
          'frame_too_large',
          `frame of ${length} bytes exceeds the ${this.maxFrameBytes} byte limit`,
        );
      }
      if (this.buffered < LENGTH_PREFIX_BYTES + length) break;
      const whole = this.take(LENGTH_PREFIX_BYTES + length);
      frames.push(decodeBody(whole.subarray(LENGTH_PREFIX_BYTES)));
    }
    return frames;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= LENGTH_PREFIX_BYTES) return first.readUInt32LE(0);
    return Buffer.concat(this.chunks).readUInt32LE(0);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}

function decodeBody(body: Buffer): Frame {
  const type = body.readUInt8(0);
  if (!KNOWN_TYPES.has(type))
    throw new ProtocolError('unknown_type', `unknown frame type 0x${type.toString(16)}`);
  const kind = body.readUInt8(1);
  if (kind > PayloadKind.HiddenF32) throw new ProtocolError('bad_header', `unknown payload kind ${kind}`);
  const flags = body.readUInt16LE(2);
  if ((flags & ~KNOWN_FLAGS) !== 0)
    throw new ProtocolError('bad_header', `unknown header flags 0x${flags.toString(16)}`);
  return {
    type: type as FrameType,
    kind: kind as PayloadKind,
    flags,
    session: body.subarray(4, 4 + SESSION_ID_BYTES),
    step: body.readUInt32LE(20),
    position: body.readUInt32LE(24),
    count: body.readUInt32LE(28),
    payload: body.subarray(HEADER_BYTES),
  };
}
