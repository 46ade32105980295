/**
 * Shared pieces of the weight-file readers: ERR_FORMAT errors that name the file, typed-array views
 * over a file's one Buffer (copying only when alignment or byte order forces it), and the widening
 * of stored element types to the float32/int32 that convkit tensors hold.
 */
import * as os from 'os';
import { formatError } from '../errors';

export { formatError };

/** obj[key] = value as an own property even for '__proto__' (keys come from untrusted files). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

type ViewCtor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/**
 * A typed array over `length` elements of little-endian data at `byteOffset` of buf. A view when the
 * address is aligned (the common case: both formats align tensor data), else one aligned copy.
 */
export function leView<T extends ArrayBufferView>(buf: Buffer, byteOffset: number, length: number, Ctor: ViewCtor<T>): T {
  const size = Ctor.BYTES_PER_ELEMENT;
  const abs = buf.byteOffset + byteOffset;
  if (LITTLE_ENDIAN && abs % size === 0) return new Ctor(buf.buffer, abs, length);
  const copy = Buffer.alloc(length * size);
  buf.copy(copy, 0, byteOffset, byteOffset + length * size);
  if (!LITTLE_ENDIAN) {
    if (size === 2) copy.swap16();
    else if (size === 4) copy.swap32();
    else if (size === 8) copy.swap64();
  }
  return new Ctor(copy.buffer, copy.byteOffset, length);
}

/** The bytes of a typed array in little-endian order (a view on little-endian hosts). */
export function leBytes(a: ArrayBufferView & { BYTES_PER_ELEMENT: number }): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN || a.BYTES_PER_ELEMENT === 1) return bytes;
  const copy = Buffer.from(bytes);
  if (a.BYTES_PER_ELEMENT === 2) copy.swap16();
  else if (a.BYTES_PER_ELEMENT === 4) copy.swap32();
  else copy.swap64();
  return copy;
}

let halfTable: Float32Array | null = null;
// All 65536 half values, built once (256 KiB): conversion is then one lookup per element.
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

export function halfToFloat32(src: Uint16Array): Float32Array {
  const table = halfToFloatTable();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

/** bfloat16 is the top half of a float32: shift the bits into place. */
export function bfloat16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

export function float64ToFloat32(src: Float64Array): Float32Array {
  return Float32Array.from(src);
}

/** convkit stores integers as int32: narrow, and refuse values that would not survive. */
export function int64ToInt32(src: BigInt64Array, source: string, what: string): Int32Array {
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (v > 2147483647n || v < -2147483648n)
      throw formatError(source, `${what} holds ${v} at element ${i}, outside the int32 range convkit stores integers in`);
    out[i] = Number(v);
  }
  return out;
}

export function widenToInt32(src: Int8Array | Uint8Array | Int16Array): Int32Array {
  return Int32Array.from(src);
}
