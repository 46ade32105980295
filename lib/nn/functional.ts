/**
 * nn.functional: convolution, batch norm, pooling, fused activations, dropout, softmax and losses. Each
 * checks its shapes in TypeScript (errors name both shapes), runs the native kernel on contiguous
 * tensors, and records its backward (the native backward kernels) when an input requires grad.
 */
import { native } from '../binding';
import { ConvBackend, resolveConvBackend } from '../backends';
import { needsGrad, record, reluGrad, sumTo } from '../autograd/functions';
import { rawModule } from '../autograd/grad_mode';
import * as ewRaw from '../ops/elementwise';
import { ckError, fmtShape, shapeError } from '../errors';
import { takeRandom } from '../random';
import { normDim, numelOf } from '../shape';
import { Tensor } from '../tensor';

const ew = rawModule(ewRaw);

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v, v]);

/**
 * An int or a pair of ints (PyTorch's `int[2]` arguments): fractions, NaN and non-numbers are refused with a
 * TypeError naming the argument; values below `min` with a RangeError.
 */
function intPair(what: string, name: string, v: unknown, min: number): [number, number] {
  const ok = (x: unknown) => typeof x === 'number' && Number.isInteger(x);
  const p = Array.isArray(v) && v.length === 1 ? [v[0], v[0]] : v;
  if (!(ok(p) || (Array.isArray(p) && p.length === 2 && ok(p[0]) && ok(p[1]))))
    throw ckError('ERR_ARG', `${what}: ${name} must be an integer or a pair of integers, got ${JSON.stringify(v) ?? String(v)}`, 'TypeError');
  const r = pair(p as Pair);
  if (r[0] < min || r[1] < min) throw ckError('ERR_ARG', `${what}: ${name} must be >= ${min}, got ${r}`, 'RangeError');
  if (r[0] > 2 ** 31 - 1 || r[1] > 2 ** 31 - 1) throw ckError('ERR_ARG', `${what}: ${name} ${r} is out of the int32 range`, 'RangeError');
  return r;
}

function isTensor(what: string, name: string, t: unknown, optional = false): void {
  if (optional && (t === null || t === undefined)) return;
  if (!(t instanceof Tensor)) throw ckError('ERR_ARG', `${what}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`, 'TypeError');
}

const REDUCTIONS = ['mean', 'sum', 'none'];
function reductionOf(what: string, r: unknown): Reduction {
  const v = r ?? 'mean';
  if (typeof v !== 'string' || !REDUCTIONS.includes(v))
    throw ckError('ERR_ARG', `${what}: reduction must be one of 'mean', 'sum', 'none', got ${JSON.stringify(v) ?? String(v)}`, 'RangeError');
  return v as Reduction;
}

function sameDevice(what: string, ...ts: (Tensor | null | undefined)[]): void {
  const first = ts.find((t) => t) as Tensor;
  for (const t of ts) {
    if (t && !t.device.equals(first.device))
      throw ckError('ERR_DEVICE', `${what}: tensors on different devices (${first.device} and ${t.device})`);
  }
}

function float32(what: string, t: Tensor): void {
  if (t.dtype !== 'float32') throw ckError('ERR_DTYPE', `${what}: expected a float32 tensor, got ${t.dtype}`, 'TypeError');
}

/** A contiguous handle on t (a view if already contiguous), not recorded. */
function contig(t: Tensor): Tensor {
  return t.isContiguous() ? t.viewOf(t.shape, t.strides, t.offset) : ew.unary(t, ew.U.Copy);
}

// ---- convolution --------------------------------------------------------------------------------------

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
  /** Overrides backends.conv for this call on CUDA tensors: 'auto' | 'cudnn' | 'native'. */
  backend?: ConvBackend;
}

export function conv2dOutputSize(h: number, w: number, k: [number, number], s: [number, number], p: [number, number], d: [number, number]): [number, number] {
  return [Math.floor((h + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0]) + 1, Math.floor((w + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1]) + 1];
}

