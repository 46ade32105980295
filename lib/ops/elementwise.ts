/**
 * Elementwise ops: broadcasting, dtype promotion and scalar fast paths in TypeScript; the arithmetic in
 * the native kernels (csrc/cpu/elementwise.cc, cuda/elementwise.cu), which read any strided view.
 */
import { native } from '../binding';
import { byteRange, fillRun, operand, produce, viewOperand } from './native_call';
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
    native.unary({ op, inDtype: src.dtypeCode, outDtype: DTYPE_CODE[dt], a, b }, { input: viewOperand(src), output: operand(y) });
    if (op === U.Sign && dt === 'float32' && y.numel()) {
      // sign(NaN) is 0 in PyTorch: keep y where x == x (one native select pass).
      const m = Tensor.empty(src.shape, 'float32', src.device);
      const yc = Tensor.empty(src.shape, 'float32', src.device);
      try {
        native.binary({ op: B.Eq, inDtype: src.dtypeCode, outDtype: DTYPE_CODE.float32 }, { a: viewOperand(src), b: viewOperand(src), output: operand(m) });
        // y * (m > 0): ReLU's backward kernel as a select
        native.reluBackward({ n: y.numel() }, { gradOutput: operand(y), output: operand(m), gradInput: operand(yc) });
        native.copyBytes(byteRange(y), byteRange(yc), y.numel() * 4);
      } finally {
        m.dispose();
        yc.dispose();
      }
    }
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
    const dt = scalarDtype(a, bIn, name);
    b = Tensor.empty([], dt, a.device);
    fillRun(b, bIn);
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
  const temps = [ea, eb, ca !== a ? ca : null, cb !== b ? cb : null, ownB ? b : null];
  return produce(y, temps, () =>
    native.binary({ op, inDtype: DTYPE_CODE[common], outDtype: DTYPE_CODE[outDt] }, { a: viewOperand(ea), b: viewOperand(eb), output: operand(y) }),
  );
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** int32 for an integer scalar with an int32 tensor (refused beyond int32: convkit has no int64), else float32. */
function scalarDtype(x: Tensor, s: number, op = 'op'): DType {
  if (x.dtype !== 'int32' || !Number.isInteger(s)) return 'float32';
  if (s < INT32_MIN || s > INT32_MAX)
    throw ckError('ERR_ARG', `${op}: the integer ${s} does not fit the int32 tensor's dtype (convkit has no int64); use a float32 tensor`, 'RangeError');
  return 'int32';
}

function scalarOp(x: Tensor, op: number, s: number, name = 'op'): Tensor {
  const dt = scalarDtype(x, s, name);
  if (dt === x.dtype) return unary(x, op, s);
  const f = unary(x, U.Copy, 0, 0, dt);
  const y = unary(f, op, s);
  f.dispose();
  return y;
}

function checkAlpha(op: string, a: Tensor, b: TensorOrScalar, alpha: number): void {
  if (typeof alpha !== 'number') throw ckError('ERR_ARG', `${op}: alpha must be a number, got ${typeof alpha}`, 'TypeError');
  const ints = a.dtype === 'int32' && (typeof b === 'number' ? Number.isInteger(b) : b instanceof Tensor && b.dtype === 'int32');
  if (ints && !Number.isInteger(alpha))
    throw ckError('ERR_ARG', `${op}: for integer tensors, alpha must be an integer, got ${alpha}`, 'TypeError');
}

export function add(a: Tensor, b: TensorOrScalar, alpha = 1): Tensor {
  checkAlpha('add', a, b, alpha);
  if (typeof b === 'number') return scalarOp(a, U.AddScalar, b * alpha, 'add');
  if (alpha === 1) return binary(a, b, B.Add);
  const sb = scalarOp(b, U.MulScalar, alpha);
  const y = binary(a, sb, B.Add);
  sb.dispose();
  return y;
}

export function sub(a: Tensor, b: TensorOrScalar, alpha = 1): Tensor {
  checkAlpha('sub', a, b, alpha);
  if (typeof b === 'number') return scalarOp(a, U.AddScalar, -b * alpha, 'sub');
  if (alpha === 1) return binary(a, b, B.Sub);
  const sb = scalarOp(b, U.MulScalar, alpha);
  const y = binary(a, sb, B.Sub);
  sb.dispose();
  return y;
}

export function mul(a: Tensor, b: TensorOrScalar): Tensor {
  return typeof b === 'number' ? scalarOp(a, U.MulScalar, b, 'mul') : binary(a, b, B.Mul);
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

/** Integer a ** b as PyTorch's powi: exact (wrapping) products; negative exponents give 0 except for bases 1 and -1. */
function powi(x: number, e: number): number {
  if (e < 0) return x === 1 ? 1 : x === -1 ? (e % 2 ? -1 : 1) : 0;
  let r = 1;
  let base = x | 0;
  let k = e;
  while (k > 0) {
    if (k & 1) r = Math.imul(r, base);
    base = Math.imul(base, base);
    k = Math.floor(k / 2);
  }
  return r;
}

/** pow of integer tensors (or an int32 tensor and an integer scalar): an int32 result, as PyTorch. */
function intPow(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number' && b < 0) throw ckError('ERR_ARG', 'pow: integers to negative integer powers are not allowed', 'RangeError');
  const bt = typeof b === 'number' ? null : b;
  if (bt) checkDevices(a, bt, 'pow');
  const shape = broadcastShapes(a.shape, bt ? bt.shape : [], 'pow');
  const ea = a.expand(shape);
  const eb = bt ? bt.expand(shape) : null;
  try {
    const da = ea.dataSync();
    const db = eb ? eb.dataSync() : null;
    const out = new Int32Array(da.length);
    for (let i = 0; i < da.length; i++) out[i] = powi(da[i], db ? db[i] : (b as number));
    const y = Tensor.empty(shape, 'int32', a.device);
    if (out.length) native.upload(byteRange(y), out);
    return y;
  } finally {
    ea.dispose();
    eb?.dispose();
  }
}

export function pow(a: Tensor, b: TensorOrScalar): Tensor {
  if (typeof b === 'number') {
    if (a.dtype === 'int32' && Number.isInteger(b)) return intPow(a, b);
    return unary(a, U.PowScalar, b);
  }
  if (!(b instanceof Tensor)) return binary(a, b, B.Pow); // refuses with a coded error
  if (a.dtype === 'int32' && b.dtype === 'int32') return intPow(a, b);
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
  const intBounds = [min, max].every((v) => v == null || Number.isInteger(v));
  for (const v of [min, max])
    if (x.dtype === 'int32' && intBounds && v != null && (v < INT32_MIN || v > INT32_MAX))
      throw ckError('ERR_ARG', `clamp: ${v} cannot be converted to int32 without overflow`, 'RangeError');
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
