/**
 * Ownership of native memory. A StorageRef is shared by a tensor and its views and freed when the
 * last of them is disposed. tidy() scopes dispose every tensor created inside them that the scope
 * doesn't return; a DataLoader iteration holds its current batch and disposes it when the loop asks for
 * the next one (keep() takes a tensor out of both). A FinalizationRegistry is only the safety net for
 * tensors nobody disposed; since it depends on the garbage collector, a loop that leaves its tensors to
 * it is warned about once (stepMark).
 */
import * as v8 from 'v8';
import * as vm from 'vm';
import { native, NativeStorage } from './binding';
import { ckError } from './errors';

export class StorageRef {
  refs = 0;
  constructor(readonly native: NativeStorage) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) this.native.dispose();
  }
}

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

let liveTensors = 0;
/** Tensors created outside any tidy() scope (the warning's sign that a loop relies on the collector). */
let unscopedCreated = 0;
const scopes: Set<Disposable>[] = [];
/** Tensors held by a DataLoader iteration (its current batch): disposed when the loop moves on. */
const held = new Set<Set<Disposable>>();

const registry = new FinalizationRegistry<StorageRef>((ref) => {
  liveTensors--;
  ref.release();
});

export function trackNew(t: Disposable, ref: StorageRef): void {
  liveTensors++;
  ref.retain();
  registry.register(t, ref, t);
  if (scopes.length) scopes[scopes.length - 1].add(t);
  else unscopedCreated++;
}

export function trackDispose(t: Disposable, ref: StorageRef): void {
  liveTensors--;
  registry.unregister(t);
  ref.release();
  for (const s of scopes) s.delete(t);
}

/** A live tensor now holds `next` instead of `prev` (assignData_): ownership moves with it. */
export function retarget(t: Disposable, prev: StorageRef, next: StorageRef): void {
  next.retain();
  registry.unregister(t);
  registry.register(t, next, t);
  prev.release();
}

/**
 * Keeps a tensor alive past the tidy() scope it was made in, or past the DataLoader iteration step
 * that gave it (a batch tensor is otherwise disposed when the loop asks for the next batch).
 */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  for (const h of held) h.delete(t);
  return t;
}

/** @internal Holds the tensors in v (a batch: tensors, arrays or plain objects of them) until release. */
export function hold(v: unknown): Set<Disposable> {
  const found = new Set<unknown>();
  collect(v, found);
  const h = found as Set<Disposable>;
  held.add(h);
  return h;
}

/** @internal Disposes what a hold() still holds (what keep() did not take out). */
export function release(h: Set<Disposable>): void {
  held.delete(h);
  for (const t of h) if (!t.isDisposed) t.dispose();
  h.clear();
}

/** Live native bytes a loop step may leave behind outside tidy() before the iteration asks for a collection. */
const COLLECT_MIN_BYTES = 64 * 1024 * 1024;
/** Steps in a row whose live native memory grew (with tensors made outside tidy) before the warning. */
const GROWTH_STEPS = 4;
const growth = { lastBytes: -1, steps: 0, unscopedAtLast: 0, warned: false };

export const MEMORY_GROWTH_WARNING =
  'convkit: each of the last %STEPS% loop steps left %MB% MB or more of tensors made outside any ck.tidy() scope, which only the ' +
  'garbage collector frees (the DataLoader now collects garbage after such steps, which costs time). Wrap the loop body in ' +
  'ck.tidy(() => ...), and evaluation in ck.noGrad(...) too, e.g. ' +
  'correct += ck.tidy(() => ck.noGrad(() => model.forward(x).argmax(1).eq(y).sum().item())); see the README\'s training and evaluation loops.';

let gcFn: (() => void) | null | undefined;
/** V8's full collection, reached without --expose-gc (a context made while the flag is on gets `gc`). */
function fullGc(): (() => void) | null {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  return gcFn;
}

function liveNativeBytes(): number {
  let bytes = 0;
  for (const s of native.memoryStats()) bytes += s.bytes;
  return bytes;
}

/** @internal A loop step begins (the DataLoader gives a batch): what it leaves behind is measured from here. */
export function stepStart(): void {
  growth.lastBytes = liveNativeBytes();
  growth.unscopedAtLast = unscopedCreated;
}

