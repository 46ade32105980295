/**
 * Where ck.profiler sees the work, without a line in the op files: while a profile is active, the function
 * properties of the native addon object, Node.prototype.apply (every backward op, by its autograd name),
 * Tensor.prototype.backward, Optimizer.prototype.step/zeroGrad and the forward of module classes are
 * replaced by timing wrappers; stop() puts the originals back. Nothing is wrapped when no profile runs, so
 * an unprofiled program pays nothing.
 */
import { native } from '../binding';
import { Node, AccumulateGrad } from '../autograd/node';
import { Tensor } from '../tensor';
import { Optimizer } from '../optim/optimizer';
import { Module } from '../nn/module';
import * as nnExports from '../nn';
import * as modelExports from '../models';
import { B, U } from '../ops/elementwise';
import { R } from '../ops/reduce';
import { CUDA_TID, Recorder } from './recorder';

/** Entry points that are queries or timers themselves, not work. */
const NOT_OPS = new Set([
  'Storage', 'buildInfo', 'cudaInfo', 'memoryStats', 'getNumThreads', 'setNumThreads', 'cudaTimerStart', 'cudaTimerStop',
  'emuSetSchedule', 'emuSetChecks', 'measurePeak', 'cudnnInfo', 'cudnnSetOptions',
]);

const invert = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [v, k])) as Record<number, string>;
const OP_CODES: Record<string, Record<number, string>> = { unary: invert(U), binary: invert(B), reduce: invert(R) };

/** The device index of the first native buffer among a call's arguments (-1: CPU, or none). */
/** The device of the first native storage among the arguments: a storage itself, or inside an operand
 *  object ({ storage, offset }) or an operand table ({ input, output }), as lib/binding.ts passes them. */
function deviceOf(args: unknown[], depth = 0): number {
  for (const a of args) {
    if (typeof a !== 'object' || a === null) continue;
    if (typeof (a as { device?: unknown }).device === 'number' && 'bytes' in (a as object)) return (a as { device: number }).device;
    if (depth < 2) {
      const d = deviceOf(Array.isArray(a) ? a : Object.values(a as object), depth + 1);
      if (d >= 0) return d;
    }
  }
  return -1;
}

export interface HookOptions {
  /** Time work on a CUDA device with CUDA events too (a second track in the trace). */
  cuda: boolean;
  /** Models whose module classes get forward ranges, beyond the built-in layers and zoo models. */
  modules: Module[];
}

type Restore = () => void;

function patch(obj: object, key: string, make: (orig: (...a: unknown[]) => unknown) => (...a: unknown[]) => unknown, restores: Restore[]): void {
  const had = Object.prototype.hasOwnProperty.call(obj, key);
  const desc = Object.getOwnPropertyDescriptor(obj, key);
  const orig = (obj as Record<string, unknown>)[key] as (...a: unknown[]) => unknown;
  if (typeof orig !== 'function') return;
  Object.defineProperty(obj, key, { value: make(orig), writable: true, configurable: true, enumerable: desc?.enumerable ?? false });
  restores.push(() => {
    if (had && desc) Object.defineProperty(obj, key, desc);
    else delete (obj as Record<string, unknown>)[key];
  });
}

function range(rec: Recorder, name: string, cat: string, orig: (...a: unknown[]) => unknown, self: unknown, args: unknown[]): unknown {
  const r = rec.begin(name, cat);
  try {
    return orig.apply(self, args);
  } finally {
    rec.end(r);
  }
}

function wrapNative(rec: Recorder, opts: HookOptions, restores: Restore[]): void {
  const n = native as unknown as Record<string, unknown>;
  const timeCuda = opts.cuda && native.cudaInfo().available;
  for (const key of Object.keys(n)) {
    if (NOT_OPS.has(key) || typeof n[key] !== 'function') continue;
    const codes = OP_CODES[key];
    patch(n, key, (orig) => function (this: unknown, ...args: unknown[]) {
      const op = (args[0] as { op?: number } | undefined)?.op;
      const name = codes && op !== undefined ? `native::${key}.${codes[op] ?? op}` : `native::${key}`;
      const dev = timeCuda ? deviceOf(args) : -1;
      if (dev < 0) return range(rec, name, 'native', orig, this, args);
      const r = rec.begin(name, 'native', { device: `cuda:${dev}` });
      const ts = rec.now();
      native.cudaTimerStart();
      try {
        return orig.apply(this, args);
      } finally {
        const ms = native.cudaTimerStop();
        rec.addComplete(name, 'cuda', CUDA_TID, ts, ms * 1000, { device: `cuda:${dev}` });
        rec.end(r);
      }
    }, restores);
  }
}

/** The prototypes in `ctor`'s chain below Module that define forward themselves. */
function forwardOwners(proto: object | null, into: Set<object>): void {
  for (let p = proto; p && p !== Module.prototype && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (Object.prototype.hasOwnProperty.call(p, 'forward')) into.add(p);
  }
}

function wrapModules(rec: Recorder, opts: HookOptions, restores: Restore[]): void {
  const owners = new Set<object>();
  for (const v of [...Object.values(nnExports), ...Object.values(modelExports)]) {
    if (typeof v === 'function' && v.prototype instanceof Module) forwardOwners(v.prototype as object, owners);
  }
  for (const m of opts.modules) for (const sub of m.modules()) forwardOwners(Object.getPrototypeOf(sub) as object, owners);
  for (const p of owners) {
    patch(p, 'forward', (orig) => function (this: Module, ...args: unknown[]) {
      // The instance's class (BatchNorm2d), not the prototype that owns forward (BatchNormBase).
      return range(rec, `nn.Module: ${this.constructor.name}`, 'module', orig, this, args);
    }, restores);
  }
}

/** Installs every wrapper; the returned function removes them again (in reverse order). */
export function install(rec: Recorder, opts: HookOptions): Restore {
  const restores: Restore[] = [];
  try {
    wrapNative(rec, opts, restores);
    for (const proto of [Node.prototype, AccumulateGrad.prototype]) {
      patch(proto, 'apply', (orig) => function (this: Node, ...args: unknown[]) {
        return range(rec, `autograd::${this.name}`, 'autograd', orig, this, args);
      }, restores);
    }
    patch(Tensor.prototype, 'backward', (orig) => function (this: unknown, ...args: unknown[]) {
      return range(rec, 'backward', 'phase', orig, this, args);
    }, restores);
    for (const key of ['step', 'zeroGrad']) {
      patch(Optimizer.prototype, key, (orig) => function (this: Optimizer, ...args: unknown[]) {
        return range(rec, `Optimizer.${key}#${this.constructor.name}.${key}`, 'phase', orig, this, args);
      }, restores);
    }
    wrapModules(rec, opts, restores);
  } catch (e) {
    for (const r of restores.reverse()) r();
    throw e;
  }
  return () => {
    for (const r of restores.reverse()) r();
  };
}
