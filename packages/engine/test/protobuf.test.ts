import { describe, expect, it } from 'vitest';
import { GraphBuilder, serializeModel } from '../src/onnx/graph.js';
import { ProtoWriter } from '../src/onnx/protobuf.js';

describe('ProtoWriter', () => {
  it('encodes varints, negative int64 and nested messages per the wire format', () => {
    const w = new ProtoWriter();
    w.int(1, 150);
    w.int(2, -1);
    const inner = new ProtoWriter();
    inner.string(1, 'hi');
    w.message(3, inner);
    w.float(4, 1);
    expect(Array.from(w.finish())).toEqual([
      0x08, 0x96, 0x01, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x1a, 0x04, 0x0a,
      0x02, 0x68, 0x69, 0x25, 0x00, 0x00, 0x80, 0x3f,
    ]);
  });
});

describe('serializeModel', () => {
  it('moves large initializers to aligned external data and keeps small ones inline', () => {
    const g = new GraphBuilder('g');
    g.input('x', 'float32', [1, 'n']);
    g.initializer('small', 'float32', [2], Float32Array.of(1, 2));
    g.initializer('big', 'uint8', [100], new Uint8Array(100).fill(7));
    g.initializer('big2', 'uint8', [100], new Uint8Array(100).fill(9));
    const out = serializeModel(g, { externalDataFile: 'w.data', externalThreshold: 64 });
    const data = Buffer.concat(out.externalChunks);
    expect(out.externalBytes).toBe(data.length);
    expect(data.length).toBe(228);
    expect(data[0]).toBe(7);
    expect(data[128]).toBe(9);
    expect(Buffer.from(out.model).includes('w.data')).toBe(true);
    expect(() => g.initializer('bad', 'float32', [3], Float32Array.of(1))).toThrow(/do not match/);
  });
});
