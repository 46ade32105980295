/**
 * ck.profiler, in the spirit of torch.profiler: op-level host timings of every native call, every backward
 * op by its autograd name, module forwards, backward() and optimizer phases, plus your own named ranges,
 * around any region of a program; a keyAverages() table sorted by self time; a Chrome trace Perfetto opens.
 *
 *   const prof = profiler.profile({ withModules: model });   // starts now
 *   ... training steps, each optionally inside profiler.recordFunction('step', () => ...) ...
 *   prof.stop();
 *   console.log(prof.keyAverages().table({ rowLimit: 15 }));
 *   prof.exportChromeTrace('trace.json');
 *
 * or profiler.profile(opts, fn) (fn may be async), or `using prof = profiler.profile()`.
 *
 * Times are the host's wall clock around each call. CPU kernels run inside the call, so that is their time.
 * With activities ['cpu', 'cuda'] and work on a CUDA device, each native call is also bracketed by CUDA
 * events on convkit's stream (a second track); this waits for each op, so the host track then shows
 * synchronous timings. On the emulated CUDA device the kernels run on the host during the call, so host
 * timings are the kernels' times and the event track repeats them. Nothing is wrapped while no profile is
 * active: an unprofiled program runs the same code as before.
 */
import { ckError } from '../errors';
import type { Module } from '../nn/module';
import { install } from './hooks';
import { Recorder, TraceEvent } from './recorder';
import { KeyAverages } from './summary';
import { chromeTrace, writeChromeTrace } from './trace';

export { KeyAverages } from './summary';
export type { KeyAverage, SortKey } from './summary';
export type { TraceEvent } from './recorder';
export type { ChromeEvent } from './trace';

export type Activity = 'cpu' | 'cuda';

export interface ProfileOptions {
  /** 'cpu' (always on) and 'cuda': CUDA-event timings of work on a CUDA device. Default ['cpu']. */
  activities?: Activity[];
  /** Models whose own module classes (custom forward()s) get ranges too; the built-in layers and zoo models always do. */
  withModules?: Module | Module[];
}

let active: Profile | null = null;

/** The profile now recording, if any. */
export function current(): Profile | null {
  return active;
}

export class Profile {
  private rec: Recorder | null = null;
  private uninstall: (() => void) | null = null;
  private evs: TraceEvent[] = [];
  private stepRange: ReturnType<Recorder['begin']> | null = null;
  private stepNum = 0;
  constructor(private readonly opts: ProfileOptions = {}) {
    for (const a of opts.activities ?? []) if (a !== 'cpu' && a !== 'cuda') throw ckError('ERR_ARG', `profiler: unknown activity '${String(a)}' (expected 'cpu' or 'cuda')`);
  }

  get running(): boolean {
    return this.rec !== null;
  }

  start(): this {
    if (active) throw ckError('ERR_ARG', active === this ? 'profiler: this profile is already running' : 'profiler: another profile is running; stop it first');
    const rec = new Recorder();
    const mods = this.opts.withModules;
    this.uninstall = install(rec, { cuda: (this.opts.activities ?? []).includes('cuda'), modules: mods ? (Array.isArray(mods) ? mods : [mods]) : [] });
    this.rec = rec;
    this.evs = [];
    this.stepNum = 0;
    active = this;
    return this;
  }

  stop(): this {
    if (!this.rec) return this;
    this.rec.closeAll();
    this.uninstall?.();
    this.uninstall = null;
    this.evs = this.rec.events;
    this.rec = null;
    this.stepRange = null;
    if (active === this) active = null;
    return this;
  }

  /** Marks a step boundary (as torch.profiler's prof.step()): ranges ProfilerStep#0, #1, ... around each step. */
  step(): void {
    if (!this.rec) return;
    if (this.stepRange) this.rec.end(this.stepRange);
    this.stepRange = this.rec.begin(`ProfilerStep#${this.stepNum++}`, 'user');
  }

  /** @internal the recorder while running (recordFunction's target). */
  recorder(): Recorder | null {
    return this.rec;
  }

  /** Every range recorded (after stop(); while running, those finished so far). */
  events(): readonly TraceEvent[] {
    return this.rec ? this.rec.events : this.evs;
  }

  keyAverages(): KeyAverages {
    return new KeyAverages(this.events());
  }

  /** The Chrome trace-event object exportChromeTrace() writes. */
  chromeTrace(): ReturnType<typeof chromeTrace> {
    return chromeTrace(this.events());
  }

  exportChromeTrace(file: string): void {
    writeChromeTrace(file, this.events());
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

/**
 * Starts a profile and returns it (stop it, or `using` it); with fn, runs fn inside it and returns the
 * stopped profile (a Promise of it when fn is async).
 */
export function profile(opts?: ProfileOptions): Profile;
export function profile(opts: ProfileOptions, fn: () => Promise<unknown>): Promise<Profile>;
export function profile(opts: ProfileOptions, fn: () => unknown): Profile;
export function profile(opts: ProfileOptions = {}, fn?: () => unknown): Profile | Promise<Profile> {
  const p = new Profile(opts).start();
  if (!fn) return p;
  let r: unknown;
  try {
    r = fn();
  } catch (e) {
    p.stop();
    throw e;
  }
  if (r instanceof Promise) return r.then(() => p.stop(), (e) => {
    p.stop();
    throw e;
  });
  return p.stop();
}

export interface RangeHandle {
  end(): void;
  [Symbol.dispose](): void;
}

const NO_RANGE: RangeHandle = { end() {}, [Symbol.dispose]() {} };

/**
 * A named range (torch.profiler.record_function): recordFunction(name, fn) runs fn inside it (an async fn's
 * range ends when its promise settles); recordFunction(name) opens one and returns a handle to end().
 * Without an active profile it only runs fn.
 */
export function recordFunction<T>(name: string, fn: () => T): T;
export function recordFunction(name: string): RangeHandle;
export function recordFunction<T>(name: string, fn?: () => T): T | RangeHandle {
  const rec = active?.recorder();
  if (!rec) return fn ? fn() : NO_RANGE;
  const r = rec.begin(name, 'user');
  if (!fn) {
    const h = { end: () => rec.end(r), [Symbol.dispose]: () => rec.end(r) };
    return h;
  }
  let out: T;
  try {
    out = fn();
  } catch (e) {
    rec.end(r);
    throw e;
  }
  if (out instanceof Promise) return out.finally(() => rec.end(r)) as unknown as T;
  rec.end(r);
  return out;
}