/**
 * @internal A loop step ended (the DataLoader calls it when the loop asks for the next batch, after
 * freeing the batch it gave, before giving the event loop a turn). When the step left at least
 * COLLECT_MIN_BYTES more live native memory than it began with, having made tensors outside any tidy()
 * scope, that memory is most likely unreachable garbage (an autograd graph behind a value read with
 * item()) that V8 would collect only a step or more later: a full collection now lets the finalizers
 * free it during the coming turn, so such a loop holds about one step's tensors, as PyTorch's reference
 * counting does. GROWTH_STEPS such steps in a row also warn, once per process (process.emitWarning,
 * code CONVKIT_MEMORY_GROWTH), naming the fix. A tidy loop costs one counter read per step.
 */
export function stepMark(): void {
  if (growth.lastBytes < 0) return;
  const left = liveNativeBytes() - growth.lastBytes;
  const grew = left >= COLLECT_MIN_BYTES && unscopedCreated > growth.unscopedAtLast && scopes.length === 0;
  growth.lastBytes = -1;
  if (!grew) {
    growth.steps = 0;
    return;
  }
  growth.steps++;
  fullGc()?.();
  if (!growth.warned && growth.steps >= GROWTH_STEPS) {
    growth.warned = true;
    const msg = MEMORY_GROWTH_WARNING.replace('%STEPS%', String(growth.steps)).replace('%MB%', String(COLLECT_MIN_BYTES / 2 ** 20));
    process.emitWarning(msg, { code: 'CONVKIT_MEMORY_GROWTH' });
  }
}

function collect(v: unknown, out: Set<unknown>, depth = 0): void {
  if (v === null || typeof v !== 'object' || depth > 4) return;
  if ('isDisposed' in (v as object) && 'dispose' in (v as object)) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v as object)) collect(x, out, depth + 1);
}

/**
 * Runs fn and disposes every tensor created during it, except those it returns (directly, or inside
 * an array or plain object). Returned tensors move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw ckError('ERR_ARG', `tidy(fn): fn must be a function, got ${fn === null ? 'null' : typeof fn}`, 'TypeError');
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) throw new TypeError('tidy(fn): fn must be synchronous (it returned a Promise)');
  const keepSet = new Set<unknown>();
  collect(result, keepSet);
  for (const t of scope) {
    if (keepSet.has(t)) {
      if (scopes.length) scopes[scopes.length - 1].add(t);
    } else if (!t.isDisposed) t.dispose();
  }
  return result;
}

export interface DeviceMemory {
  device: string;
  /** Native buffers alive on the device. */
  buffers: number;
  bytes: number;
  peakBytes: number;
  /**
   * CPU: freed buffers convkit keeps for reuse by the next tensor of their size class (not counted in
   * `bytes`; large ones mapped one by one, small ones in 2 MiB slabs, never glibc's heap); at most
   * CONVKIT_HOST_CACHE_MB (default 1024) MiB, given back by emptyCache().
   * CUDA: freed blocks the device's stream-ordered pool keeps (reservedBytes minus what is in use), given
   * back by emptyCache().
   */
  cachedBytes: number;
  /** What the device's allocator holds from the system or the driver: in use (tensors and scratch) plus cached. */
  reservedBytes: number;
  /** CUDA: the pool's cap (CONVKIT_CUDA_MEMORY_FRACTION or cuda.setMemoryFraction x the device's memory); 0: none. */
  limitBytes: number;
}

export interface MemoryInfo {
  /** Tensors (including views) created and not yet disposed. */
  liveTensors: number;
  devices: DeviceMemory[];
}

/** Live tensors, and native buffers and bytes per device (every CUDA device that ever held memory). */
export function memory(): MemoryInfo {
  return {
    liveTensors,
    devices: native.memoryStats().map((s) => {
      if (s.device < 0) {
        return { device: 'cpu', buffers: s.live, bytes: s.bytes, peakBytes: s.peakBytes, cachedBytes: s.cachedBytes,
          reservedBytes: s.bytes + s.cachedBytes, limitBytes: 0 };
      }
      const pool = native.cudaMemory(s.device);
      return { device: `cuda:${s.device}`, buffers: s.live, bytes: s.bytes, peakBytes: s.peakBytes, cachedBytes: pool.cached,
        reservedBytes: pool.reserved, limitBytes: pool.limit };
    }),
  };
}

/**
 * Gives cached free memory back (as torch.cuda.empty_cache does): on the CPU, large blocks and slabs with no
 * live tensor are unmapped and the whole pages of other free small blocks released; on every CUDA device, the
 * host waits for the device (one counted synchronisation) and the stream-ordered pool gives its cached blocks
 * back to the driver, and idle pinned host blocks are freed. Live tensors are untouched.
 */
export function emptyCache(): void {
  native.emptyCache();
  native.cudaEmptyCache();
}
