/**
 * Ownership of native memory. A StorageRef is shared by a tensor and its views and freed when the
 * last of them is disposed. tidy() scopes dispose every tensor created inside them that the scope
 * doesn't return. A FinalizationRegistry is only the safety net for tensors nobody disposed.
 */
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
const scopes: Set<Disposable>[] = [];

const registry = new FinalizationRegistry<StorageRef>((ref) => {
  liveTensors--;
  ref.release();
});

export function trackNew(t: Disposable, ref: StorageRef): void {
  liveTensors++;
  ref.retain();
  registry.register(t, ref, t);
  if (scopes.length) scopes[scopes.length - 1].add(t);
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

/** Keeps a tensor alive past the tidy() scope it was made in. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
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
   * CONVKIT_HOST_CACHE_MB (default 1024) MiB, given back by emptyCache(). 0 on CUDA devices.
   */
  cachedBytes: number;
}

export interface MemoryInfo {
  /** Tensors (including views) created and not yet disposed. */
  liveTensors: number;
  devices: DeviceMemory[];
}

/** Live tensors, and native buffers and bytes per device. */
export function memory(): MemoryInfo {
  return {
    liveTensors,
    devices: native.memoryStats().map((s) => ({
      device: s.device < 0 ? 'cpu' : `cuda:${s.device}`,
      buffers: s.live,
      bytes: s.bytes,
      peakBytes: s.peakBytes,
      cachedBytes: s.cachedBytes,
    })),
  };
}

/**
 * Gives the CPU's cached free buffers back to the system (as torch.cuda.empty_cache does for PyTorch's
 * CUDA cache): large blocks and slabs with no live tensor are unmapped, the whole pages of other free small
 * blocks are released. Live tensors are untouched; the next allocations map fresh memory.
 */
export function emptyCache(): void {
  native.emptyCache();
}
