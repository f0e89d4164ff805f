import { describe, expect, it } from 'vitest';
import {
  encodeFrame,
  FrameDecoder,
  FrameType,
  newSessionId,
  PayloadKind,
  ProtocolError,
  payloadF32,
} from '../src/protocol/frames.js';

describe('frame codec', () => {
  it('round-trips a tensor frame split across arbitrary chunk boundaries', () => {
    const session = newSessionId();
    const hidden = Float32Array.from({ length: 100 }, (_, i) => i / 7);
    const bytes = Buffer.concat(
      encodeFrame(
        { type: FrameType.Forward, kind: PayloadKind.HiddenF32, session, step: 9, position: 41, count: 1 },
        hidden,
      ),
    );
    expect(bytes.length).toBe(36 + 400);
    const decoder = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < bytes.length; i += 13) frames.push(...decoder.push(bytes.subarray(i, i + 13)));
    expect(frames).toHaveLength(1);
    const f = frames[0]!;
    expect(f.type).toBe(FrameType.Forward);
    expect(f.session.equals(session)).toBe(true);
    expect([f.step, f.position, f.count]).toEqual([9, 41, 1]);
    expect(Array.from(payloadF32(f))).toEqual(Array.from(hidden));
  });

  it('decodes several frames from one chunk', () => {
    const a = encodeFrame({ type: FrameType.Ping, step: 1 });
    const b = encodeFrame({ type: FrameType.Pong, step: 2 });
    const frames = new FrameDecoder().push(Buffer.concat([...a, ...b]));
    expect(frames.map((f) => [f.type, f.step])).toEqual([
      [FrameType.Ping, 1],
      [FrameType.Pong, 2],
    ]);
  });

  it('rejects oversized, truncated-header and unknown frames with a ProtocolError', () => {
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(1024 * 1024 * 1024, 0);
    expect(() => new FrameDecoder(1024).push(huge)).toThrow(ProtocolError);
    const short = Buffer.alloc(8);
    short.writeUInt32LE(4, 0);
    expect(() => new FrameDecoder().push(short)).toThrow(/shorter than the header/);
    const unknown = Buffer.concat(encodeFrame({ type: FrameType.Ping }));
    unknown.writeUInt8(0x77, 4);
    expect(() => new FrameDecoder().push(unknown)).toThrow(/unknown frame type/);
  });
});
