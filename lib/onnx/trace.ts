/**
 * The tracer behind onnx.export: runs the model's eval-mode forward once on the example input and records
 * the operations actually executed on tensors that derive from the input, whatever code calls them (layer
 * modules, the residual adds and Inception concatenations inside zoo forwards, flattens, user code).
 *
 * For the length of one forward, every method of Tensor.prototype and every function exported by
 * nn/functional is wrapped. A call is recorded only when it is outermost (ops called inside a recorded op
 * are its implementation) and touches a traced tensor; it still runs, so shapes come from convkit itself.
 * Tensors that do not derive from the input (parameters, buffers, constants a forward makes) become
 * initializers. A call that touches a traced tensor and has no ONNX mapping here stops the export with
 * ERR_UNSUPPORTED naming the operation and the module that called it. Module forwards are wrapped only to
 * know that module path (node names, error messages) and to refuse library modules with no inference
 * meaning (losses).
 */
import { ckError, ConvkitError, fmtShape } from '../errors';
import { Module } from '../nn/module';
import * as layers from '../nn/layers';
import * as NNF from '../nn/functional';
import * as FConv from '../nn/functional/conv';
import * as FBatchNorm from '../nn/functional/batchnorm';
import * as FPool from '../nn/functional/pool';
import * as FActivation from '../nn/functional/activation';
import * as FDropout from '../nn/functional/dropout';
import * as FSoftmaxLoss from '../nn/functional/softmax_loss';
import * as FLinear from '../nn/functional/linear';
import * as FConcat from '../nn/functional/concat';

// The op-family modules behind nn.functional: their exports are the functions every layer calls (the
// index only re-exports them as getters), so these are what the tracer wraps.
const FUNCTIONAL_MODULES: readonly object[] = [FConv, FBatchNorm, FPool, FActivation, FDropout, FSoftmaxLoss, FLinear, FConcat];
import { Tensor } from '../tensor';
import { AttrValue, OnnxGraph } from './graph';

type Fn = (...args: unknown[]) => unknown;
type Pair = number | [number, number];
const pair = (v: unknown, dflt: number): [number, number] => {
  if (v === undefined || v === null) return [dflt, dflt];
  return Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number];
};
const normDim = (d: number, n: number) => (d < 0 ? d + n : d);
const f = (v: number): { float: number } => ({ float: v });

/** Reading a traced tensor's values would make the graph depend on the example input's data. */
const DATA_READS = new Set(['item', 'dataSync', 'data', 'toArray', 'tolist']);
/** Library modules with no place in an inference graph. */
const REFUSED_MODULES: Function[] = [layers.CrossEntropyLoss, layers.NLLLoss, layers.MSELoss];

export interface TraceOptions {
  opset: number;
  dynamicBatch: boolean;
  inputNames: string[];
}

export class Tracer {
  readonly graph = new OnnxGraph();
  private readonly traced = new Map<Tensor, string>();
  private readonly consts = new Map<Tensor, string>();
  private readonly paramNames = new Map<Tensor, string>();
  private readonly path: { name: string; type: string }[] = [];
  private depth = 0;
  private readonly restore: (() => void)[] = [];

  constructor(private readonly model: Module, private readonly opts: TraceOptions) {
    for (const [k, t] of model.namedParameters()) this.paramNames.set(t, k);
    for (const [k, t] of model.namedBuffers()) this.paramNames.set(t, k);
  }

  /** Runs model(...inputs) with the wrappers on; returns its outputs (tensors the caller disposes). */
  run(inputs: Tensor[]): Tensor[] {
    inputs.forEach((x, i) => this.traced.set(x, this.opts.inputNames[i]));
    let out: unknown;
    try {
      this.install();
      out = this.model.forward(...inputs);
    } finally {
      for (const r of this.restore.reverse()) r();
    }
    const outs = out instanceof Tensor ? [out] : Array.isArray(out) && out.every((o) => o instanceof Tensor) ? (out as Tensor[]) : null;
    if (!outs) {
      throw unsupported(`onnx.export: the model's forward returned ${describe(out)}; the exporter takes a model whose eval-mode forward returns a Tensor or an array of Tensors`);
    }
    return outs;
  }

