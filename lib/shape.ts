import { fmtShape, shapeError } from './errors';

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

/** Normalises a possibly negative dim against rank `n` (PyTorch's wrap rule). */
export function normDim(dim: number, n: number, what = 'dim'): number {
  const r = Math.max(n, 1);
  if (!Number.isInteger(dim) || dim < -r || dim >= r)
    throw shapeError(`${what} ${dim} is out of range for a tensor of rank ${n}`);
  return dim < 0 ? dim + r : dim;
}

/** The broadcast shape of two shapes (NumPy/PyTorch rules); the error names both shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[], op = 'broadcast'): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1)
      throw shapeError(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together (dim ${i}: ${da} vs ${db})`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export function checkShape(shape: readonly number[], what = 'shape'): number[] {
  if (!Array.isArray(shape)) throw shapeError(`${what} must be an array of non-negative integers, got ${typeof shape}`);
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw shapeError(`${what} ${fmtShape(shape)} must hold non-negative integers`);
  }
  if (shape.length > 8) throw shapeError(`${what} ${fmtShape(shape)} has more than 8 dimensions`);
  return [...shape];
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
