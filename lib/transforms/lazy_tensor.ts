/**
 * The tensor modules load the native addon when imported. DataLoader workers must never load it: close()
 * terminates workers at any moment, and a worker terminated while the addon registers itself aborted the
 * whole process (SIGABRT, "terminate called after throwing an instance of 'Napi::Error'"). So the code
 * workers run (datasets, transforms, collate) touches ck.Tensor only through these functions, which never
 * load anything inside a worker, and imports tensor modules with `import type` only; lib/binding.ts throws
 * ERR_BINDING if a loader worker requires it anyway (test/unit/loader_close.test.ts).
 */
import type { DeviceLike } from '../device';
import type { Tensor } from '../tensor';

let inWorker = false;

/** @internal called first thing by the loader's worker entry. */
export function markLoaderWorker(): void {
  inWorker = true;
}

/** Whether x is a ck.Tensor (always false inside a worker, where none can exist). */
export function isTensor(x: unknown): x is Tensor {
  if (inWorker || x === null || typeof x !== 'object') return false;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return x instanceof (require('../tensor') as typeof import('../tensor')).Tensor;
}

/** A new ck.Tensor from host data (main thread only). */
export function makeTensor(data: Float32Array | Int32Array, shape: number[], device?: DeviceLike): Tensor {
  if (inWorker) throw new Error('convkit: a ck.Tensor was requested inside a DataLoader worker (workers return host arrays)');
  // Arrays that crossed from a worker were made by the main realm's constructors, which need not be
  // this module's (jest runs tests in a vm context): re-view the same buffer, no copy.
  const view = data instanceof Int32Array || (data as { constructor?: { name?: string } }).constructor?.name === 'Int32Array'
    ? new Int32Array(data.buffer, data.byteOffset, data.length)
    : new Float32Array(data.buffer, data.byteOffset, data.length);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require('../creation') as typeof import('../creation')).tensor(view, { shape, device });
}
