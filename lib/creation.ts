/** Creating tensors: from data, constant fills, ranges and seeded random draws. */
import { native } from './binding';
import { CPU, DeviceLike, parseDevice, Device } from './device';
import { DType, DTYPE_CODE, DTypeLike, normalizeDType } from './dtype';
import { ckError, shapeError } from './errors';
import { takeRandom } from './random';
import { checkShape, numelOf } from './shape';
import { NestedArray, Tensor } from './tensor';

export interface TensorOptions {
  dtype?: DTypeLike;
  device?: DeviceLike;
  /** Make the new tensor a leaf that records operations for autograd (float32 only), as requires_grad=True. */
  requiresGrad?: boolean;
}

/** Applies opts.requiresGrad to a freshly made tensor (disposing it if that is refused). */
function withGrad(t: Tensor, opts: TensorOptions): Tensor {
  if (!opts.requiresGrad) return t;
  try {
    return t.requiresGrad_();
  } catch (e) {
    t.dispose();
    throw e;
  }
}

type Data = NestedArray | Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array;

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
    if (cur === undefined) break;
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], out: number[], d = 0): void {
  if (d === shape.length) {
    if (typeof data !== 'number') throw shapeError('tensor(): nested arrays are ragged or hold non-numbers');
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[d])
    throw shapeError(`tensor(): nested arrays are ragged (expected length ${shape[d]} at depth ${d})`);
  for (const x of data) flatten(x, shape, out, d + 1);
}

function upload(host: Float32Array | Int32Array, shape: number[], dtype: DType, device: Device): Tensor {
  const t = Tensor.empty(shape, dtype, device);
  if (host.length) native.upload({ storage: t.storage, byteOffset: 0 }, host);
  return t;
}

function toInt32(src: ArrayLike<number | bigint>): Int32Array {
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = Number(src[i]);
    if (!Number.isInteger(v) || v > 2147483647 || v < -2147483648)
      throw ckError('ERR_DTYPE', `integer data out of int32 range at index ${i}: ${String(src[i])}`, 'RangeError');
    out[i] = v;
  }
  return out;
}

/**
 * A tensor from nested arrays, a number, or a typed array (with opts.shape, default 1-D). Plain
 * numbers default to float32; Int32Array/BigInt64Array to int32 (int64 is stored as int32, range-checked).
 */
export function tensor(data: Data, opts: TensorOptions & { shape?: number[] } = {}): Tensor {
  return withGrad(tensorData(data, opts), opts);
}

function tensorData(data: Data, opts: TensorOptions & { shape?: number[] }): Tensor {
  const device = parseDevice(opts.device);
  if (ArrayBuffer.isView(data)) {
    const arr = data as ArrayLike<number | bigint>;
    const shape = checkShape(opts.shape ?? [arr.length]);
    if (numelOf(shape) !== arr.length) throw shapeError(`tensor(): shape [${shape.join(', ')}] does not hold ${arr.length} elements`);
    const fallback: DType = data instanceof Float32Array || data instanceof Float64Array ? 'float32' : 'int32';
    const dtype = normalizeDType(opts.dtype, fallback);
    const host =
      dtype === 'float32'
        ? data instanceof Float32Array
          ? data
          : Float32Array.from(arr as ArrayLike<number>, (v) => Number(v))
        : data instanceof Int32Array
          ? data
          : toInt32(arr);
    return upload(host, shape, dtype, device);
  }
  const shape = typeof data === 'number' ? [] : inferShape(data);
  const flat: number[] = [];
  flatten(data, shape, flat);
  const dtype = normalizeDType(opts.dtype, 'float32');
  return upload(dtype === 'float32' ? Float32Array.from(flat) : toInt32(flat), checkShape(shape), dtype, device);
}

function shapeArg(shape: number[] | [number[]]): number[] {
  return checkShape(Array.isArray(shape[0]) ? (shape[0] as number[]) : (shape as number[]));
}

export function full(shape: number[], value: number, opts: TensorOptions = {}): Tensor {
  const sh = checkShape(shape);
  const dt = normalizeDType(opts.dtype, 'float32');
  if (typeof value !== 'number') throw ckError('ERR_ARG', `full: value must be a number, got ${typeof value}`, 'TypeError');
  if (dt === 'int32' && !(value >= -2147483648 && value < 2147483648))
    throw ckError('ERR_ARG', `full: ${value} cannot be converted to int32 without overflow`, 'RangeError');
  const t = Tensor.empty(sh, dt, parseDevice(opts.device));
  if (t.numel()) native.fill({ dtype: DTYPE_CODE[dt], n: t.numel(), value }, { output: { storage: t.storage, offset: 0 } });
  return withGrad(t, opts);
}
export function zeros(shape: number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 0, opts);
}
export function ones(shape: number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}
export function empty(shape: number[], opts: TensorOptions = {}): Tensor {
  return withGrad(Tensor.empty(shapeArg([shape]), normalizeDType(opts.dtype, 'float32'), parseDevice(opts.device)), opts);
}
function likeOpts(t: Tensor, opts: TensorOptions): TensorOptions {
  return { dtype: opts.dtype ?? t.dtype, device: opts.device ?? t.device, requiresGrad: opts.requiresGrad };
}
export function zerosLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return full([...t.shape], 0, likeOpts(t, opts));
}
export function onesLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return full([...t.shape], 1, likeOpts(t, opts));
}
export function fullLike(t: Tensor, value: number, opts: TensorOptions = {}): Tensor {
  return full([...t.shape], value, likeOpts(t, opts));
}

