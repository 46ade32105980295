/**
 * Closeness checks with stated tolerances: |a - b| <= atol + rtol * |b|, NaN matching NaN. With
 * `signedZeros: true` a zero must also carry the expected zero's sign (-0 vs +0), for the ops where PyTorch
 * defines it (relu(-0) = -0, its gradient +0, maximum/minimum on ties); off by default, since sums and
 * products of different orders may legitimately round to either zero.
 */
import { Tensor } from '../../lib';
import { Arr, TorchOut } from './torch';

export interface Tol {
  atol?: number;
  rtol?: number;
  /** Zeros must match in sign too (Object.is(-0, +0) is false). Default false. */
  signedZeros?: boolean;
}

const zeroName = (v: number) => (Object.is(v, -0) ? '-0' : '+0');

export function asArr(t: Tensor | Arr | TorchOut): Arr {
  if (t instanceof Tensor) return { shape: [...t.shape], dtype: t.dtype, data: Array.from(t.cpu().dataSync()) };
  return t as Arr;
}

/** Throws with the worst element if `actual` and `expected` differ in shape or beyond tolerance. */
export function expectClose(actual: Tensor | Arr, expected: Tensor | Arr | TorchOut, tol: Tol = {}, what = ''): number {
  const a = asArr(actual);
  const e = asArr(expected);
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-5;
  const label = what ? `${what}: ` : '';
  if (a.shape.length !== e.shape.length || a.shape.some((s, i) => s !== e.shape[i]))
    throw new Error(`${label}shape [${a.shape}] != expected [${e.shape}]`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < e.data.length; i++) {
    const x = a.data[i];
    const y = e.data[i];
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (tol.signedZeros && x === 0 && y === 0 && !Object.is(x, y))
      throw new Error(`${label}element ${i}: ${zeroName(x)} vs expected ${zeroName(y)} (the sign of zero must match)`);
    if (x === y) continue;
    const err = Math.abs(x - y);
    const bound = atol + rtol * Math.abs(y);
    if (!(err <= bound) && (worst < 0 || err - bound > worstErr)) {
      worst = i;
      worstErr = err - bound;
    }
  }
  if (worst >= 0)
    throw new Error(`${label}element ${worst}: ${a.data[worst]} vs expected ${e.data[worst]} (atol ${atol}, rtol ${rtol})`);
  let maxErr = 0;
  for (let i = 0; i < e.data.length; i++) if (Number.isFinite(e.data[i])) maxErr = Math.max(maxErr, Math.abs(a.data[i] - e.data[i]));
  // The GPU-box runner (scripts/mini-jest.js) collects each test's largest error for its report.
  const hook = (globalThis as { __ckMaxError?: (what: string, err: number) => void }).__ckMaxError;
  if (hook) hook(what, maxErr);
  return maxErr;
}

export function expectEqualInts(actual: Tensor | Arr, expected: Tensor | Arr | TorchOut, what = ''): void {
  expectClose(actual, expected, { atol: 0, rtol: 0 }, what);
}
