import { ckError } from './errors';

/** Storage dtypes. int64 is accepted where data comes in (BigInt64Array, dtype 'int64') and stored as int32. */
export type DType = 'float32' | 'int32';
export type DTypeLike = DType | 'int64';

export const DTYPE_CODE: Record<DType, number> = { float32: 0, int32: 1 };

export type TypedArrayFor<D extends DType> = D extends 'float32' ? Float32Array : Int32Array;

export function normalizeDType(d: DTypeLike | undefined, fallback: DType): DType {
  if (d === undefined) return fallback;
  if (d === 'float32' || d === 'int32') return d;
  if (d === 'int64') return 'int32';
  throw ckError('ERR_DTYPE', `unknown dtype '${String(d)}' (expected float32, int32 or int64)`, 'TypeError');
}

export function promote(a: DType, b: DType): DType {
  return a === 'float32' || b === 'float32' ? 'float32' : 'int32';
}