  /** The graph value a traced tensor holds; undefined for tensors that do not derive from an input. */
  nameOf(t: Tensor): string | undefined {
    return this.traced.get(t);
  }

  // ---- wrapping ---------------------------------------------------------------------------------------

  private install(): void {
    const proto = Tensor.prototype as unknown as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(Tensor.prototype)) {
      const d = Object.getOwnPropertyDescriptor(Tensor.prototype, key)!;
      if (key === 'constructor' || typeof d.value !== 'function' || !d.writable) continue;
      const orig = d.value as Fn;
      const tracer = this;
      proto[key] = function (this: Tensor, ...args: unknown[]) {
        return tracer.call(`Tensor.${key}`, TENSOR_OPS[key], orig, this, args);
      };
      this.restore.push(() => (proto[key] = orig));
    }
    for (const mod of FUNCTIONAL_MODULES) {
      const nnf = mod as Record<string, unknown>;
      for (const key of Object.keys(nnf)) {
        const d = Object.getOwnPropertyDescriptor(nnf, key);
        if (!d || typeof d.value !== 'function' || !d.writable) continue;
        const orig = d.value as Fn;
        nnf[key] = (...args: unknown[]) => this.call(`nn.functional.${key}`, FUNCTIONAL_OPS[key], orig, undefined, args);
        this.restore.push(() => (nnf[key] = orig));
      }
    }
    for (const [name, m] of this.model.namedModules()) {
      const own = Object.getOwnPropertyDescriptor(m, 'forward');
      const orig = m.forward;
      Object.defineProperty(m, 'forward', {
        configurable: true, enumerable: false, writable: true,
        value: (...args: unknown[]) => {
          if (REFUSED_MODULES.includes(m.constructor)) throw unsupported(`onnx.export: module '${name}' (${m.typeName}) is not supported: a loss has no place in an exported inference graph`);
          this.path.push({ name, type: m.typeName });
          try {
            return orig.apply(m, args);
          } finally {
            this.path.pop();
          }
        },
      });
      this.restore.push(() => {
        if (own) Object.defineProperty(m, 'forward', own);
        else delete (m as unknown as Record<string, unknown>).forward;
      });
    }
  }

  private touchesTraced(self: unknown, args: unknown[]): boolean {
    const isTraced = (v: unknown): boolean => (v instanceof Tensor && this.traced.has(v)) || (Array.isArray(v) && v.some(isTraced));
    return isTraced(self) || args.some(isTraced);
  }

  private call(op: string, handler: Handler | undefined, orig: Fn, self: unknown, args: unknown[]): unknown {
    if (this.depth > 0 || !this.touchesTraced(self, args)) return orig.apply(self, args);
    const bare = op.replace(/^Tensor\./, '');
    if (DATA_READS.has(bare)) throw this.unsupportedOp(op, 'it reads the values of a tensor computed from the input, so the graph would depend on the example input');
    this.depth++;
    let out: unknown;
    try {
      out = orig.apply(self, args);
      if (out === null || typeof out !== 'object') return out;
      if (!handler || !(out instanceof Tensor)) {
        if (out instanceof Tensor && out !== self) out.dispose();
        throw this.unsupportedOp(op, 'convkit has no ONNX mapping for it');
      }
      // Functional ops get their first argument as `self`, like the Tensor methods.
      if (self === undefined) handler(this, out, args[0] as Tensor, args.slice(1));
      else handler(this, out, self as Tensor, args);
      return out;
    } finally {
      this.depth--;
    }
  }

  private where(): string {
    const m = this.path[this.path.length - 1];
    return m ? (m.name ? `module '${m.name}' (${m.type})` : `the model's own forward (${m.type})`) : 'the model';
  }
  private modulePath(): string {
    return this.path[this.path.length - 1]?.name ?? '';
  }

  unsupportedOp(op: string, why: string): ConvkitError {
    return unsupported(`onnx.export: cannot export ${op} called in ${this.where()}: ${why}`);
  }

  // ---- recording helpers used by the handlers -----------------------------------------------------

  /** The graph value for an operand: traced tensors by name, other tensors and numbers as initializers. */
  val(v: Tensor | number, what = 'const'): string {
    if (typeof v === 'number') return this.graph.addInitializer(`${this.modulePath() || 'const'}.${what}`, [], Float32Array.of(v));
    const t = this.traced.get(v);
    if (t !== undefined) return t;
    const c = this.consts.get(v);
    if (c !== undefined) return c;
    if (v.dtype !== 'float32') throw this.unsupportedOp(`a ${v.dtype} constant`, 'the exporter writes float32 constants only');
    const name = this.graph.addInitializer(this.paramNames.get(v) ?? `${this.modulePath() || 'const'}.${what}`, [...v.shape], v.dataSync() as Float32Array);
    this.consts.set(v, name);
    return name;
  }

  /** Adds a node reading `inputs`; with `out`, the node's output becomes that tensor's graph value. */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: Tensor): string {
    const name = this.graph.addNode(opType, this.modulePath(), inputs, attrs);
    if (out) this.traced.set(out, name);
    return name;
  }

  alias(out: Tensor, of: Tensor): void {
    this.traced.set(out, this.val(of));
  }

  int64s(what: string, values: number[]): string {
    return this.graph.int64s(`${this.modulePath() || 'const'}.${what}`, values);
  }

  /** Reshape `x` to `out`'s shape; under dynamicBatch a kept batch dim is written as 0 (copy). */
  reshape(x: Tensor, out: Tensor): void {
    if (x.shape.length === out.shape.length && x.shape.every((s, i) => s === out.shape[i])) return this.alias(out, x);
    const target = [...out.shape];
    if (this.opts.dynamicBatch) {
      if (x.shape[0] !== out.shape[0])
        throw this.unsupportedOp(`a reshape from ${fmtShape(x.shape)} to ${fmtShape(out.shape)}`, 'it mixes the batch dim with others, so it cannot follow a dynamic batch; export with dynamicBatch: false');
      target[0] = 0;
    }
    if (x.shape.length >= 2 && out.shape.length === 2 && x.shape[0] === out.shape[0] && this.opts.dynamicBatch) {
      this.node('Flatten', [this.val(x)], { axis: 1 }, out);
      return;
    }
    this.node('Reshape', [this.val(x), this.int64s('shape', target)], {}, out);
  }

  get opset(): number {
    return this.opts.opset;
  }
}