/**
 * arange(end), arange(start, end, step?, opts?): integers give int32 unless a dtype is given. As PyTorch:
 * the length is ceil((end - start) / step) in double precision from the arguments as given; for an int32
 * result the values are start + i * step with start and step truncated to integers (so a step that
 * truncates to 0 is refused).
 */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  for (const [name, v] of [['start', start], ['end', end], ['step', step]] as const)
    if (typeof v !== 'number') throw ckError('ERR_ARG', `arange: ${name} must be a number, got ${typeof v}`, 'TypeError');
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw ckError('ERR_ARG', `arange: unsupported range ${start} -> ${end}`, 'RangeError');
  const allInt = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const dtype = normalizeDType(opts.dtype, allInt ? 'int32' : 'float32');
  const isInt = dtype === 'int32';
  const [s0, e0, st] = isInt ? [Math.trunc(start), Math.trunc(end), Math.trunc(step)] : [start, end, step];
  if (st === 0 || Number.isNaN(st)) throw ckError('ERR_ARG', `arange: step must be nonzero${isInt && step !== 0 ? ` (${step} truncates to 0 for int32)` : ''}`, 'RangeError');
  if (!((st > 0 && e0 >= s0) || (st < 0 && e0 <= s0)))
    throw ckError('ERR_ARG', `arange: the bounds ${start} -> ${end} are inconsistent with the sign of step ${step}`, 'RangeError');
  const nd = Math.ceil((end - start) / step);
  if (!(nd >= 0) || nd > 2 ** 31 - 1) throw ckError('ERR_ARG', `arange: ${nd} elements is out of range`, 'RangeError');
  const n = nd;
  if (isInt && n > 0 && (s0 + (n - 1) * st > 2147483647 || s0 + (n - 1) * st < -2147483648 || s0 > 2147483647 || s0 < -2147483648))
    throw ckError('ERR_DTYPE', `arange: values from ${start} to ${end} overflow int32`, 'RangeError');
  const host = isInt ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) host[i] = s0 + i * st;
  return withGrad(upload(host, [n], dtype, parseDevice(opts.device)), opts);
}

export function linspace(start: number, end: number, steps: number, opts: TensorOptions = {}): Tensor {
  if (typeof start !== 'number' || typeof end !== 'number') throw ckError('ERR_ARG', 'linspace: start and end must be numbers', 'TypeError');
  if (!Number.isInteger(steps) || steps < 0) throw ckError('ERR_ARG', 'linspace: steps must be a non-negative integer', 'RangeError');
  const host = new Float32Array(steps);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  // Symmetric fill from both ends, as PyTorch does, so the last value is exactly `end`.
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) host[i] = i < half ? start + step * i : end - step * (steps - 1 - i);
  if (steps === 1) host[0] = start; // as PyTorch: one step is the start
  return withGrad(upload(host, [steps], normalizeDType(opts.dtype, 'float32'), parseDevice(opts.device)), opts);
}

export function eye(n: number, m = n, opts: TensorOptions = {}): Tensor {
  for (const [name, v] of [['n', n], ['m', m]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw ckError('ERR_ARG', `eye: ${name} must be an integer, got ${String(v)}`, 'TypeError');
    if (v < 0) throw ckError('ERR_ARG', `eye: ${name} must be >= 0, got ${v}`, 'RangeError');
  }
  const dtype = normalizeDType(opts.dtype, 'float32');
  const host = dtype === 'float32' ? new Float32Array(n * m) : new Int32Array(n * m);
  for (let i = 0; i < Math.min(n, m); i++) host[i * m + i] = 1;
  return withGrad(upload(host, checkShape([n, m]), dtype, parseDevice(opts.device)), opts);
}

const RK = { Uniform: 0, Normal: 1, Int: 2, Bernoulli: 3 } as const;

/** @internal a draw on the host from the global Philox stream, then moved to the device. */
export function randomTensor(kind: number, shape: number[], dtype: DType, device: Device, a: number, b: number): Tensor {
  const sh = checkShape(shape);
  const t = Tensor.empty(sh, dtype, CPU);
  const n = t.numel();
  const [hi, lo, off] = takeRandom(n);
  if (n) native.random({ kind, dtype: DTYPE_CODE[dtype], n, seedHi: hi, seedLo: lo, offset: off, a, b }, { output: { storage: t.storage, offset: 0 } });
  if (device.index < 0) return t;
  const d = t.to(device);
  t.dispose();
  return d;
}

/** Uniform on [0, 1). */
export function rand(shape: number[], opts: TensorOptions = {}): Tensor {
  return withGrad(randomTensor(RK.Uniform, shape, normalizeDType(opts.dtype, 'float32'), parseDevice(opts.device), 0, 1), opts);
}
/** Standard normal. */
export function randn(shape: number[], opts: TensorOptions = {}): Tensor {
  return withGrad(randomTensor(RK.Normal, shape, normalizeDType(opts.dtype, 'float32'), parseDevice(opts.device), 0, 1), opts);
}
/** Integers in [low, high); int32 unless a dtype is given. */
export function randint(low: number, high: number, shape: number[], opts: TensorOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low)
    throw ckError('ERR_ARG', `randint: need integers low < high, got ${low} and ${high}`, 'RangeError');
  return withGrad(randomTensor(RK.Int, shape, normalizeDType(opts.dtype, 'int32'), parseDevice(opts.device), low, high), opts);
}
/** A random permutation of 0..n-1 (int32), from the seeded stream. */
export function randperm(n: number, opts: TensorOptions = {}): Tensor {
  const keys = rand([n]);
  const k = keys.dataSync();
  keys.dispose();
  const idx = Array.from({ length: n }, (_, i) => i).sort((x, y) => k[x] - k[y] || x - y);
  return withGrad(upload(Int32Array.from(idx), [n], normalizeDType(opts.dtype, 'int32'), parseDevice(opts.device)), opts);
}
export { RK as RandomKind };
