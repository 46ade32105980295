/** Errors thrown by convkit carry a stable `code`, as Node's own errors do. */
export type ErrorCode =
  | 'ERR_SHAPE'
  | 'ERR_DEVICE'
  | 'ERR_DTYPE'
  | 'ERR_DISPOSED'
  | 'ERR_ARG'
  | 'ERR_FORMAT'
  | 'ERR_UNSUPPORTED'
  | 'ERR_DATA'
  | 'ERR_CUDA'
  | 'ERR_CUDA_OOM'
  | 'ERR_CUDNN'
  | 'ERR_OOM'
  | 'ERR_AUTOGRAD'
  | 'ERR_NATIVE'
  | 'ERR_BINDING'
  | 'ERR_DIST'
  | 'ERR_INDEX';

export interface ConvkitError extends Error {
  code: ErrorCode;
}

const kinds = { Error, TypeError, RangeError } as const;

export function ckError(code: ErrorCode, message: string, kind: keyof typeof kinds = 'Error'): ConvkitError {
  const e = new kinds[kind](message) as ConvkitError;
  e.code = code;
  return e;
}

/**
 * The one ERR_FORMAT error: a file (or other named source) is there but is not what it should be. The message
 * names the source first; `path` carries it, as Node's fs errors do. Used by the weight readers (lib/io/) and
 * the dataset readers (lib/data/).
 */
export function formatError(source: string, message: string): ConvkitError & { path: string } {
  const e = ckError('ERR_FORMAT', `${source}: ${message}`) as ConvkitError & { path: string };
  e.path = source;
  return e;
}

export function shapeError(message: string): ConvkitError {
  return ckError('ERR_SHAPE', message, 'RangeError');
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
