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

  it('stores initializers over the same bytes once, both pointing at one offset', () => {
    const g = new GraphBuilder('g');
    const table = new Uint8Array(300).fill(5);
    g.initializer('other', 'uint8', [100], new Uint8Array(100).fill(7));
    const a = g.initializer('table', 'uint8', [200], table.subarray(100));
    const b = g.initializer('table_alias', 'uint8', [200], table.subarray(100));
    // Equal contents in a different array are not the same bytes: stored again.
    g.initializer('copy', 'uint8', [200], table.slice(100));
    expect(b).not.toBe(a);
    const out = serializeModel(g, { externalDataFile: 'w.data', externalThreshold: 64 });
    expect(out.externalBytes).toBe(128 + 256 + 200);
    // Each external_data entry is { key: 'offset' (field 1), value: digits (field 2) }.
    const model = Buffer.from(out.model);
    const offsets: string[] = [];
    for (let at = model.indexOf('offset'); at >= 0; at = model.indexOf('offset', at + 1)) {
      const length = model[at + 7] as number;
      offsets.push(model.subarray(at + 8, at + 8 + length).toString());
    }
    expect(offsets).toEqual(['0', '128', '128', '384']);
  });
});