export function unsupported(message: string): ConvkitError {
  return ckError('ERR_UNSUPPORTED', message);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v !== 'object') return `a ${typeof v}`;
  return Array.isArray(v) ? 'an array holding something other than Tensors' : `an object with keys ${Object.keys(v).join(', ')}`;
}

type Handler = (tr: Tracer, out: Tensor, self: Tensor, args: unknown[]) => void;

const unary = (opType: string): Handler => (tr, out, self) => tr.node(opType, [tr.val(self)], {}, out);
const binary = (opType: string): Handler => (tr, out, self, [o]) => tr.node(opType, [tr.val(self), tr.val(o as Tensor | number)], {}, out);
const reshapeOp: Handler = (tr, out, self) => tr.reshape(self, out);
const aliasOp: Handler = (tr, out, self) => tr.alias(out, self);
const addSub = (opType: string): Handler => (tr, out, self, [o, alpha]) => {
  const a = (alpha as number | undefined) ?? 1;
  let b: string;
  if (typeof o === 'number') b = tr.val(o * a);
  else b = a === 1 ? tr.val(o as Tensor) : tr.node('Mul', [tr.val(o as Tensor), tr.val(a, 'alpha')]);
  tr.node(opType, [tr.val(self), b], {}, out);
};
const clip = (tr: Tracer, out: Tensor, x: Tensor, min: number | null | undefined, max: number | null | undefined) => {
  if ((min as unknown) instanceof Tensor || (max as unknown) instanceof Tensor) throw tr.unsupportedOp('clamp with tensor bounds', "ONNX's Clip takes scalar bounds");
  const ins = [tr.val(x), min === null || min === undefined ? '' : tr.val(min, 'min')];
  if (max !== null && max !== undefined) ins.push(tr.val(max, 'max'));
  tr.node('Clip', ins, {}, out);
};
const softmaxOp = (opType: string): Handler => (tr, out, x, [dim]) => {
  const axis = normDim((dim as number | null) ?? -1, x.ndim);
  if (tr.opset < 13 && axis !== x.ndim - 1) throw tr.unsupportedOp(`${opType} over dim ${axis}`, `before opset 13 ONNX's ${opType} flattens the trailing dims; use opset 13 or later`);
  tr.node(opType, [tr.val(x)], { axis }, out);
};
const sliceOp = (tr: Tracer, out: Tensor, x: Tensor, dim: number, start: number, step: number) => {
  const d = normDim(dim, x.ndim);
  let s = start < 0 ? start + x.shape[d] : start;
  s = Math.min(Math.max(s, 0), x.shape[d]);
  const end = s + (out.shape[d] - 1) * step + 1;
  tr.node('Slice', [tr.val(x), tr.int64s('starts', [s]), tr.int64s('ends', [end]), tr.int64s('axes', [d]), tr.int64s('steps', [step])], {}, out);
};
const transposeOp = (tr: Tracer, out: Tensor, x: Tensor, perm: number[]) => tr.node('Transpose', [tr.val(x)], { perm }, out);

