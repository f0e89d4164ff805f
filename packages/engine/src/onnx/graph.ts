import { ProtoWriter } from './protobuf.js';

/** ONNX TensorProto.DataType codes for the element types shard graphs use. */
export const ElementType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  float16: 10,
} as const;
export type ElementTypeName = keyof typeof ElementType;

export type AttributeValue =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: number[] }
  | { floats: number[] };

export interface OnnxNode {
  opType: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

export interface OnnxInitializer {
  name: string;
  type: ElementTypeName;
  dims: number[];
  data: Uint8Array;
}

export interface OnnxValueInfo {
  name: string;
  type: ElementTypeName;
  /** Numbers are fixed sizes, strings are symbolic (dynamic) dimensions. */
  dims: (number | string)[];
}

function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Collects nodes, initializers and graph inputs/outputs; names are unique per graph. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  readonly inputs: OnnxValueInfo[] = [];
  readonly outputs: OnnxValueInfo[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name derived from `hint`. */
  fresh(hint: string): string {
    let name = hint;
    while (this.used.has(name)) name = `${hint}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  input(name: string, type: ElementTypeName, dims: (number | string)[]): string {
    this.used.add(name);
    this.inputs.push({ name, type, dims });
    return name;
  }

  output(name: string, type: ElementTypeName, dims: (number | string)[]): void {
    this.outputs.push({ name, type, dims });
  }

  initializer(hint: string, type: ElementTypeName, dims: number[], data: ArrayBufferView): string {
    const name = this.fresh(hint);
    const bytes = bytesOf(data);
    const width =
      type === 'float32' || type === 'int32' ? 4 : type === 'int64' ? 8 : type === 'float16' ? 2 : 1;
    const count = dims.reduce((a, b) => a * b, 1);
    if (count * width !== bytes.length) {
      throw new Error(`initializer ${name}: ${bytes.length} bytes do not match dims [${dims}] of ${type}`);
    }
    this.initializers.push({ name, type, dims, data: bytes });
    return name;
  }

  /** Small constants (shapes, axes, scalars) as initializers. */
  ints64(hint: string, values: number[], dims: number[] = [values.length]): string {
    return this.initializer(hint, 'int64', dims, BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  floats(hint: string, values: number[], dims: number[] = [values.length]): string {
    return this.initializer(hint, 'float32', dims, Float32Array.from(values));
  }

  /** Adds a node; returns its output names (fresh names derived from `outputs` hints). */
  node(
    opType: string,
    inputs: string[],
    outputs: string[],
    attributes: Record<string, AttributeValue> = {},
    domain = '',
  ): string[] {
    const outs = outputs.map((o) => (o === '' ? '' : this.fresh(o)));
    this.nodes.push({
      opType,
      domain,
      // Named after the first output, so profiles and runtime errors point at the graph's values.
      name: this.fresh(`${opType}:${outs[0] || 'node'}`),
      inputs,
      outputs: outs,
      attributes,
    });
    return outs;
  }

  /** Single-output node shorthand. */
  op(
    opType: string,
    inputs: string[],
    hint: string,
    attributes: Record<string, AttributeValue> = {},
    domain = '',
  ): string {
    const [out] = this.node(opType, inputs, [hint], attributes, domain);
    return out as string;
  }
}

export interface SerializeOptions {
  /** Initializers at least this large go to the external data file. */
  externalThreshold?: number;
  /** Path of the external data file, relative to the model file. */
  externalDataFile?: string;
  opsetVersion?: number;
  producer?: string;
}

export interface SerializedModel {
  model: Uint8Array;
  /** Chunks to write back to back into the external data file (empty when all inline). */
  externalChunks: Uint8Array[];
  externalBytes: number;
  /** Offset in the external data file of bytes an initializer was built from, if stored there. */
  externalOffsetOf(data: ArrayBufferView): number | undefined;
}

/** External data offsets are aligned so runtimes may map tensors directly. */
const EXTERNAL_ALIGNMENT = 64;

function writeAttribute(name: string, value: AttributeValue): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, name);
  if ('int' in value) {
    w.int(3, value.int);
    w.int(20, 2);
  } else if ('float' in value) {
    w.float(2, value.float);
    w.int(20, 1);
  } else if ('string' in value) {
    w.string(4, value.string);
    w.int(20, 3);
  } else if ('ints' in value) {
    for (const v of value.ints) w.int(8, v);
    w.int(20, 7);
  } else {
    for (const v of value.floats) w.float(7, v);
    w.int(20, 6);
  }
  return w;
}

function writeValueInfo(info: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of info.dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter();
  tensorType.int(1, ElementType[info.type]);
  tensorType.message(2, shape);
  const type = new ProtoWriter();
  type.message(1, tensorType);
  const w = new ProtoWriter();
  w.string(1, info.name);
  w.message(2, type);
  return w;
}

/** Encodes the graph as an ONNX ModelProto (IR version 8, default opset + com.microsoft). */
export function serializeModel(graph: GraphBuilder, opts: SerializeOptions = {}): SerializedModel {
  const threshold = opts.externalThreshold ?? 1024;
  const externalChunks: Uint8Array[] = [];
  let externalBytes = 0;
  // Initializers over the very same bytes (one typed array given twice) are stored once and
  // point at the same offset, so a runtime can map each of them separately.
  const stored = new Map<ArrayBufferLike, Map<string, number>>();

  const g = new ProtoWriter();
  for (const node of graph.nodes) {
    const n = new ProtoWriter();
    for (const i of node.inputs) n.string(1, i);
    for (const o of node.outputs) n.string(2, o);
    n.string(3, node.name);
    n.string(4, node.opType);
    for (const [key, value] of Object.entries(node.attributes)) n.message(5, writeAttribute(key, value));
    if (node.domain) n.string(7, node.domain);
    g.message(1, n);
  }
  g.string(2, graph.name);
  for (const init of graph.initializers) {
    const t = new ProtoWriter();
    for (const d of init.dims) t.int(1, d);
    t.int(2, ElementType[init.type]);
    t.string(8, init.name);
    if (opts.externalDataFile && init.data.length >= threshold) {
      const range = `${init.data.byteOffset}:${init.data.byteLength}`;
      let ranges = stored.get(init.data.buffer);
      let offset = ranges?.get(range);
      if (offset === undefined) {
        const pad = (EXTERNAL_ALIGNMENT - (externalBytes % EXTERNAL_ALIGNMENT)) % EXTERNAL_ALIGNMENT;
        if (pad > 0) {
          externalChunks.push(new Uint8Array(pad));
          externalBytes += pad;
        }
        offset = externalBytes;
        externalChunks.push(init.data);
        externalBytes += init.data.length;
        if (!ranges) {
          ranges = new Map();
          stored.set(init.data.buffer, ranges);
        }
        ranges.set(range, offset);
      }
      for (const [key, value] of [
        ['location', opts.externalDataFile],
        ['offset', String(offset)],
        ['length', String(init.data.length)],
      ] as const) {
        const entry = new ProtoWriter();
        entry.string(1, key);
        entry.string(2, value);
        t.message(13, entry);
      }
      t.int(14, 1);
    } else {
      t.bytes(9, init.data);
    }
    g.message(5, t);
  }
  for (const input of graph.inputs) g.message(11, writeValueInfo(input));
  for (const output of graph.outputs) g.message(12, writeValueInfo(output));

  const m = new ProtoWriter();
  m.int(1, 8);
  m.string(2, opts.producer ?? 'cascadia-engine');
  m.string(3, '1');
  m.message(7, g);
  for (const [domain, version] of [
    ['', opts.opsetVersion ?? 17],
    ['com.microsoft', 1],
  ] as const) {
    const opset = new ProtoWriter();
    if (domain) opset.string(1, domain);
    opset.int(2, version);
    m.message(8, opset);
  }
  const externalOffsetOf = (data: ArrayBufferView): number | undefined =>
    stored.get(data.buffer)?.get(`${data.byteOffset}:${data.byteLength}`);
  return { model: m.finish(), externalChunks, externalBytes, externalOffsetOf };
}
