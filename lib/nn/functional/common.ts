/**
 * The argument checks every nn.functional family shares (one vocabulary of errors, naming the op and the
 * argument), and the contiguous handle the native kernels read.
 */
import { ckError } from '../../errors';
import { contiguousHandle } from '../../ops/native_call';
import { Tensor } from '../../tensor';

export type Pair = number | [number, number];
export const pair = (v: Pair): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v, v]);

const INT32_MAX = 2 ** 31 - 1;
const describe = (v: unknown): string => (typeof v === 'number' ? String(v) : JSON.stringify(v) ?? String(v));
const kindOf = (min: number): string => (min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer >= ${min}`);

/**
 * One integer argument, checked the way every layer and op checks them (sharp's is.mjs: one vocabulary): a
 * fraction, NaN or non-number is a TypeError, a value below `min` or beyond int32 a RangeError, each naming
 * `what` (the op or layer) and the argument: "Conv2d: stride must be a positive integer, got 0".
 */
export function intArg(what: string, name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw ckError('ERR_ARG', `${what}: ${name} must be ${kindOf(min)}, got ${describe(v)}`, 'TypeError');
  if (v < min) throw ckError('ERR_ARG', `${what}: ${name} must be ${kindOf(min)}, got ${v}`, 'RangeError');
  if (v > INT32_MAX) throw ckError('ERR_ARG', `${what}: ${name} ${v} is out of the int32 range`, 'RangeError');
  return v;
}

/** An int or a pair of ints (PyTorch's `int[2]` arguments), each checked as intArg. */
export function intPair(what: string, name: string, v: unknown, min: number): [number, number] {
  const p = Array.isArray(v) && v.length === 1 ? [v[0], v[0]] : v;
  if (Array.isArray(p) && p.length !== 2)
    throw ckError('ERR_ARG', `${what}: ${name} must be ${kindOf(min)} or a pair of them, got ${describe(v)}`, 'TypeError');
  const [a, b] = pair(p as Pair);
  if (typeof a !== 'number' || !Number.isInteger(a) || typeof b !== 'number' || !Number.isInteger(b))
    throw ckError('ERR_ARG', `${what}: ${name} must be ${kindOf(min)} or a pair of them, got ${describe(v)}`, 'TypeError');
  return [intArg(what, name, a, min), intArg(what, name, b, min)];
}

/** A boolean option (undefined: the default). */
export function boolArg(what: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw ckError('ERR_ARG', `${what}: ${name} must be a boolean, got ${describe(v)}`, 'TypeError');
  return v;
}

/** A finite number in [lo, hi]. */
export function numberArg(what: string, name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw ckError('ERR_ARG', `${what}: ${name} must be a number, got ${describe(v)}`, 'TypeError');
  if (!Number.isFinite(v) || v < lo || v > hi) {
    const range = hi === Infinity ? `>= ${lo}` : `in [${lo}, ${hi}]`;
    throw ckError('ERR_ARG', `${what}: ${name} must be a finite number ${range}, got ${v}`, 'RangeError');
  }
  return v;
}

export function isTensor(what: string, name: string, t: unknown, optional = false): void {
  if (optional && (t === null || t === undefined)) return;
  if (!(t instanceof Tensor)) throw ckError('ERR_ARG', `${what}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`, 'TypeError');
}

/** Every named tensor on the first one's device; the error names the operand that differs. */
export function sameDevice(what: string, tensors: Record<string, Tensor | null | undefined>): void {
  let first: [string, Tensor] | null = null;
  for (const [name, t] of Object.entries(tensors)) {
    if (!t) continue;
    if (!first) first = [name, t];
    else if (!t.device.equals(first[1].device))
      throw ckError('ERR_DEVICE', `${what}: ${name} is on ${t.device} but ${first[0]} is on ${first[1].device}`);
  }
}

export function float32(what: string, t: Tensor): void {
  if (t.dtype !== 'float32') throw ckError('ERR_DTYPE', `${what}: expected a float32 tensor, got ${t.dtype}`, 'TypeError');
}

/** A contiguous handle on t (a view if already contiguous), not recorded. */
export const contig = contiguousHandle;