export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  isTensor('conv2d', 'input', input);
  isTensor('conv2d', 'weight', weight);
  isTensor('conv2d', 'bias', bias, true);
  const unbatched = input.ndim === 3;
  if (input.ndim !== 4 && !unbatched)
    throw shapeError(`conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got ${fmtShape(input.shape)}`);
  isTensor('conv2d', 'input', input);
  isTensor('conv2d', 'weight', weight);
  isTensor('conv2d', 'bias', bias, true);
  if (weight.ndim !== 4) throw shapeError(`conv2d: expected a 4-D weight (O, C/groups, KH, KW), got ${fmtShape(weight.shape)}`);
  float32('conv2d', input);
  sameDevice('conv2d', input, weight, bias);
  const x4 = unbatched ? input.unsqueeze(0) : input;
  const [N, C, H, W] = x4.shape;
  const [O, Cg, KH, KW] = weight.shape;
  const groups = opts.groups ?? 1;
  const s = intPair('conv2d', 'stride', opts.stride === undefined ? 1 : opts.stride, 1);
  const d = intPair('conv2d', 'dilation', opts.dilation === undefined ? 1 : opts.dilation, 1);
  float32('conv2d weight', weight);
  let p: [number, number];
  if (opts.padding === 'valid') p = [0, 0];
  else if (opts.padding === 'same') {
    if (s[0] !== 1 || s[1] !== 1) throw shapeError("conv2d: padding='same' needs stride 1");
    const th = d[0] * (KH - 1);
    const tw = d[1] * (KW - 1);
    if (th % 2 || tw % 2) {
      // An odd total padding: PyTorch puts the extra row/column at the bottom/right. The same result is a
      // convolution padded one more on both sides, without its first output row/column.
      const y = conv2d(input, weight, bias, { ...opts, padding: [Math.ceil(th / 2), Math.ceil(tw / 2)] });
      const a = y.slice(-2, th % 2);
      const b = a.slice(-1, tw % 2);
      a.dispose();
      y.dispose();
      return b;
    }
    p = [th / 2, tw / 2];
  } else if (typeof opts.padding === 'string') {
    throw ckError('ERR_ARG', `conv2d: padding must be 'valid', 'same' or integers, got '${opts.padding}'`, 'RangeError');
  } else p = intPair('conv2d', 'padding', opts.padding === undefined ? 0 : opts.padding, 0);
  if (typeof groups === 'number' && groups > 2 ** 31 - 1) throw ckError('ERR_ARG', `conv2d: groups ${groups} is out of the int32 range`, 'RangeError');
  if (!Number.isInteger(groups) || groups < 1 || C % groups || O % groups)
    throw shapeError(`conv2d: groups=${groups} must divide input channels ${C} and output channels ${O}`);
  if (Cg * groups !== C)
    throw shapeError(`conv2d: weight ${fmtShape(weight.shape)} expects ${Cg * groups} input channels (groups=${groups}), but the input ${fmtShape(input.shape)} has ${C}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) throw shapeError(`conv2d: bias ${fmtShape(bias.shape)} does not match ${O} output channels`);
  const [OH, OW] = conv2dOutputSize(H, W, [KH, KW], s, p, d);
  if (OH < 1 || OW < 1)
    throw shapeError(`conv2d: input ${fmtShape(input.shape)} is too small for kernel ${KH}x${KW} (padding ${p}, dilation ${d}, stride ${s})`);
  const params = [N, C, H, W, O, KH, KW, OH, OW, s[0], s[1], p[0], p[1], d[0], d[1], groups];
  // cuDNN or the hand-written kernels, chosen once here so that backward runs the same implementation.
  const cudnn = resolveConvBackend(input.device.type, opts.backend, 'conv2d') === 'cudnn';
  const convForward = cudnn ? native.cudnnConv2dForward : native.conv2dForward;
  const convBackwardData = cudnn ? native.cudnnConv2dBackwardData : native.conv2dBackwardData;
  const convBackwardWeight = cudnn ? native.cudnnConv2dBackwardWeight : native.conv2dBackwardWeight;
  const xc = contig(x4);
  const wc = contig(weight);
  const bc = bias ? contig(bias) : null;
  const y = Tensor.empty([N, O, OH, OW], 'float32', input.device);
  try {
    convForward(params, xc.storage, xc.offset, wc.storage, wc.offset, bc ? bc.storage : null, bc ? bc.offset : 0, y.storage, 0);
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    bc?.dispose();
  }
  let out = y;
  if (needsGrad(input, weight, bias)) {
    const needX = input.requiresGrad;
    const needW = weight.requiresGrad;
    const needB = !!bias?.requiresGrad;
    record(y, 'Conv2dBackward', [x4 === input ? input : x4, weight, bias], (save) => {
      const sx = needW ? save(xc) : null;
      const sw = needX ? save(wc) : null;
      return (g) => {
        const gc = contig(g);
        let gx: Tensor | null = null;
        let gw: Tensor | null = null;
        let gb: Tensor | null = null;
        try {
          if (needX) {
            gx = Tensor.empty([N, C, H, W], 'float32', g.device);
            convBackwardData(params, gc.storage, gc.offset, sw!.storage, sw!.offset, gx.storage, 0);
          }
          if (needW || needB) {
            gw = Tensor.empty(weight.shape, 'float32', g.device);
            gb = needB ? Tensor.empty([O], 'float32', g.device) : null;
            const xs = sx ?? save(xc);
            convBackwardWeight(params, xs.storage, xs.offset, gc.storage, gc.offset, gw.storage, 0, gb ? gb.storage : null, 0);
            if (!needW) {
              gw.dispose();
              gw = null;
            }
          }
        } finally {
          gc.dispose();
        }
        return [gx, gw, gb];
      };
    });
  }
  xc.dispose();
  wc.dispose();
  if (unbatched) {
    out = y.squeeze(0);
    y.dispose();
    x4.dispose();
  }
  return out;
}

// ---- batch norm ---------------------------------------------------------------------------------------

export interface BatchNormOptions {
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Batch norm over dim 1 of a (N, C), (N, C, L) or (N, C, H, W) input. In training mode the batch
 * statistics normalise, and running stats (if given) are updated in place with `momentum`.
 */
export function batchNorm(
  input: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null = null, bias: Tensor | null = null,
  opts: BatchNormOptions = {},
): Tensor {
  const training = opts.training ?? false;
  const momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
  const eps = opts.eps === undefined ? 1e-5 : opts.eps;
  if (typeof momentum !== 'number') throw ckError('ERR_ARG', `batch_norm: momentum must be a number, got ${momentum === null ? 'null' : typeof momentum}`, 'TypeError');
  if (typeof eps !== 'number') throw ckError('ERR_ARG', `batch_norm: eps must be a number, got ${eps === null ? 'null' : typeof eps}`, 'TypeError');
  isTensor('batch_norm', 'input', input);
  if (input.ndim < 2) throw shapeError(`batch_norm: expected an input with a channel dim (N, C, ...), got ${fmtShape(input.shape)}`);
  float32('batch_norm', input);
  sameDevice('batch_norm', input, runningMean, runningVar, weight, bias);
  const [N, C] = input.shape;
  const L = numelOf(input.shape.slice(2));
  for (const [name, t] of [['running_mean', runningMean], ['running_var', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== C)) throw shapeError(`batch_norm: ${name} ${fmtShape(t.shape)} does not match ${C} channels of input ${fmtShape(input.shape)}`);
  }
  if (!training && (!runningMean || !runningVar)) throw ckError('ERR_ARG', 'batch_norm: eval mode needs running_mean and running_var');
  if (training && N * L <= 1) throw shapeError(`batch_norm: expected more than 1 value per channel when training, got input ${fmtShape(input.shape)}`);
  const xc = contig(input);
  const y = Tensor.empty(input.shape, 'float32', input.device);
  const arg = (t: Tensor | null): [unknown, number] => (t ? [t.storage, t.offset] : [null, 0]);
  const need = needsGrad(input, weight, bias);
  if (!training) {
    if (need) {
      xc.dispose();
      y.dispose();
      // Eval mode with gradients: the affine map by the running stats, composed of differentiable ops.
      const shape = [1, C, ...input.shape.slice(2).map(() => 1)];
      const inv = ew.unary(ew.unary(runningVar!, ew.U.AddScalar, eps), ew.U.Rsqrt).reshape(shape);
      const mean = runningMean!.reshape(shape);
      // Each step's input is this function's own: freed once the next has its output (autograd keeps what it saved).
      const then = (prev: Tensor, next: Tensor): Tensor => (prev.dispose(), next);
      const centered = input.sub(mean);
      let out = then(centered, centered.mul(inv));
      if (weight) out = then(out, out.mul(weight.reshape(shape)));
      if (bias) out = then(out, out.add(bias.reshape(shape)));
      return out;
    }
    const wc = weight ? contig(weight) : null;
    const bc = bias ? contig(bias) : null;
    try {
      native.batchNormEval(N, C, L, xc.storage, xc.offset, ...arg(wc), ...arg(bc), runningMean!.storage, runningMean!.offset, runningVar!.storage, runningVar!.offset, eps, y.storage, 0);
    } finally {
      xc.dispose();
      wc?.dispose();
      bc?.dispose();
    }
    return y;
  }
  for (const t of [runningMean, runningVar]) if (t && !t.isContiguous()) throw ckError('ERR_ARG', 'batch_norm: running stats must be contiguous');
  const wc = weight ? contig(weight) : null;
  const bc = bias ? contig(bias) : null;
  const mean = Tensor.empty([C], 'float32', input.device);
  const invstd = Tensor.empty([C], 'float32', input.device);
  try {
    native.batchNormTrain(N, C, L, xc.storage, xc.offset, ...arg(wc), ...arg(bc), eps, momentum, ...arg(runningMean), ...arg(runningVar), y.storage, 0, mean.storage, 0, invstd.storage, 0);
  } catch (e) {
    for (const t of [xc, wc, bc, mean, invstd, y]) t?.dispose();
    throw e;
  }
  if (need) {
    const needW = !!weight?.requiresGrad;
    const needB = !!bias?.requiresGrad;
    record(y, 'BatchNormBackward', [input, weight, bias], (save) => {
      const sx = save(xc);
      const sw = wc ? save(wc) : null;
      const sm = save(mean);
      const si = save(invstd);
      return (g) => {
        const gc = contig(g);
        const gx = Tensor.empty(input.shape, 'float32', g.device);
        const gw = needW ? Tensor.empty([C], 'float32', g.device) : null;
        const gb = needB ? Tensor.empty([C], 'float32', g.device) : null;
        try {
          native.batchNormBackward(N, C, L, gc.storage, gc.offset, sx.storage, sx.offset, ...arg(sw), sm.storage, 0, si.storage, 0, gx.storage, 0, ...arg(gw), ...arg(gb));
        } finally {
          gc.dispose();
        }
        return [input.requiresGrad ? gx : (gx.dispose(), null), gw, gb];
      };
    });
  }
  for (const t of [xc, wc, bc, mean, invstd]) t?.dispose();
  return y;
}

// ---- pooling ------------------------------------------------------------------------------------------

export interface MaxPool2dOptions {
  stride?: Pair | null;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}
export interface AvgPool2dOptions {
  stride?: Pair | null;
  padding?: Pair;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number | null;
}

function poolOut(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const num = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(num / s) : Math.floor(num / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out--; // the last window must start inside the input or left padding
  return out;
}

function pool4(what: string, input: Tensor): [Tensor, boolean] {
  if (input.ndim === 3) return [input.unsqueeze(0), true];
  if (input.ndim !== 4) throw shapeError(`${what}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got ${fmtShape(input.shape)}`);
  return [input, false];
}

/** PyTorch refuses pooling inputs with an empty non-batch dim (max/avg) or an empty plane (adaptive). */
function nonEmpty(what: string, input: Tensor, from: number): void {
  for (let i = Math.max(input.ndim - from, 0); i < input.ndim; i++)
    if (input.shape[i] === 0) throw shapeError(`${what}: input ${fmtShape(input.shape)} has an empty dimension ${i}`);
}

function unbatch(y: Tensor, unbatched: boolean, x4: Tensor): Tensor {
  if (!unbatched) return y;
  const r = y.squeeze(0);
  y.dispose();
  x4.dispose();
  return r;
}

export function maxPool2d(input: Tensor, kernelSize: Pair, opts: MaxPool2dOptions = {}): Tensor {
  isTensor('max_pool2d', 'input', input);
  float32('max_pool2d', input);
  const k = intPair('max_pool2d', 'kernelSize', kernelSize, 1);
  const s = intPair('max_pool2d', 'stride', opts.stride ?? kernelSize, 1);
  const p = intPair('max_pool2d', 'padding', opts.padding === undefined ? 0 : opts.padding, 0);
  const d = intPair('max_pool2d', 'dilation', opts.dilation === undefined ? 1 : opts.dilation, 1);
  nonEmpty('max_pool2d', input, 3);
  const [x4, unb] = pool4('max_pool2d', input);
  const [N, C, H, W] = x4.shape;
  if (p[0] > k[0] / 2 || p[1] > k[1] / 2) throw shapeError(`max_pool2d: padding ${p} should be at most half of kernel size ${k}`);
  const OH = poolOut(H, k[0], s[0], p[0], d[0], !!opts.ceilMode);
  const OW = poolOut(W, k[1], s[1], p[1], d[1], !!opts.ceilMode);
  if (OH < 1 || OW < 1) throw shapeError(`max_pool2d: input ${fmtShape(input.shape)} is too small for kernel ${k}`);
  const params = [N, C, H, W, OH, OW, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], 0, 0];
  const xc = contig(x4);
  const y = Tensor.empty([N, C, OH, OW], 'float32', input.device);
  const idx = Tensor.empty([N, C, OH, OW], 'int32', input.device);
  try {
    native.maxPoolForward(params, xc.storage, xc.offset, y.storage, 0, idx.storage, 0);
  } finally {
    xc.dispose();
  }
  if (needsGrad(input)) {
    record(y, 'MaxPool2dBackward', [x4], (save) => {
      const si = save(idx);
      return (g) => {
        const gc = contig(g);
        const gx = Tensor.empty([N, C, H, W], 'float32', g.device);
        try {
          native.maxPoolBackward(params, gc.storage, gc.offset, si.storage, 0, gx.storage, 0);
        } finally {
          gc.dispose();
        }
        return [gx];
      };
    });
  }
  idx.dispose();
  return unbatch(y, unb, x4);
}

export function avgPool2d(input: Tensor, kernelSize: Pair, opts: AvgPool2dOptions = {}): Tensor {
  isTensor('avg_pool2d', 'input', input);
  float32('avg_pool2d', input);
  const k = intPair('avg_pool2d', 'kernelSize', kernelSize, 1);
  const s = intPair('avg_pool2d', 'stride', opts.stride ?? kernelSize, 1);
  const p = intPair('avg_pool2d', 'padding', opts.padding === undefined ? 0 : opts.padding, 0);
  nonEmpty('avg_pool2d', input, 3);
  const [x4, unb] = pool4('avg_pool2d', input);
  const [N, C, H, W] = x4.shape;
  if (p[0] > k[0] / 2 || p[1] > k[1] / 2) throw shapeError(`avg_pool2d: padding ${p} should be at most half of kernel size ${k}`);
  const OH = poolOut(H, k[0], s[0], p[0], 1, !!opts.ceilMode);
  const OW = poolOut(W, k[1], s[1], p[1], 1, !!opts.ceilMode);
  if (OH < 1 || OW < 1) throw shapeError(`avg_pool2d: input ${fmtShape(input.shape)} is too small for kernel ${k}`);
  const div = opts.divisorOverride ?? 0;
  if (typeof div !== 'number' || div < 0 || !Number.isInteger(div) || (opts.divisorOverride !== undefined && opts.divisorOverride !== null && div === 0))
    throw ckError('ERR_ARG', `avg_pool2d: divisorOverride must be a positive integer, got ${String(opts.divisorOverride)}`, 'RangeError');
  const params = [N, C, H, W, OH, OW, k[0], k[1], s[0], s[1], p[0], p[1], 1, 1, opts.countIncludePad === false ? 0 : 1, div];
  const xc = contig(x4);
  const y = Tensor.empty([N, C, OH, OW], 'float32', input.device);
  try {
    native.avgPoolForward(params, xc.storage, xc.offset, y.storage, 0);
  } finally {
    xc.dispose();
  }
  if (needsGrad(input)) {
    record(y, 'AvgPool2dBackward', [x4], () => (g) => {
      const gc = contig(g);
      const gx = Tensor.empty([N, C, H, W], 'float32', g.device);
      try {
        native.avgPoolBackward(params, gc.storage, gc.offset, gx.storage, 0);
      } finally {
        gc.dispose();
      }
      return [gx];
    });
  }
  return unbatch(y, unb, x4);
}

export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair | [number | null, number | null]): Tensor {
  isTensor('adaptive_avg_pool2d', 'input', input);
  float32('adaptive_avg_pool2d', input);
  const [x4, unb] = pool4('adaptive_avg_pool2d', input);
  const [N, C, H, W] = x4.shape;
  const o = Array.isArray(outputSize) ? outputSize : [outputSize, outputSize];
  if (outputSize === null || outputSize === undefined || o.length !== 2 || o.some((v) => v !== null && !(typeof v === 'number' && Number.isInteger(v)))) {
    if (unb) x4.dispose();
    throw ckError('ERR_ARG', `adaptive_avg_pool2d: outputSize must be an integer or a pair of integers (or null), got ${JSON.stringify(outputSize)}`, 'TypeError');
  }
  const OH = o[0] ?? H;
  const OW = o[1] ?? W;
  if (OH === 1 && OW === 1 && N * C * H * W === 0) {
    // PyTorch computes a 1x1 output as the mean over the plane, with no check: NaN for an empty plane.
    if (unb) x4.dispose();
    const m = input.mean([-2, -1], { keepdim: true });
    return m;
  }
  try {
    nonEmpty('adaptive_avg_pool2d', input, 2);
    if (!(OH >= 0 && OW >= 0)) throw ckError('ERR_ARG', `adaptive_avg_pool2d: output size ${o} must be >= 0`, 'RangeError');
  } catch (e) {
    if (unb) x4.dispose();
    throw e;
  }
  if (N * C * OH * OW === 0) {
    if (unb) x4.dispose();
    const e = Tensor.empty(unb ? [C, OH, OW] : [N, C, OH, OW], 'float32', input.device);
    if (!needsGrad(input)) return e;
    const inShape = [...input.shape];
    const zeroOut = (unb ? 1 : C) * OH * OW === 0; // PyTorch's backward refuses an empty non-batch dim
    return record(e, 'AdaptiveAvgPool2dBackward', [input], () => (g) => {
      // As PyTorch's backward kernel, which refuses an empty output plane.
      if (zeroOut) throw shapeError(`adaptive_avg_pool2d backward: the gradient of shape ${fmtShape(g.shape)} has an empty plane`);
      const z = Tensor.empty(inShape, 'float32', g.device);
      if (z.numel()) native.fill(0, z.storage, 0, z.numel(), 0);
      return [z];
    });
  }
  const xc = contig(x4);
  const y = Tensor.empty([N, C, OH, OW], 'float32', input.device);
  try {
    native.adaptiveAvgPoolForward(N, C, H, W, OH, OW, xc.storage, xc.offset, y.storage, 0);
  } finally {
    xc.dispose();
  }
  if (needsGrad(input)) {
    record(y, 'AdaptiveAvgPool2dBackward', [x4], () => (g) => {
      const gc = contig(g);
      const gx = Tensor.empty([N, C, H, W], 'float32', g.device);
      try {
        native.adaptiveAvgPoolBackward(N, C, H, W, OH, OW, gc.storage, gc.offset, gx.storage, 0);
      } finally {
        gc.dispose();
      }
      return [gx];
    });
  }
  return unbatch(y, unb, x4);
}

// ---- activations -------------------------------------------------------------------------------------

export function relu(x: Tensor): Tensor {
  isTensor('relu', 'input', x);
  return x.relu();
}

/** relu(x + b), b broadcast over channel dim 1 of a (N, C, ...) input: one kernel each way. */
export function biasRelu(x: Tensor, b: Tensor): Tensor {
  float32('bias_relu', x);
  if (x.ndim < 2 || b.ndim !== 1 || b.shape[0] !== x.shape[1])
    throw shapeError(`bias_relu: bias ${fmtShape(b.shape)} does not match channels of input ${fmtShape(x.shape)}`);
  sameDevice('bias_relu', x, b);
  const [N, C] = x.shape;
  const L = numelOf(x.shape.slice(2));
  const xc = contig(x);
  const bc = contig(b);
  const y = Tensor.empty(x.shape, 'float32', x.device);
  try {
    native.biasReluForward(N, C, L, xc.storage, xc.offset, bc.storage, bc.offset, y.storage, 0);
  } finally {
    xc.dispose();
    bc.dispose();
  }
  if (!needsGrad(x, b)) return y;
  const needB = b.requiresGrad;
  const needX = x.requiresGrad;
  return record(y, 'BiasReluBackward', [x, b], (save) => {
    const sy = save(y);
    return (g) => {
      const gc = contig(g);
      const gx = Tensor.empty(x.shape, 'float32', g.device);
      const gb = needB ? Tensor.empty([C], 'float32', g.device) : null;
      try {
        native.biasReluBackward(N, C, L, gc.storage, gc.offset, sy.storage, sy.offset, gx.storage, 0, gb ? gb.storage : null, 0);
      } finally {
        gc.dispose();
      }
      return [needX ? gx : (gx.dispose(), null), gb];
    };
  });
}

/** relu(a + b) for same-shaped tensors (a ResNet block's residual join): one kernel each way. */
export function addRelu(a: Tensor, b: Tensor): Tensor {
  float32('add_relu', a);
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i]))
    throw shapeError(`add_relu: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} must match`);
  sameDevice('add_relu', a, b);
  const n = a.numel();
  const ac = contig(a);
  const bc = contig(b);
  const y = Tensor.empty(a.shape, 'float32', a.device);
  try {
    native.addReluForward(n, ac.storage, ac.offset, bc.storage, bc.offset, y.storage, 0);
  } finally {
    ac.dispose();
    bc.dispose();
  }
  if (!needsGrad(a, b)) return y;
  const needA = a.requiresGrad;
  const needB = b.requiresGrad;
  return record(y, 'AddReluBackward', [a, b], (save) => {
    const sy = save(y);
    return (g) => {
      const gx = reluGrad(g, sy);
      if (needA && needB) return [gx, gx.clone()];
      return needA ? [gx, null] : [null, gx];
    };
  });
}

// ---- dropout -----------------------------------------------------------------------------------------

/** Zeroes elements with probability p and scales the rest by 1/(1-p); the identity when not training. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  isTensor('dropout', 'input', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw ckError('ERR_ARG', `dropout: probability must be in [0, 1], got ${p}`, 'RangeError');
  if (!training || p === 0) return x.reshape([...x.shape]);
  if (p === 1) return x.mul(0); // as PyTorch: input * 0 (NaN and inf inputs give NaN)
  float32('dropout', x);
  const n = x.numel();
  const xc = contig(x);
  const y = Tensor.empty(x.shape, 'float32', x.device);
  const mask = Tensor.empty(x.shape, 'float32', x.device);
  const [hi, lo, off] = takeRandom(n);
  try {
    native.dropoutForward(n, xc.storage, xc.offset, p, hi, lo, off, y.storage, 0, mask.storage, 0);
  } finally {
    xc.dispose();
  }
  if (needsGrad(x)) record(y, 'DropoutBackward', [x], (save) => {
    const sm = save(mask);
    return (g) => [ew.mul(g, sm)];
  });
  mask.dispose();
  return y;
}

// ---- softmax and losses ------------------------------------------------------------------------------

function softmaxImpl(x: Tensor, dim: number | null, log: boolean): Tensor {
  isTensor(log ? 'log_softmax' : 'softmax', 'input', x);
  // dim null: PyTorch's legacy implicit choice (0 for ranks 0, 1 and 3, else 1).
  if (dim === null) dim = [0, 1, 3].includes(x.ndim) ? 0 : 1;
  const d = normDim(dim, x.ndim);
  float32(log ? 'log_softmax' : 'softmax', x);
  if (x.ndim === 0) {
    const y = ew.mul(x, 0);
    const r = log ? y : ew.add(y, 1);
    if (r !== y) y.dispose();
    // Over one element: log_softmax 0 and softmax 1, gradient 0 (NaN where the input is not finite).
    return needsGrad(x) ? record(r, log ? 'LogSoftmaxBackward' : 'SoftmaxBackward', [x], () => (g) => [ew.mul(g, 0)]) : r;
  }
  const last = d === x.ndim - 1;
  const perm = [...Array(x.ndim).keys()].filter((i) => i !== d).concat([d]);
  const xp = last ? x.detach() : x.detach().permute(perm);
  const xc = contig(xp);
  xp.dispose();
  const K = x.shape[d];
  const R = x.numel() / Math.max(K, 1);
  const yp = Tensor.empty(xc.shape, 'float32', x.device);
  try {
    if (x.numel()) native.softmaxForward(R, K, xc.storage, xc.offset, yp.storage, 0, log);
  } finally {
    xc.dispose();
  }
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  const y = last ? yp : contig(yp.permute(inv));
  if (!last) yp.dispose();
  if (!needsGrad(x)) return y;
  return record(y, log ? 'LogSoftmaxBackward' : 'SoftmaxBackward', [x], (save) => {
    const sy = save(y);
    return (g) => {
      const gp = last ? contig(g) : contig(g.permute(perm));
      const ys = last ? sy.detach() : contig(sy.permute(perm));
      const dx = Tensor.empty(gp.shape, 'float32', g.device);
      try {
        native.softmaxBackward(R, K, ys.storage, ys.offset, gp.storage, gp.offset, dx.storage, 0, log);
      } finally {
        gp.dispose();
        ys.dispose();
      }
      if (last) return [dx];
      const r = contig(dx.permute(inv));
      dx.dispose();
      return [r];
    };
  });
}

export function softmax(x: Tensor, dim: number | null = -1): Tensor {
  return softmaxImpl(x, dim, false);
}
export function logSoftmax(x: Tensor, dim: number | null = -1): Tensor {
  return softmaxImpl(x, dim, true);
}

export type Reduction = 'mean' | 'sum' | 'none';
export interface NllOptions {
  ignoreIndex?: number;
  reduction?: Reduction;
}
export interface CrossEntropyOptions extends NllOptions {
  labelSmoothing?: number;
}

// (N, C) or (N, C, d1, ...) -> (R, C) rows with targets (R); returns [rows, targets, restShape]
function rowsOf(what: string, input: Tensor, target: Tensor): [Tensor, Tensor, number[]] {
  isTensor(what, 'input', input);
  isTensor(what, 'target', target);
  if (input.dtype !== 'float32') throw ckError('ERR_DTYPE', `${what}: input must be a float32 tensor, got ${input.dtype}`, 'TypeError');
  if (target.dtype !== 'int32') throw ckError('ERR_DTYPE', `${what}: target must hold class indices (int32/int64), got ${target.dtype}`, 'TypeError');
  sameDevice(what, input, target);
  if (input.ndim === 1) {
    if (target.ndim !== 0) throw shapeError(`${what}: input ${fmtShape(input.shape)} needs a 0-d target, got ${fmtShape(target.shape)}`);
    return [input.unsqueeze(0), target.reshape([1]), []];
  }
  if (input.ndim < 2) throw shapeError(`${what}: expected input (N, C) or (N, C, ...), got ${fmtShape(input.shape)}`);
  const want = [input.shape[0], ...input.shape.slice(2)];
  if (target.ndim !== want.length || target.shape.some((s, i) => s !== want[i]))
    throw shapeError(`${what}: input ${fmtShape(input.shape)} needs target ${fmtShape(want)}, got ${fmtShape(target.shape)}`);
  if (input.ndim === 2) return [input.reshape([...input.shape]), target.reshape([...target.shape]), [input.shape[0]]];
  const C = input.shape[1];
  const perm = [0, ...Array.from({ length: input.ndim - 2 }, (_, i) => i + 2), 1];
  const moved = input.permute(perm);
  const rows = moved.reshape([-1, C]);
  moved.dispose();
  return [rows, target.reshape([-1]), want];
}

// Per-row negative log-likelihood (R) of rows of log-probabilities (R, C); 0 for ignored rows.
function nllRows(logp: Tensor, target: Tensor, ignoreIndex: number): Tensor {
  const [R, K] = logp.shape;
  const lc = contig(logp);
  const tc = contig(target);
  const loss = Tensor.empty([R], 'float32', logp.device);
  try {
    native.nllForward(R, K, lc.storage, lc.offset, tc.storage, tc.offset, ignoreIndex, loss.storage, 0);
  } catch (e) {
    loss.dispose();
    throw e;
  } finally {
    lc.dispose();
  }
  if (!needsGrad(logp)) {
    tc.dispose();
    return loss;
  }
  record(loss, 'NllLossBackward', [logp], (save) => {
    const st = save(tc);
    return (g) => {
      const gc = contig(g);
      const d = Tensor.empty([R, K], 'float32', g.device);
      try {
        native.nllBackward(R, K, st.storage, st.offset, ignoreIndex, gc.storage, gc.offset, d.storage, 0);
      } finally {
        gc.dispose();
      }
      return [d];
    };
  });
  tc.dispose();
  return loss;
}

function reduceLoss(perRow: Tensor, target: Tensor, ignoreIndex: number, reduction: Reduction, restShape: number[]): Tensor {
  if (reduction === 'none') return perRow.reshape(restShape);
  const s = perRow.sum();
  if (reduction === 'sum') return s;
  const valid = ew.binary(target, ignoreIndex, ew.B.Ne);
  const cnt = valid.sum();
  const cntF = cnt.float();
  const r = s.div(cntF);
  for (const t of [s, valid, cnt, cntF]) t.dispose();
  return r;
}

/**
 * ignoreIndex as PyTorch's int64 argument: an integer below 2**63 in magnitude. Targets are int32, so one
 * outside the int32 range can match no target: it becomes INT32_MIN (never a valid class) for the kernels
 * and the mean's count alike, after checking no target holds that value (PyTorch: out of bounds).
 */
function ignoreIndexOf(what: string, v: unknown, target: Tensor): number {
  const ii = v ?? -100;
  if (typeof ii !== 'number' || !Number.isInteger(ii))
    throw ckError('ERR_ARG', `${what}: ignoreIndex must be an integer, got ${String(ii)}`, 'TypeError');
  if (ii >= 2 ** 63 || ii < -(2 ** 63)) throw ckError('ERR_ARG', `${what}: ignoreIndex ${ii} does not fit in int64`, 'RangeError');
  if (ii >= -(2 ** 31) && ii < 2 ** 31) return ii;
  if (target.numel() > 0) {
    const m = target.min();
    const lo = m.item();
    m.dispose();
    if (lo === -(2 ** 31)) throw ckError('ERR_ARG', `${what}: target ${lo} is out of bounds`, 'RangeError');
  }
  return -(2 ** 31);
}

export function nllLoss(input: Tensor, target: Tensor, opts: NllOptions = {}): Tensor {
  const reduction = reductionOf('nll_loss', opts.reduction);
  const [rows, t, rest] = rowsOf('nll_loss', input, target);
  const ignoreIndex = ignoreIndexOf('nll_loss', opts.ignoreIndex, target);
  const per = nllRows(rows, t, ignoreIndex);
  const out = reduceLoss(per, t, ignoreIndex, reduction, rest);
  for (const x of [rows, t, per]) x.dispose();
  return out;
}

/** Cross-entropy from logits and class indices, with labelSmoothing, reduction and ignoreIndex as PyTorch. */
export function crossEntropy(input: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const eps = opts.labelSmoothing ?? 0;
  // PyTorch 1.13 refuses only values above 1 and smooths only above 0 (a negative or NaN value is no smoothing).
  if (typeof eps !== 'number' || eps > 1) throw ckError('ERR_ARG', `cross_entropy: labelSmoothing must be in [0, 1], got ${eps}`, 'RangeError');
  const reduction = reductionOf('cross_entropy', opts.reduction);
  const [rows, t, rest] = rowsOf('cross_entropy', input, target);
  const ignoreIndex = ignoreIndexOf('cross_entropy', opts.ignoreIndex, target);
  const C = rows.shape[1];
  const logp = logSoftmax(rows, 1);
  const nll = nllRows(logp, t, ignoreIndex);
  let per = nll;
  if (eps > 0) {
    // Smoothing term per row: -sum_c logp / C, zero for ignored rows.
    const valid = ew.binary(t, ignoreIndex, ew.B.Ne).float();
    const s = logp.sum(1);
    const sm = s.mul(valid);
    const smooth = sm.mul(-eps / C);
    const main = nll.mul(1 - eps);
    per = main.add(smooth);
    for (const x of [valid, s, sm, smooth, main, nll]) x.dispose();
  }
  const out = reduceLoss(per, t, ignoreIndex, reduction, rest);
  for (const x of [rows, t, logp, per]) x.dispose();
  return out;
}

/** Mean squared error; input and target broadcast together, as PyTorch (which warns when the shapes differ). */
export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  isTensor('mse_loss', 'input', input);
  isTensor('mse_loss', 'target', target);
  const r = reductionOf('mse_loss', opts.reduction);
  if (input.dtype !== 'float32' && target.dtype !== 'float32')
    throw ckError('ERR_DTYPE', `mse_loss: input and target are both ${input.dtype}; one must be float32`, 'TypeError');
  const d = input.sub(target);
  const sq = d.square();
  d.dispose();
  if (r === 'none') return sq;
  const out = r === 'sum' ? sq.sum() : sq.mean();
  sq.dispose();
  return out;
}

export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  isTensor('linear', 'input', input);
  isTensor('linear', 'weight', weight);
  isTensor('linear', 'bias', bias, true);
  if (weight.ndim !== 2) throw shapeError(`linear: weight must be 2-D (out, in), got ${fmtShape(weight.shape)}`);
  if (input.ndim < 1 || input.shape[input.ndim - 1] !== weight.shape[1])
    throw shapeError(`linear: input ${fmtShape(input.shape)} has ${input.shape[input.ndim - 1]} features, weight ${fmtShape(weight.shape)} expects ${weight.shape[1]}`);
  // A bias of one element broadcasts over the outputs, as PyTorch's
  if (bias && (bias.ndim !== 1 || (bias.shape[0] !== weight.shape[0] && bias.shape[0] !== 1)))
    throw shapeError(`linear: bias ${fmtShape(bias.shape)} does not match weight ${fmtShape(weight.shape)}`);
  sameDevice('linear', input, weight, bias);
  const wt = weight.t();
  const y = input.matmul(wt);
  wt.dispose();
  if (!bias) return y;
  const out = y.add(bias);
  y.dispose();
  return out;
}

export { sumTo };

// ---- activations with bounds, concatenation -----------------------------------------------------------

/** min(max(x, minVal), maxVal), as torch.nn.functional.hardtanh. */
export function hardtanh(x: Tensor, minVal = -1, maxVal = 1): Tensor {
  isTensor('hardtanh', 'input', x);
  if (!(minVal <= maxVal)) throw ckError('ERR_ARG', `hardtanh: min_val ${minVal} must not exceed max_val ${maxVal}`, 'RangeError');
  return x.clamp(minVal, maxVal);
}

/** min(max(x, 0), 6), as torch.nn.functional.relu6 (MobileNetV2's activation). */
export function relu6(x: Tensor): Tensor {
  return hardtanh(x, 0, 6);
}

/**
 * torch.cat: tensors of one dtype and device, equal in every dim but `dim`, joined along it (the
 * Inception blocks' channel concatenation). The gradient of each input is its slice of the output's.
 */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw ckError('ERR_ARG', 'cat: expected a non-empty array of tensors', 'TypeError');
  tensors.forEach((t, i) => isTensor('cat', `tensors[${i}]`, t));
  const first = tensors[0];
  const d = normDim(dim, first.ndim);
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i]))
      throw shapeError(`cat: sizes must match except in dim ${d}, got ${tensors.map((x) => fmtShape(x.shape)).join(' and ')}`);
    if (t.dtype !== first.dtype) throw ckError('ERR_ARG', `cat: expected tensors of one dtype, got ${first.dtype} and ${t.dtype}`, 'TypeError');
    sameDevice('cat', first, t);
  }
  const sizes = tensors.map((t) => t.shape[d]);
  const offs: number[] = [];
  let total = 0;
  for (const s of sizes) {
    offs.push(total);
    total += s;
  }
  const shape = [...first.shape];
  shape[d] = total;
  const out = Tensor.empty(shape, first.dtype, first.device);
  tensors.forEach((t, i) => {
    if (!sizes[i]) return;
    const v = out.narrow(d, offs[i], sizes[i]);
    v.copyFrom(t);
    v.dispose();
  });
  if (!needsGrad(...tensors)) return out;
  const need = tensors.map((t) => t.requiresGrad);
  return record(out, 'CatBackward', tensors, () => (g) =>
    need.map((n, i) => {
      if (!n) return null;
      const v = g.narrow(d, offs[i], sizes[i]);
      const c = ew.unary(v, ew.U.Copy);
      v.dispose();
      return c;
    }),
  );
}
