/**
 * IDX files (the MNIST format, http://yann.lecun.com/exdb/mnist/), gzipped or not: a big-endian
 * magic number 0x0000TTDD (TT the element type, 0x08 = unsigned byte; DD the number of dimensions),
 * DD big-endian uint32 sizes, then the elements. Images are magic 2051 (3 dims), labels 2049 (1 dim).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { constants as bufferConstants } from 'buffer';
import { formatError, readError } from './errors';

export interface IdxArray {
  dims: number[];
  /** The elements, in a SharedArrayBuffer (DataLoader workers read it without a copy). */
  data: Uint8Array;
}

export const IDX_IMAGES = 2051;
export const IDX_LABELS = 2049;

/** What a probe of the start of a gzip stream may inflate to while it looks for the IDX header. */
const PROBE_OUTPUT = 4 << 20;

/** The offset of the deflate data in a gzip member (RFC 1952: FEXTRA, FNAME, FCOMMENT, FHCRC skipped). */
function gzipDataStart(buf: Buffer, file: string): number {
  const bad = () => formatError(file, 'corrupt or truncated gzip header');
  if (buf.length < 10 || buf[2] !== 8) throw bad();
  const flags = buf[3];
  let p = 10;
  if (flags & 4) {
    if (p + 2 > buf.length) throw bad();
    p += 2 + buf.readUInt16LE(p);
  }
  for (const bit of [8, 16]) {
    if (flags & bit) {
      const z = buf.indexOf(0, p);
      if (z < 0) throw bad();
      p = z + 1;
    }
  }
  if (flags & 2) p += 2;
  if (p > buf.length) throw bad();
  return p;
}

/**
 * The first `want` bytes of a gzip file's contents, found by inflating ever longer prefixes of its
 * deflate data (a sync flush gives what a prefix holds), each capped at PROBE_OUTPUT bytes. A real
 * IDX header comes out of the first few hundred bytes; a stream that reaches the cap first does not
 * start with one.
 */
function gunzipPrefix(buf: Buffer, want: number, file: string): Buffer {
  const start = gzipDataStart(buf, file);
  for (let n = 256; ; n *= 2) {
    const chunk = buf.subarray(start, Math.min(buf.length, start + n));
    let out: Buffer;
    try {
      out = zlib.inflateRawSync(chunk, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: PROBE_OUTPUT });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        throw formatError(file, `the gzip stream gives no IDX header before ${PROBE_OUTPUT} bytes`);
      throw formatError(file, `corrupt or truncated gzip data (${(e as Error).message})`);
    }
    if (out.length >= want || start + n >= buf.length) return out;
  }
}

function headerOf(buf: Buffer, file: string, magic: number): { dims: number[]; header: number; n: number } {
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
  return { dims, header, n };
}

/**
 * Reads an unsigned-byte IDX file and checks its magic number against `magic`. A gzipped file is
 * inflated against the size its header promises, never more: a bomb fails at that size.
 */
export function readIdx(file: string, magic: number): IdxArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw readError(file, e);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    const head = headerOf(gunzipPrefix(buf, 4 + 4 * 255, file), file, magic);
    const total = head.header + head.n;
    if (total > bufferConstants.MAX_LENGTH)
      throw formatError(file, `the header declares dimensions [${head.dims.join(', ')}], ${head.n} bytes: more than a Buffer can hold`);
    try {
      buf = zlib.gunzipSync(buf, { maxOutputLength: Math.max(total, 1) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        throw formatError(file, `the gzip data inflates past the ${total} bytes its header declares for dimensions [${head.dims.join(', ')}] (unexpected bytes after the data)`);
      throw formatError(file, `corrupt or truncated gzip data (${(e as Error).message})`);
    }
  }
  const { dims, header, n } = headerOf(buf, file, magic);
  const have = buf.length - header;
  if (have < n) throw formatError(file, `truncated: ${have} bytes of data for dimensions [${dims.join(', ')}] (${n} needed)`);
  if (have > n) throw formatError(file, `${have - n} unexpected bytes after the data for dimensions [${dims.join(', ')}]`);
  const data = new Uint8Array(new SharedArrayBuffer(n));
  data.set(buf.subarray(header));
  return { dims, data };
}
