/**
 * Errors of the data pipeline. Like Node's fs errors they carry the file (`path`) and a stable `code`:
 *   ERR_DATA   the data is not there or cannot be read (a missing file or folder, an unreadable file,
 *              a missing decoder)
 *   ERR_FORMAT a file is there but is not what it should be (wrong magic number, truncated, malformed
 *              pickle, corrupt image)
 * Messages name the file, say what was expected and what was found.
 */
export type DataErrorCode = 'ERR_DATA' | 'ERR_FORMAT';

export interface DataError extends Error {
  code: DataErrorCode;
  path?: string;
}

export function dataError(code: DataErrorCode, message: string, file?: string): DataError {
  const e = new Error(message) as DataError;
  e.code = code;
  if (file !== undefined) e.path = file;
  return e;
}

export { formatError } from '../errors';

/** Rethrows a read failure (ENOENT, EACCES, EISDIR ...) as ERR_DATA naming the file. */
export function readError(file: string, e: unknown, what = 'cannot read'): DataError {
  const err = e as NodeJS.ErrnoException;
  const why = err && err.code === 'ENOENT' ? 'no such file' : err?.message ?? String(e);
  return dataError('ERR_DATA', `${what} ${file}: ${why}`, file);
}
