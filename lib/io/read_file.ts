import * as fs from 'fs';
import { constants as bufferConstants } from 'buffer';
import { ckError, ConvkitError } from '../errors';
import { formatError } from './binary';

/**
 * The whole file in one Buffer (the only copy of the file the readers make). readFileSync stops at
 * 2 GiB; reading into one preallocated Buffer goes up to Node's Buffer limit.
 */
export function readWhole(path: string): Buffer {
  try {
    return readAll(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (typeof err?.code === 'string' && err.code.startsWith('ERR_')) throw e;
    // fs errors (ENOENT, EISDIR, EACCES, ELOOP ...) as ERR_DATA naming the file, as the datasets do
    const why = err?.code === 'ENOENT' ? 'no such file' : err?.message ?? String(e);
    const out = ckError('ERR_DATA', `${path}: cannot read the file (${why})`) as ConvkitError & { path?: string };
    out.path = path;
    throw out;
  }
}

function readAll(path: string): Buffer {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size > bufferConstants.MAX_LENGTH)
      throw formatError(path, `the file is ${size} bytes, more than one Buffer can hold (${bufferConstants.MAX_LENGTH})`);
    const buf = Buffer.allocUnsafeSlow(size);
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, buf, off, Math.min(size - off, 1 << 30), off);
      if (n === 0) throw formatError(path, `the file shrank while it was read (${off} of ${size} bytes)`);
      off += n;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes through a temporary file in the same directory and renames it into place, so a crash or a
 * full disk never leaves a half-written weight file under the real name.
 */
export function writeAtomically(path: string, write: (fd: number) => void): void {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}
