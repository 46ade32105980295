/**
 * The run folder's lock: one `convkit train` writes a folder at a time. The lock is a file created
 * with O_EXCL (atomic on local file systems and NFSv3+), holding the owner's pid, host, start time and
 * the kernel's start time of that pid (so a pid reused after a reboot or a wrap-around is not taken
 * for the owner). A second run is refused at once with ERR_RUN_LOCKED naming the owner; a lock whose
 * owner is dead (kill -9, power loss) is taken over with a note. The lock is released on every exit
 * path: normal end, errors, signals (the 'exit' hook covers process.exit), never by another process.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CliError } from './errors';

export const LOCK_FILE = '.convkit-train.lock';

/** How long a lock file may stay unreadable (being written) or a takeover may last before it is stale. */
const GRACE_MS = 10000;

export interface LockInfo {
  pid: number;
  host: string;
  /** ISO time the owner took the lock. */
  started: string;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot) when the owner took the lock; null off Linux. */
  procStart: string | null;
  /** Tells this lock from an earlier one of the same pid. */
  token: string;
  command: string;
}

function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses) start with field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[22 - 3] ?? null;
  } catch {
    return null;
  }
}

function parse(raw: string): LockInfo | null {
  try {
    const o = JSON.parse(raw) as LockInfo;
    return Number.isInteger(o.pid) && o.pid > 0 && typeof o.host === 'string' && typeof o.token === 'string' ? o : null;
  } catch {
    return null;
  }
}

function readRaw(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** 'alive', 'dead', or 'unknown' (another host: its processes cannot be checked from here). */
export function ownerState(info: LockInfo): 'alive' | 'dead' | 'unknown' {
  if (info.host !== os.hostname()) return 'unknown';
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return 'dead';
    // EPERM: a live process of another user.
  }
  if (info.procStart !== null) {
    const now = procStart(info.pid);
    // The pid lives on, but it is another process than the one that took the lock.
    if (now !== null && now !== info.procStart) return 'dead';
  }
  return 'alive';
}

const describe = (i: LockInfo) => `pid ${i.pid} on ${i.host}, started ${i.started}`;

export class RunLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(readonly file: string, readonly info: LockInfo) {
    process.on('exit', this.onExit);
  }

  /**
   * Takes the lock of `dir` (which must exist) or throws ERR_RUN_LOCKED naming its owner. `note`
   * receives one line when a stale lock is taken over.
   */
  static acquire(dir: string, note: (line: string) => void): RunLock {
    const file = path.join(dir, LOCK_FILE);
    const info: LockInfo = {
      pid: process.pid, host: os.hostname(), started: new Date().toISOString(), procStart: procStart(process.pid),
      token: Math.random().toString(36).slice(2, 12), command: process.argv.slice(2).join(' ').slice(0, 500),
    };
    const text = `${JSON.stringify(info)}\n`;
    // Said only once the lock is ours: a racing process may create it between takeover and create.
    let tookOver: string | null = null;
    for (let attempt = 0; attempt < 5; attempt++) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'wx', 0o644);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const raw = readRaw(file);
        if (raw === null) continue; // released in between: try again
        const held = parse(raw);
        if (!held) {
          // Created but not yet written by its owner (a window of microseconds), or damaged.
          if (ageMs(file) < GRACE_MS) throw locked(dir, 'another process that is taking the lock right now', file, null);
        } else {
          const state = ownerState(held);
          if (state !== 'dead') throw locked(dir, `convkit train ${describe(held)}${state === 'unknown' ? ' (another host: it cannot be checked from here)' : ''}`, file, held.pid);
        }
        if (takeOver(file, raw)) tookOver = `took over the lock of ${held ? `convkit train ${describe(held)}, which is no longer running` : 'an unreadable lock file'} (${file})`;
        else sleepMs(20); // another process is taking it over: see what it made of it
        continue;
      }
      try {
        fs.writeSync(fd, text);
        fs.fsyncSync(fd);
      } catch (e) {
        fs.closeSync(fd);
        fs.rmSync(file, { force: true });
        throw e;
      }
      fs.closeSync(fd);
      if (tookOver) note(tookOver);
      return new RunLock(file, info);
    }
    throw locked(dir, 'other processes that keep taking the lock', file, null);
  }

  /** Removes the lock file if it is still this lock's. Idempotent; safe in an 'exit' hook. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.removeListener('exit', this.onExit);
    try {
      const held = parse(readRaw(this.file) ?? '');
      if (held && held.token === this.info.token && held.pid === this.info.pid) fs.unlinkSync(this.file);
    } catch {
      /* the folder is gone or unreadable: nothing of ours to remove */
    }
  }
}

function locked(dir: string, who: string, file: string, pid: number | null): CliError {
  return new CliError(
    `the run folder ${dir} is in use by ${who}; wait for it to end${pid ? ` or stop it (kill -TERM ${pid} saves a checkpoint)` : ''}, ` +
      `or choose another folder; if nothing runs there, delete ${file}`,
    'ERR_RUN_LOCKED',
  );
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes the stale lock whose content is `raw`, unless another process took it over first. Takeovers
 * are serialised by a second O_EXCL file, so two processes finding the same stale lock cannot both
 * remove it (the second would otherwise remove the first's fresh lock). Returns whether it removed it.
 */
function takeOver(file: string, raw: string): boolean {
  const guard = `${file}.takeover`;
  let fd: number;
  try {
    fd = fs.openSync(guard, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // A takeover lasts microseconds; one older than the grace period was killed mid-way.
    if (ageMs(guard) > GRACE_MS) fs.rmSync(guard, { force: true });
    return false;
  }
  try {
    fs.closeSync(fd);
    if (readRaw(file) !== raw) return false;
    fs.rmSync(file, { force: true });
    return true;
  } finally {
    fs.rmSync(guard, { force: true });
  }
}
