/**
 * Elementwise ops: broadcasting, dtype promotion and scalar fast paths in TypeScript; the arithmetic in
 * the native kernels (csrc/cpu/elementwise.cc, cuda/elementwise.cu), which read any strided view.
 */
import { native } from '../binding';
import { DType, DTYPE_CODE, promote } from '../dtype';
import { ckError } from '../errors';
import { broadcastShapes } from '../shape';
import { Tensor, TensorOrScalar } from '../tensor';

/** Must match ck::UnaryOp in csrc/core/types.h. */
export const U = {
  Copy: 0, Neg: 1, Exp: 2, Log: 3, Sqrt: 4, Abs: 5, Relu: 6, Sigmoid: 7, Tanh: 8, Clamp: 9, PowScalar: 10,
  AddScalar: 11, MulScalar: 12, RsubScalar: 13, RdivScalar: 14, Sign: 15, Square: 16, Reciprocal: 17, Rsqrt: 18,
  Floor: 19, Ceil: 20, Round: 21, Log1p: 22, Expm1: 23, Sin: 24, Cos: 25,
} as const;
/** Must match ck::BinaryOp. */
export const B = { Add: 0, Sub: 1, Mul: 2, Div: 3, Pow: 4, Maximum: 5, Minimum: 6, Eq: 7, Ne: 8, Lt: 9, Le: 10, Gt: 11, Ge: 12 } as const;

const INT_UNARY = new Set<number>([U.Copy, U.Neg, U.Abs, U.Relu, U.Clamp, U.AddScalar, U.MulScalar, U.RsubScalar, U.Sign, U.Square, U.Floor, U.Ceil, U.Round]);
const COMPARISON = new Set<number>([B.Eq, B.Ne, B.Lt, B.Le, B.Gt, B.Ge]);

/** y = op(x) into a new contiguous tensor; int32 inputs of float-only ops are promoted to float32. */
export function unary(x: Tensor, op: number, a = 0, b = 0, outDtype?: DType): Tensor {
  let src = x;
  if (op !== U.Copy && x.dtype === 'int32' && !INT_UNARY.has(op)) src = unary(x, U.Copy, 0, 0, 'float32');
  const dt = outDtype ?? src.dtype;
  const y = Tensor.empty(src.shape, dt, src.device);
  try {
    native.unary(op, src.dtypeCode, DTYPE_CODE[dt], src.storage, src.layout(), y.storage, a, b);
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    if (src !== x) src.dispose();
  }
  return y;
}

function checkDevices(a: Tensor, b: Tensor, op: string): void {
  if (!a.device.equals(b.device))
    throw ckError('ERR_DEVICE', `${op}: tensors are on different devices (${a.device} and ${b.device}); move one with .to()`);
}

const OP_NAMES = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];

/** Broadcasting binary op of two tensors (or a tensor and a number). */
export function binary(a: Tensor, bIn: TensorOrScalar, op: number): Tensor {
  const name = OP_NAMES[op];
  if (!(bIn instanceof Tensor) && typeof bIn !== 'number')
    throw ckError('ERR_ARG', `${name}: the other operand must be a Tensor or a number, got ${bIn === null ? 'null' : typeof bIn}`, 'TypeError');
  let b: Tensor;
  let ownB = false;
  if (typeof bIn === 'number') {
    const dt: DType = Number.isInteger(bIn) && a.dtype === 'int32' ? 'int32' : 'float32';
    b = Tensor.empty([], dt, a.device);
    native.fill(DTYPE_CODE[dt], b.storage, 0, 1, bIn);
    ownB = true;
  } else b = bIn;
  checkDevices(a, b, name);
  // True division and pow of integers give floats, as in PyTorch.
  let common = promote(a.dtype, b.dtype);
  if ((op === B.Div || op === B.Pow) && common === 'int32') common = 'float32';
  const outDt: DType = COMPARISON.has(op) ? 'int32' : common;
  const shape = broadcastShapes(a.shape, b.shape, name);
  const ca = a.dtype === common ? a : unary(a, U.Copy, 0, 0, common);
  const cb = b.dtype === common ? b : unary(b, U.Copy, 0, 0, common);
  const ea = ca.expand(shape);
  const eb = cb.expand(shape);
  const y = Tensor.empty(shape, outDt, a.device);
  try {
    native.binary(op, DTYPE_CODE[common], DTYPE_CODE[outDt], ea.storage, ea.layout(), eb.storage, eb.layout(), y.storage);
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    ea.dispose();
    eb.dispose();
    if (ca !== a) ca.dispose();
    if (cb !== b) cb.dispose();
    if (ownB) b.dispose();
  }
  return y;
}

