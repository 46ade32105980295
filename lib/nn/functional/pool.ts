/**
 * pool: max, average and adaptive average 2-d pooling and their backward (csrc/cpu/pool.cc, cuda/pool.cu),
 * tested in test/parity/pool.test.ts and test/cuda/pool.test.ts, benchmarked in benchmarks/suites/pool.js.
 */
import { native, Pool2dParams } from '../../binding';
import { needsGrad, record } from '../../autograd/functions';
import { ckError, fmtShape, shapeError } from '../../errors';
import { callNative, fillRun } from '../../ops/native_call';
import { Tensor } from '../../tensor';
import { float32, intPair, isTensor, Pair } from './common';

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

function poolParams(N: number, C: number, H: number, W: number, OH: number, OW: number, k: [number, number], s: [number, number],
  p: [number, number], d: [number, number], countIncludePad: boolean, divisorOverride: number): Pool2dParams {
  return { N, C, H, W, OH, OW, kh: k[0], kw: k[1], sh: s[0], sw: s[1], ph: p[0], pw: p[1], dh: d[0], dw: d[1], countIncludePad, divisorOverride };
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

/**
 * The window geometry max and avg pooling share: the argument checks (named for `what`), the 4-D input and
 * the output size; then the kernel params.
 */
function windowPool(what: string, input: Tensor, kernelSize: Pair, opts: MaxPool2dOptions, withDilation: boolean) {
  isTensor(what, 'input', input);
  float32(what, input);
  const k = intPair(what, 'kernelSize', kernelSize, 1);
  const s = intPair(what, 'stride', opts.stride ?? kernelSize, 1);
  const p = intPair(what, 'padding', opts.padding === undefined ? 0 : opts.padding, 0);
  const d = withDilation ? intPair(what, 'dilation', opts.dilation === undefined ? 1 : opts.dilation, 1) : ([1, 1] as [number, number]);
  nonEmpty(what, input, 3);
  const [x4, unb] = pool4(what, input);
  const [N, C, H, W] = x4.shape;
  if (p[0] > k[0] / 2 || p[1] > k[1] / 2) throw shapeError(`${what}: padding ${p} should be at most half of kernel size ${k}`);
  const OH = poolOut(H, k[0], s[0], p[0], d[0], !!opts.ceilMode);
  const OW = poolOut(W, k[1], s[1], p[1], d[1], !!opts.ceilMode);
  if (OH < 1 || OW < 1) throw shapeError(`${what}: input ${fmtShape(input.shape)} is too small for kernel ${k}`);
  const params = (countIncludePad: boolean, divisorOverride: number) => poolParams(N, C, H, W, OH, OW, k, s, p, d, countIncludePad, divisorOverride);
  return { x4, unb, inShape: [N, C, H, W], outShape: [N, C, OH, OW], params };
}

/** Records a pooling backward: gradInput (the input's shape) from the upstream gradient, by `kernel`, which gets `keep` as saved. */
function recordPool(y: Tensor, name: string, x4: Tensor, inShape: number[], kernel: (g: Tensor, gx: Tensor, saved: Tensor[]) => void, keep: Tensor[] = []): void {
  record(y, name, [x4], (save) => {
    const saved = keep.map(save);
    return (g) => {
      const gx = Tensor.empty(inShape, 'float32', g.device);
      kernel(g, gx, saved);
      return [gx];
    };
  });
}

export function maxPool2d(input: Tensor, kernelSize: Pair, opts: MaxPool2dOptions = {}): Tensor {
  const { x4, unb, inShape, outShape, params: make } = windowPool('max_pool2d', input, kernelSize, opts, true);
  const params = make(false, 0);
  const y = Tensor.empty(outShape, 'float32', input.device);
  const idx = Tensor.empty(outShape, 'int32', input.device);
  callNative({ input: x4 }, { output: y, indices: idx }, (o) => native.maxPoolForward(params, o));
  if (needsGrad(input))
    recordPool(y, 'MaxPool2dBackward', x4, inShape, (g, gx, [si]) =>
      callNative({ gradOutput: g, indices: si }, { gradInput: gx }, (o) => native.maxPoolBackward(params, o)), [idx]);
  idx.dispose();
  return unbatch(y, unb, x4);
}

export function avgPool2d(input: Tensor, kernelSize: Pair, opts: AvgPool2dOptions = {}): Tensor {
  const { x4, unb, inShape, outShape, params: make } = windowPool('avg_pool2d', input, kernelSize, opts, false);
  const div = opts.divisorOverride ?? 0;
  if (typeof div !== 'number' || div < 0 || !Number.isInteger(div) || (opts.divisorOverride !== undefined && opts.divisorOverride !== null && div === 0))
    throw ckError('ERR_ARG', `avg_pool2d: divisorOverride must be a positive integer, got ${String(opts.divisorOverride)}`, 'RangeError');
  const params = make(opts.countIncludePad !== false, div);
  const y = Tensor.empty(outShape, 'float32', input.device);
  callNative({ input: x4 }, { output: y }, (o) => native.avgPoolForward(params, o));
  if (needsGrad(input))
    recordPool(y, 'AvgPool2dBackward', x4, inShape, (g, gx) => callNative({ gradOutput: g }, { gradInput: gx }, (o) => native.avgPoolBackward(params, o)));
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
      if (z.numel()) fillRun(z, 0);
      return [z];
    });
  }
  const params = { N, C, H, W, OH, OW };
  const y = Tensor.empty([N, C, OH, OW], 'float32', input.device);
  callNative({ input: x4 }, { output: y }, (o) => native.adaptiveAvgPoolForward(params, o));
  if (needsGrad(input))
    recordPool(y, 'AdaptiveAvgPool2dBackward', x4, [N, C, H, W], (g, gx) =>
      callNative({ gradOutput: g }, { gradInput: gx }, (o) => native.adaptiveAvgPoolBackward(params, o)));
  return unbatch(y, unb, x4);
}
