/**
 * Codes of the command's own errors. ERR_ARG: an option, path or model name the user must change.
 * ERR_FORMAT: a file that is not what the option expects. ERR_RUN_EXISTS: --out already holds a run.
 * ERR_RUN_LOCKED: another `convkit train` is writing the run folder. ERR_DISK_FULL: ENOSPC or EDQUOT
 * while writing the run folder. ERR_IO: any other operating-system error (EACCES, EROFS, ...).
 * ERR_UNSUPPORTED: options that cannot go together (--cuda-graph on the CPU, with --profile or --nproc-per-node).
 */
export type CliErrorCode = 'ERR_ARG' | 'ERR_FORMAT' | 'ERR_RUN_EXISTS' | 'ERR_RUN_LOCKED' | 'ERR_DISK_FULL' | 'ERR_IO' | 'ERR_UNSUPPORTED';

/**
 * An error meant for the user: printed as one line (message and code) without a stack, with its own
 * exit code (2 for a refusal the user can fix by changing the command, 1 for a failure while running).
 */
export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: number;
  constructor(message: string, code: CliErrorCode = 'ERR_ARG', exitCode = 2) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** An operating-system error (fs and friends): a string code such as 'ENOSPC' and a syscall. */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException & { code: string } {
  const err = e as NodeJS.ErrnoException;
  return e instanceof Error && typeof err.code === 'string' && /^E[A-Z0-9]+$/.test(err.code) && typeof err.syscall === 'string';
}

/** ENOSPC (no space left on the device) or EDQUOT (the user's disk quota is exhausted). */
export function isDiskFull(e: unknown): boolean {
  return isSystemError(e) && (e.code === 'ENOSPC' || e.code === 'EDQUOT');
}