const TENSOR_OPS: Record<string, Handler> = {
  add: addSub('Add'),
  sub: addSub('Sub'),
  mul: binary('Mul'),
  div: binary('Div'),
  matmul: binary('MatMul'),
  relu: unary('Relu'),
  sigmoid: unary('Sigmoid'),
  tanh: unary('Tanh'),
  neg: unary('Neg'),
  sqrt: unary('Sqrt'),
  clamp: (tr, out, x, [min, max]) => clip(tr, out, x, min as number | null, max as number | null),
  clip: (tr, out, x, [min, max]) => clip(tr, out, x, min as number | null, max as number | null),
  flatten: reshapeOp,
  view: reshapeOp,
  reshape: reshapeOp,
  squeeze: reshapeOp,
  unsqueeze: reshapeOp,
  contiguous: aliasOp,
  detach: aliasOp,
  clone: aliasOp,
  narrow: (tr, out, x, [dim, start]) => sliceOp(tr, out, x, dim as number, start as number, 1),
  slice: (tr, out, x, [dim, start, , step]) => sliceOp(tr, out, x, dim as number, (start as number | undefined) ?? 0, (step as number | undefined) ?? 1),
  permute: (tr, out, x, args) => transposeOp(tr, out, x, (Array.isArray(args[0]) ? (args[0] as number[]) : (args as number[])).map((d) => normDim(d, x.ndim))),
  transpose: (tr, out, x, [a, b]) => {
    const p = [...Array(x.ndim).keys()];
    const i = normDim(a as number, x.ndim);
    const j = normDim(b as number, x.ndim);
    [p[i], p[j]] = [p[j], p[i]];
    transposeOp(tr, out, x, p);
  },
  t: (tr, out, x) => (x.ndim < 2 ? tr.alias(out, x) : transposeOp(tr, out, x, [1, 0])),
  mean: (tr, out, x, [dim, opts]) => {
    const keepdims = (typeof opts === 'boolean' ? opts : (opts as { keepdim?: boolean } | undefined)?.keepdim) ? 1 : 0;
    const attrs: Record<string, AttrValue> = { keepdims };
    if (dim !== undefined && dim !== null) attrs.axes = (Array.isArray(dim) ? (dim as number[]) : [dim as number]).map((d) => normDim(d, x.ndim));
    tr.node('ReduceMean', [tr.val(x)], attrs, out);
  },
  softmax: softmaxOp('Softmax'),
  logSoftmax: softmaxOp('LogSoftmax'),
};

function need4d(tr: Tracer, op: string, x: Tensor): void {
  if (x.ndim !== 4) throw tr.unsupportedOp(`${op} on a ${x.ndim}-D input ${fmtShape(x.shape)}`, 'the exporter takes batched (N, C, H, W) inputs');
}

