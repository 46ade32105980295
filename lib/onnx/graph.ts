/**
 * The ONNX graph the tracer builds: nodes in execution order, float32/int64 initializers, graph inputs and
 * outputs; plus the one rewrite the exporter makes (eval-mode BatchNormalization folded into the Conv
 * before it) and the protobuf encoding, done by protobufjs from the ONNX schema.
 */
import type * as protobuf from 'protobufjs';
import { ONNX_PROTO } from '../third_party/onnx/onnx_proto';

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export interface OnnxNode {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

export interface Initializer {
  name: string;
  dims: number[];
  /** Float32Array for FLOAT, BigInt64Array for INT64. */
  data: Float32Array | BigInt64Array;
}

export interface GraphIO {
  name: string;
  /** A number is a fixed size, a string a symbolic one (ONNX dim_param). */
  dims: (number | string)[];
}

export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers = new Map<string, Initializer>();
  inputs: GraphIO[] = [];
  outputs: GraphIO[] = [];
  private counter = 0;

  /** A fresh value name under a module path, as `/layer1/0/conv1/Conv_3`. */
  valueName(path: string, opType: string): string {
    return `${path ? `/${path.replace(/\./g, '/')}` : ''}/${opType}_${this.counter++}`;
  }

  addNode(opType: string, path: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const out = output ?? this.valueName(path, opType);
    this.nodes.push({ opType, name: `${out}#node`, inputs, outputs: [out], attrs });
    return out;
  }

  /** An initializer; a name already taken gets a numbered suffix. Returns the name used. */
  addInitializer(name: string, dims: number[], data: Float32Array | BigInt64Array): string {
    let n = name;
    for (let i = 1; this.initializers.has(n); i++) n = `${name}_${i}`;
    this.initializers.set(n, { name: n, dims, data });
    return n;
  }

  int64s(name: string, values: number[]): string {
    return this.addInitializer(name, [values.length], BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  /**
   * Folds every BatchNormalization whose input is a Conv output that nothing else reads into that Conv:
   * W' = W * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps) per output channel, computed in
   * float64. Returns how many were folded.
   */
  foldBatchNorms(): number {
    const readers = new Map<string, number>();
    for (const n of this.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
    for (const o of this.outputs) readers.set(o.name, (readers.get(o.name) ?? 0) + 1);
    const producer = new Map<string, OnnxNode>();
    for (const n of this.nodes) producer.set(n.outputs[0], n);
    let folded = 0;
    for (const bn of [...this.nodes]) {
      if (bn.opType !== 'BatchNormalization') continue;
      const conv = producer.get(bn.inputs[0]);
      if (!conv || conv.opType !== 'Conv' || readers.get(conv.outputs[0]) !== 1) continue;
      const get = (n: string) => this.initializers.get(n)?.data as Float32Array | undefined;
      const [gamma, beta, mean, variance] = bn.inputs.slice(1).map(get);
      const w = get(conv.inputs[1]);
      if (!gamma || !beta || !mean || !variance || !w) continue;
      const eps = (bn.attrs.epsilon as { float: number }).float;
      const oc = gamma.length;
      const per = w.length / oc;
      const b = conv.inputs[2] ? get(conv.inputs[2]) : new Float32Array(oc);
      if (!b) continue;
      const w2 = new Float32Array(w.length);
      const b2 = new Float32Array(oc);
      for (let c = 0; c < oc; c++) {
        const s = gamma[c] / Math.sqrt(variance[c] + eps);
        for (let i = 0; i < per; i++) w2[c * per + i] = w[c * per + i] * s;
        b2[c] = (b[c] - mean[c]) * s + beta[c];
      }
      const wDims = this.initializers.get(conv.inputs[1])!.dims;
      const bnName = bn.inputs[1].replace(/\.weight$/, '');
      conv.inputs = [conv.inputs[0], this.addInitializer(`${bnName}.folded_weight`, wDims, w2), this.addInitializer(`${bnName}.folded_bias`, [oc], b2)];
      conv.outputs = bn.outputs;
      this.nodes.splice(this.nodes.indexOf(bn), 1);
      folded++;
    }
    this.dropUnusedInitializers();
    return folded;
  }

  dropUnusedInitializers(): void {
    const used = new Set(this.nodes.flatMap((n) => n.inputs));
    for (const o of this.outputs) used.add(o.name);
    for (const k of [...this.initializers.keys()]) if (!used.has(k)) this.initializers.delete(k);
  }

  /** The model as ONNX protobuf bytes. */
  encode(meta: { opset: number; irVersion: number; producerVersion: string; docString?: string }): Uint8Array {
    const ModelProto = modelProto();
    const tensorType = (dims: (number | string)[]) => ({
      tensorType: { elemType: DATA_TYPE.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } },
    });
    const msg = {
      irVersion: meta.irVersion,
      producerName: 'convkit',
      producerVersion: meta.producerVersion,
      docString: meta.docString ?? '',
      opsetImport: [{ domain: '', version: meta.opset }],
      graph: {
        name: 'convkit',
        node: this.nodes.map((n) => ({ opType: n.opType, name: n.name, input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)) })),
        initializer: [...this.initializers.values()].map((t) => ({
          name: t.name,
          dims: t.dims,
          dataType: t.data instanceof Float32Array ? DATA_TYPE.FLOAT : DATA_TYPE.INT64,
          // raw_data is little-endian, as typed arrays are on every platform Node.js runs on.
          rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        })),
        input: this.inputs.map((i) => ({ name: i.name, type: tensorType(i.dims) })),
        output: this.outputs.map((o) => ({ name: o.name, type: tensorType(o.dims) })),
      },
    };
    const err = ModelProto.verify(msg);
    if (err) throw new Error(`onnx: internal error, the model message does not match the schema: ${err}`);
    return ModelProto.encode(ModelProto.fromObject(msg)).finish();
  }
}

const DATA_TYPE = { FLOAT: 1, INT64: 7 } as const;
const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attribute(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === 'number') return { name, type: ATTR_TYPE.INT, i: v };
  if (typeof v === 'string') return { name, type: ATTR_TYPE.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: ATTR_TYPE.INTS, ints: v };
  if ('float' in v) return { name, type: ATTR_TYPE.FLOAT, f: v.float };
  return { name, type: ATTR_TYPE.FLOATS, floats: v.floats };
}

let cached: protobuf.Type | null = null;
function modelProto(): protobuf.Type {
  // protobufjs is loaded on the first export only: importing convkit does not need it.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  if (!cached) cached = (require('protobufjs') as typeof protobuf).parse(ONNX_PROTO).root.lookupType('onnx.ModelProto');
  return cached;
}

/** Decodes ONNX bytes into a plain object (longs as numbers, bytes as Buffers): for tests and inspection. */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const ModelProto = modelProto();
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, enums: String, bytes: Buffer }) as Record<string, unknown>;
}
