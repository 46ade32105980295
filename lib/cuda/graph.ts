/**
 * CUDA graphs, as torch.cuda.CUDAGraph / torch.cuda.graph: the kernels and copies a function queues on one
 * device are captured once and replayed as a whole, with no per-kernel launch cost on the host.
 *
 *   const g = new ck.cuda.CUDAGraph();
 *   g.capture(() => step(staticX, staticY));    // records; nothing runs yet
 *   for (...) { staticX.copy_(batch); g.replay(); }
 *
 * As in PyTorch: the captured work always reads and writes the same memory, so inputs are "static" tensors
 * the caller copies new values into, outputs are the tensors the capture created (read them after a replay);
 * memory allocated during the capture belongs to the graph's private pool and stays valid until dispose().
 * Host values are baked in at capture (a learning rate, an Adam step count), so what changes per step must
 * live in tensors (a capturable optimizer keeps its step counts there, and its learning rate in a device buffer
 * that it rewrites before each replay when a scheduler changed it: see beforeReplay); anything that synchronises (item(), dataSync(), printing a CUDA tensor) is ERR_CUDA
 * during a capture. Warm the step up eagerly first, so lazily created state (optimizer buffers) exists.
 */
import { native, NativeGraph } from '../binding';
import { ckError } from '../errors';

let capturing = 0;
/** The graphs being captured, innermost last. */
const active: CUDAGraph[] = [];
/** Whether a CUDAGraph capture is running (ops that would bake a changing host value refuse to be captured). */
export function isCapturing(): boolean {
  return capturing > 0;
}

/**
 * During a capture: `fn` runs on the host before every replay of the graph being captured, outside the graph
 * (once per `key`). A capturable optimizer uses it to upload hyperparameters a scheduler changed since the
 * last step, so the replayed kernels read the new values. Outside a capture it does nothing.
 */
export function beforeReplay(key: object, fn: () => void): void {
  const g = active[active.length - 1];
  if (g) g.hooks.set(key, fn);
}

export class CUDAGraph {
  private handle: NativeGraph | null = null;
  private captured = false;
  /** Recorded kernels and copies (0 before a capture). */
  nodes = 0;
  /** beforeReplay's host work, by key. */
  readonly hooks = new Map<object, () => void>();

  /** Captures what fn queues on cuda:`device` (default 0); returns fn's result (static outputs). */
  capture<T>(fn: () => T, opts: { device?: number } = {}): T {
    if (this.handle) throw ckError('ERR_CUDA', 'CUDAGraph.capture: this graph already holds a capture; reset() it first');
    const device = opts.device ?? 0;
    if (!Number.isInteger(device) || device < 0) throw ckError('ERR_ARG', `CUDAGraph.capture: device must be a CUDA index, got ${String(device)}`, 'RangeError');
    const h = native.cudaGraphBegin(device);
    this.handle = h;
    let result: T;
    try {
      capturing++;
      active.push(this);
      try {
        result = fn();
      } finally {
        capturing--;
        active.pop();
      }
    } catch (e) {
      try {
        native.cudaGraphEnd(h);
      } catch {
        // the capture's own error matters more
      }
      this.reset();
      throw e;
    }
    try {
      this.nodes = native.cudaGraphEnd(h);
    } catch (e) {
      this.handle = null;
      throw e;
    }
    this.captured = true;
    return result;
  }

  /** Queues the captured work again (asynchronous, like every kernel). */
  replay(): void {
    if (!this.handle || !this.captured) throw ckError('ERR_CUDA', 'CUDAGraph.replay: nothing captured');
    for (const fn of this.hooks.values()) fn();
    native.cudaGraphReplay(this.handle);
  }

  /** Frees the graph and its private pool (tensors created in the capture keep their memory until disposed). */
  reset(): void {
    if (this.handle) native.cudaGraphDestroy(this.handle);
    this.handle = null;
    this.captured = false;
    this.nodes = 0;
    this.hooks.clear();
  }

  [Symbol.dispose](): void {
    this.reset();
  }
}

/** torch.cuda.graph: a new CUDAGraph holding the capture of fn; returns it with fn's result. */
export function graph<T>(fn: () => T, opts: { device?: number } = {}): { graph: CUDAGraph; result: T } {
  const g = new CUDAGraph();
  const result = g.capture(fn, opts);
  return { graph: g, result };
}