/** Kernel, stride (default: the kernel) and padding of a 2-D pool, as PyTorch reads its arguments. */
function poolGeometry(tr: Tracer, op: string, x: Tensor, kernel: unknown, opts: { stride?: Pair | null; padding?: Pair }) {
  need4d(tr, op, x);
  const k = pair(kernel, 1);
  return { k, s: opts.stride === undefined || opts.stride === null ? k : pair(opts.stride, 1), p: pair(opts.padding, 0) };
}

const FUNCTIONAL_OPS: Record<string, Handler> = {
  conv2d: (tr, out, x, [weight, bias, o]) => {
    need4d(tr, 'conv2d', x);
    const w = weight as Tensor;
    const opts = (o ?? {}) as NNF.Conv2dOptions;
    const k = [w.shape[2], w.shape[3]];
    const s = pair(opts.stride, 1);
    const d = pair(opts.dilation, 1);
    let pads: number[];
    if (opts.padding === 'valid') pads = [0, 0, 0, 0];
    else if (opts.padding === 'same') {
      const tot = k.map((kk, i) => d[i] * (kk - 1));
      pads = [tot[0] >> 1, tot[1] >> 1, tot[0] - (tot[0] >> 1), tot[1] - (tot[1] >> 1)];
    } else {
      const p = pair(opts.padding as Pair | undefined, 0);
      pads = [p[0], p[1], p[0], p[1]];
    }
    const ins = [tr.val(x), tr.val(w, 'weight')];
    if (bias) ins.push(tr.val(bias as Tensor, 'bias'));
    tr.node('Conv', ins, { kernel_shape: k, strides: s, pads, dilations: d, group: opts.groups ?? 1 }, out);
  },
  batchNorm: (tr, out, x, [mean, variance, weight, bias, o]) => {
    const opts = (o ?? {}) as NNF.BatchNormOptions;
    if (opts.training || !mean || !variance)
      throw tr.unsupportedOp('batch norm with batch statistics', 'only eval-mode batch norm with running statistics exports (this one has trackRunningStats: false)');
    const c = x.shape[1];
    const scale = weight ? tr.val(weight as Tensor, 'weight') : tr.graph.addInitializer('bn.ones', [c], new Float32Array(c).fill(1));
    const b = bias ? tr.val(bias as Tensor, 'bias') : tr.graph.addInitializer('bn.zeros', [c], new Float32Array(c));
    tr.node('BatchNormalization', [tr.val(x), scale, b, tr.val(mean as Tensor, 'running_mean'), tr.val(variance as Tensor, 'running_var')], { epsilon: f(opts.eps ?? 1e-5) }, out);
  },
  maxPool2d: (tr, out, x, [kernel, o]) => {
    const opts = (o ?? {}) as NNF.MaxPool2dOptions;
    const { k, s, p } = poolGeometry(tr, 'max_pool2d', x, kernel, opts);
    const d = pair(opts.dilation, 1);
    // ceil_mode written as explicit end padding, from the output size convkit computed: PyTorch's rule
    // (a last window must start inside the input) and ONNX's ceil arithmetic then cannot disagree.
    const end = [0, 1].map((i) => Math.max(0, (out.shape[2 + i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - x.shape[2 + i] - p[i]));
    tr.node('MaxPool', [tr.val(x)], { kernel_shape: k, strides: s, pads: [p[0], p[1], end[0], end[1]], dilations: d }, out);
  },
  avgPool2d: (tr, out, x, [kernel, o]) => {
    const opts = (o ?? {}) as NNF.AvgPool2dOptions;
    const { k, s, p } = poolGeometry(tr, 'avg_pool2d', x, kernel, opts);
    if (opts.divisorOverride !== undefined && opts.divisorOverride !== null) throw tr.unsupportedOp('avg_pool2d with divisorOverride', 'ONNX AveragePool has no divisor override');
    const floorOut = [0, 1].map((i) => Math.floor((x.shape[2 + i] + 2 * p[i] - k[i]) / s[i]) + 1);
    if (floorOut[0] !== out.shape[2] || floorOut[1] !== out.shape[3])
      throw tr.unsupportedOp('avg_pool2d with ceilMode where a last window overhangs', "PyTorch's divisor for the overhanging window differs from ONNX's");
    tr.node('AveragePool', [tr.val(x)], { kernel_shape: k, strides: s, pads: [p[0], p[1], p[0], p[1]], count_include_pad: opts.countIncludePad === false ? 0 : 1 }, out);
  },
  adaptiveAvgPool2d: (tr, out, x) => {
    need4d(tr, 'adaptive_avg_pool2d', x);
    const [inH, inW] = [x.shape[2], x.shape[3]];
    const [oH, oW] = [out.shape[2], out.shape[3]];
    if (oH === 1 && oW === 1) return void tr.node('GlobalAveragePool', [tr.val(x)], {}, out);
    if (inH % oH === 0 && inW % oW === 0) {
      const k = [inH / oH, inW / oW];
      return void tr.node('AveragePool', [tr.val(x)], { kernel_shape: k, strides: k }, out);
    }
    // PyTorch's windows [floor(i*in/out), ceil((i+1)*in/out)) are rectangles: average rows, then columns.
    let cur = tr.val(x);
    for (const [axis, n, o] of [[2, inH, oH], [3, inW, oW]]) {
      if (n === o) continue;
      const parts: string[] = [];
      for (let i = 0; i < o; i++) {
        const a = Math.floor((i * n) / o);
        const b = Math.ceil(((i + 1) * n) / o);
        const sl = tr.node('Slice', [cur, tr.int64s('starts', [a]), tr.int64s('ends', [b]), tr.int64s('axes', [axis])]);
        parts.push(tr.node('ReduceMean', [sl], { axes: [axis], keepdims: 1 }));
      }
      cur = tr.node('Concat', parts, { axis });
    }
    tr.node('Identity', [cur], {}, out);
  },
  relu: (tr, out, x) => tr.node('Relu', [tr.val(x)], {}, out),
  biasRelu: (tr, out, x, [b]) => {
    const bias = b as Tensor;
    const shaped = tr.graph.addInitializer(`${tr.val(bias, 'bias')}.broadcast`, [bias.shape[0], ...Array(x.ndim - 2).fill(1)], bias.dataSync() as Float32Array);
    tr.node('Relu', [tr.node('Add', [tr.val(x), shaped])], {}, out);
  },
  addRelu: (tr, out, a, [b]) => tr.node('Relu', [tr.node('Add', [tr.val(a), tr.val(b as Tensor)])], {}, out),
  dropout: (tr, out, x, [p, training]) => {
    if ((training ?? true) && (p ?? 0.5) !== 0) throw tr.unsupportedOp('dropout in training mode', 'an exported graph is an inference graph (call it from a module, which the exporter puts in eval mode)');
    tr.alias(out, x);
  },
  linear: (tr, out, x, [weight, bias]) => {
    const w = weight as Tensor;
    if (x.ndim === 2) {
      const ins = [tr.val(x), tr.val(w, 'weight')];
      if (bias) ins.push(tr.val(bias as Tensor, 'bias'));
      return void tr.node('Gemm', ins, { transB: 1 }, out);
    }
    const mm = tr.node('MatMul', [tr.val(x), tr.node('Transpose', [tr.val(w, 'weight')], { perm: [1, 0] })]);
    if (!bias) return void tr.node('Identity', [mm], {}, out);
    tr.node('Add', [mm, tr.val(bias as Tensor, 'bias')], {}, out);
  },
  hardtanh: (tr, out, x, [min, max]) => clip(tr, out, x, (min as number | undefined) ?? -1, (max as number | undefined) ?? 1),
  relu6: (tr, out, x) => clip(tr, out, x, 0, 6),
  softmax: softmaxOp('Softmax'),
  logSoftmax: softmaxOp('LogSoftmax'),
  cat: (tr, out, ts, [dim]) => {
    const parts = ts as unknown as Tensor[];
    tr.node('Concat', parts.map((t) => tr.val(t)), { axis: normDim((dim as number | undefined) ?? 0, parts[0].ndim) }, out);
  },
};
