/**
 * softmax_loss: softmax, log-softmax, negative log-likelihood and cross-entropy, each with its backward
 * (csrc/cpu/softmax_loss.cc, cuda/softmax_loss.cu), and the mean squared error.
 */
import { native } from '../../binding';
import { needsGrad, record } from '../../autograd/functions';
import { rawModule } from '../../autograd/grad_mode';
import * as ewRaw from '../../ops/elementwise';
import { ckError, fmtShape, shapeError } from '../../errors';
import { callNative } from '../../ops/native_call';
import { normDim } from '../../shape';
import { Tensor } from '../../tensor';
import { contig, float32, isTensor, sameDevice } from './common';

const ew = rawModule(ewRaw);

const REDUCTIONS = ['mean', 'sum', 'none'];
function reductionOf(what: string, r: unknown): Reduction {
  const v = r ?? 'mean';
  if (typeof v !== 'string' || !REDUCTIONS.includes(v))
    throw ckError('ERR_ARG', `${what}: reduction must be one of 'mean', 'sum', 'none', got ${JSON.stringify(v) ?? String(v)}`, 'RangeError');
  return v as Reduction;
}

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
  if (x.numel()) callNative({ input: xc }, { output: yp }, (o) => native.softmaxForward({ rows: R, cols: K, log }, o));
  xc.dispose();
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
        callNative({ output: ys, gradOutput: gp }, { gradInput: dx }, (o) => native.softmaxBackward({ rows: R, cols: K, log }, o));
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
  sameDevice(what, { input, target });
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
  const params = { rows: R, classes: K, ignoreIndex };
  const loss = Tensor.empty([R], 'float32', logp.device);
  const { target: tc } = callNative({ input: logp, target }, { loss }, (o) => native.nllForward(params, o), ['target']);
  if (!needsGrad(logp)) {
    tc.dispose();
    return loss;
  }
  record(loss, 'NllLossBackward', [logp], (save) => {
    const st = save(tc);
    return (g) => {
      const d = Tensor.empty([R, K], 'float32', g.device);
      callNative({ target: st, gradLoss: g }, { gradInput: d }, (o) => native.nllBackward(params, o));
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
  // The training loop's case, (N, C) scores on the CPU, mean, no smoothing: one kernel each way.
  if (!(eps > 0) && reduction === 'mean' && input.ndim === 2 && input.device.type === 'cpu' && rows.shape[0] > 0 && C > 0) {
    rows.dispose();
    t.dispose();
    return crossEntropyMean(input, target, ignoreIndex);
  }
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

/** cross_entropy(input (R, C), target (R)) with the mean over non-ignored rows: csrc/cpu/softmax_loss.cc's fused pair. */
function crossEntropyMean(input: Tensor, target: Tensor, ignoreIndex: number): Tensor {
  const [R, K] = input.shape;
  const params = { rows: R, classes: K, ignoreIndex };
  const loss = Tensor.empty([], 'float32', input.device);
  const logp = Tensor.empty([R, K], 'float32', input.device);
  const { target: tc } = callNative({ input, target }, { loss, logp }, (o) => native.crossEntropyForward(params, o), ['target']);
  if (needsGrad(input)) {
    record(loss, 'CrossEntropyBackward', [input], (save) => {
      const sl = save(logp), st = save(tc);
      return (g) => {
        const d = Tensor.empty([R, K], 'float32', g.device);
        callNative({ logp: sl, target: st, gradLoss: g }, { gradInput: d }, (o) => native.crossEntropyBackward(params, o));
        return [d];
      };
    });
  }
  tc.dispose();
  logp.dispose();
  return loss;
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