function scalarDtype(x: Tensor, s: number): DType {
  return x.dtype === 'int32' && Number.isInteger(s) ? 'int32' : 'float32';
}

function scalarOp(x: Tensor, op: number, s: number): Tensor {
  const dt = scalarDtype(x, s);
  if (dt === x.dtype) return unary(x, op, s);
  const f = unary(x, U.Copy, 0, 0, dt);
  const y = unary(f, op, s);
  f.dispose();
  return y;
}

export function add(a: Tensor, b: TensorOrScalar, alpha = 1): Tensor {
  if (typeof b === 'number') return scalarOp(a, U.AddScalar, b * alpha);
  if (alpha === 1) return binary(a, b, B.Add);
  const sb = scalarOp(b, U.MulScalar, alpha);
  const y = binary(a, sb, B.Add);
  sb.dispose();
  return y;
}

export function sub(a: Tensor, b: TensorOrScalar, alpha = 1): Tensor {
  if (typeof b === 'number') return scalarOp(a, U.AddScalar, -b * alpha);
  if (alpha === 1) return binary(a, b, B.Sub);
  const sb = scalarOp(b, U.MulScalar, alpha);
  const y = binary(a, sb, B.Sub);
  sb.dispose();
  return y;
}

export function mul(a: Tensor, b: TensorOrScalar): Tensor {
  return typeof b === 'number' ? scalarOp(a, U.MulScalar, b) : binary(a, b, B.Mul);
}

export function div(a: Tensor, b: TensorOrScalar): Tensor {
  if (typeof b === 'number') {
    const f = a.dtype === 'float32' ? a : unary(a, U.Copy, 0, 0, 'float32');
    const y = unary(f, U.MulScalar, 1 / b);
    if (f !== a) f.dispose();
    return y;
  }
  return binary(a, b, B.Div);
}

export function pow(a: Tensor, b: TensorOrScalar): Tensor {
  if (typeof b === 'number') {
    if (a.dtype === 'int32' && Number.isInteger(b) && b >= 0) return binary(a, b, B.Pow);
    return unary(a, U.PowScalar, b);
  }
  return binary(a, b, B.Pow);
}

/** Reverse ops with a scalar on the left: s - x, s / x. */
export function rsub(x: Tensor, s: number): Tensor {
  return scalarOp(x, U.RsubScalar, s);
}
export function rdiv(x: Tensor, s: number): Tensor {
  return unary(x, U.RdivScalar, s);
}

export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  if ((min === undefined || min === null) && (max === undefined || max === null))
    throw ckError('ERR_ARG', 'clamp: at least one of min and max must be given', 'TypeError');
  for (const [name, v] of [['min', min], ['max', max]] as const)
    if (v !== undefined && v !== null && typeof v !== 'number')
      throw ckError('ERR_ARG', `clamp: ${name} must be a number, got ${typeof v}`, 'TypeError');
  const lo = min ?? NaN;
  const hi = max ?? NaN;
  // Both bounds given and one is NaN: NaN everywhere, as PyTorch 1.13 (a lone NaN bound leaves x as it is).
  if (min != null && max != null && (Number.isNaN(min) || Number.isNaN(max))) {
    const f = unary(x, U.Copy, 0, 0, 'float32');
    const y = unary(f, U.MulScalar, NaN);
    f.dispose();
    return y;
  }
  if (x.dtype === 'int32' && ((min != null && !Number.isInteger(min)) || (max != null && !Number.isInteger(max)))) {
    const f = unary(x, U.Copy, 0, 0, 'float32');
    const y = unary(f, U.Clamp, lo, hi);
    f.dispose();
    return y;
  }
  return unary(x, U.Clamp, lo, hi);
}
