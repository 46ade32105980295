/**
 * Reductions over any set of dims: the reduced dims are permuted to the end and made contiguous (no
 * copy when they already are), then each row reduces in the native kernel.
 */
import { native } from '../binding';
import { operand } from './native_call';
import { DTYPE_CODE } from '../dtype';
import { ckError, fmtShape, shapeError } from '../errors';
import { normDim, numelOf } from '../shape';
import { ReduceOptions, Tensor, VarOptions } from '../tensor';
import { U, unary } from './elementwise';

/** Must match ck::ReduceOp. */
export const R = { Sum: 0, Mean: 1, Max: 2, Min: 3, ArgMax: 4, ArgMin: 5, Var: 6, Prod: 7 } as const;
const NAMES = ['sum', 'mean', 'max', 'min', 'argmax', 'argmin', 'var', 'prod'];

function normDims(x: Tensor, dim: number | number[] | undefined): number[] {
  // An empty list reduces every dim, as PyTorch 1.13's sum/mean/amax(dim=[]).
  if (dim === undefined || (Array.isArray(dim) && dim.length === 0)) return [...Array(x.ndim).keys()];
  if (typeof dim !== 'number' && !Array.isArray(dim)) throw ckError('ERR_ARG', `reduction: dim must be a number or a list of numbers, got ${typeof dim}`, 'TypeError');
  const ds = (Array.isArray(dim) ? dim : [dim]).map((d) => normDim(d, x.ndim));
  if (new Set(ds).size !== ds.length) throw shapeError(`reduction dims ${fmtShape(ds)} repeat a dimension`);
  return ds.sort((a, b) => a - b);
}

function keepdimOf(opts: ReduceOptions | boolean): boolean {
  return typeof opts === 'boolean' ? opts : !!opts.keepdim;
}

function run(x: Tensor, op: number, dims: number[], keepdim: boolean, correction = 0): Tensor {
  if (x.ndim === 0) dims = [];
  const kept = [...Array(x.ndim).keys()].filter((d) => !dims.includes(d));
  const outer = numelOf(kept.map((d) => x.shape[d]));
  const inner = numelOf(dims.map((d) => x.shape[d]));
  if ((op === R.Max || op === R.Min || op === R.ArgMax || op === R.ArgMin) && inner === 0)
    throw shapeError(`${NAMES[op]}: cannot reduce over an empty dimension of a ${fmtShape(x.shape)} tensor`);
  if ((op === R.Mean || op === R.Var) && x.dtype !== 'float32')
    throw ckError('ERR_DTYPE', `${op === R.Mean ? 'mean' : 'var/std'}: needs a float32 input, got ${x.dtype} (convert it with .float())`, 'TypeError');
  const src = x;
  const perm = src.permute([...kept, ...dims]);
  const c = perm.contiguous();
  perm.dispose();
  const outShape = keepdim ? x.shape.map((s, d) => (dims.includes(d) ? 1 : s)) : kept.map((d) => x.shape[d]);
  const outDt = op === R.ArgMax || op === R.ArgMin ? 'int32' : src.dtype;
  const y = Tensor.empty(outShape, outDt, x.device);
  try {
    native.reduce({ op, dtype: DTYPE_CODE[src.dtype], outer, inner, correction }, { input: operand(c), output: operand(y) });
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    c.dispose();
    if (src !== x) src.dispose();
  }
  return y;
}

export function reduce(x: Tensor, op: number, dim: number | number[] | undefined, opts: ReduceOptions | boolean): Tensor {
  return run(x, op, normDims(x, dim), keepdimOf(opts));
}

export function arg(x: Tensor, op: number, dim: number | undefined, keepdim: boolean): Tensor {
  if (dim === undefined) {
    const flat = x.reshape([-1]);
    const y = run(flat, op, [0], false);
    flat.dispose();
    if (keepdim) {
      const r = y.reshape(x.shape.map(() => 1));
      y.dispose();
      return r;
    }
    return y;
  }
  return run(x, op, [normDim(dim, x.ndim)], keepdim);
}

export function withIndices(x: Tensor, op: number, dim: number, keepdim: boolean): { values: Tensor; indices: Tensor } {
  const d = normDim(dim, x.ndim);
  return { values: run(x, op, [d], keepdim), indices: run(x, op === R.Max ? R.ArgMax : R.ArgMin, [d], keepdim) };
}

export function variance(x: Tensor, dim: number | number[] | undefined, opts: VarOptions): Tensor {
  if (opts.correction !== undefined && opts.unbiased !== undefined)
    throw ckError('ERR_ARG', 'var: give correction or unbiased, not both', 'TypeError');
  const correction = opts.correction ?? (opts.unbiased === false ? 0 : 1);
  return run(x, R.Var, normDims(x, dim), !!opts.keepdim, correction);
}
