/**
 * IDX files (the MNIST format, http://yann.lecun.com/exdb/mnist/), gzipped or not: a big-endian
 * magic number 0x0000TTDD (TT the element type, 0x08 = unsigned byte; DD the number of dimensions),
 * DD big-endian uint32 sizes, then the elements. Images are magic 2051 (3 dims), labels 2049 (1 dim).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { formatError, readError } from './errors';

export interface IdxArray {
  dims: number[];
  /** The elements, in a SharedArrayBuffer (DataLoader workers read it without a copy). */
  data: Uint8Array;
}

export const IDX_IMAGES = 2051;
export const IDX_LABELS = 2049;

/** Reads an unsigned-byte IDX file and checks its magic number against `magic`. */
export function readIdx(file: string, magic: number): IdxArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw readError(file, e);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      throw formatError(file, `corrupt or truncated gzip data (${(e as Error).message})`);
    }
  }
  if (buf.length < 4) throw formatError(file, `too short for an IDX file (${buf.length} bytes)`);
  const got = buf.readUInt32BE(0);
  if (got !== magic) {
    const what = magic === IDX_IMAGES ? 'an IDX images file' : magic === IDX_LABELS ? 'an IDX labels file' : 'this IDX file';
    throw formatError(file, `wrong magic number ${got} (0x${got.toString(16).padStart(8, '0')}); expected ${magic} for ${what}`);
  }
  const ndim = buf[3];
  const header = 4 + 4 * ndim;
  if (buf.length < header) throw formatError(file, `truncated header (${buf.length} bytes, ${header} needed for ${ndim} dimensions)`);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(buf.readUInt32BE(4 + 4 * d));
  const n = dims.reduce((a, b) => a * b, 1);
  const have = buf.length - header;
  if (have < n) throw formatError(file, `truncated: ${have} bytes of data for dimensions [${dims.join(', ')}] (${n} needed)`);
  if (have > n) throw formatError(file, `${have - n} unexpected bytes after the data for dimensions [${dims.join(', ')}]`);
  const data = new Uint8Array(new SharedArrayBuffer(n));
  data.set(buf.subarray(header));
  return { dims, data };
}
