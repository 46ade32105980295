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
 * Random draws of dropout are graph-safe, as PyTorch's generator is: the capture takes no numbers from the global
 * stream; each replay writes the stream's counter into a device word the captured dropout kernels start from and
 * then advances it by what one step draws, so replay k draws the masks eager step k would. Other random ops
 * (rand, randn ...) inside a capture still bake their numbers in.
 * Host values are baked in at capture (a learning rate, an Adam step count), so what changes per step must
 * live in tensors (a capturable optimizer keeps its step counts there, and its learning rate in a device buffer
 * that it rewrites before each replay when a scheduler changed it: see beforeReplay); anything that synchronises (item(), dataSync(), printing a CUDA tensor) is ERR_CUDA
 * during a capture. Warm the step up eagerly first, so lazily created state (optimizer buffers) exists.
 */
import { native, NativeGraph } from '../binding';
import { zeros } from '../creation';
import type { Device } from '../device';
import { ckError } from '../errors';
import { keep } from '../memory';
import { getRngState, setRngState } from '../random';
import type { Tensor } from '../tensor';

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

/** During a capture on `device`: the device word the graph's dropout draws start from and the counter at the capture's start. */
export function graphRandom(device: Device): { base: Tensor; start: number } | null {
  const g = active[active.length - 1];
  if (!g || !g.rng || device.type !== 'cuda' || device.index !== g.device) return null;
  g.rng.used = true;
  return g.rng;
}

export class CUDAGraph {
  private handle: NativeGraph | null = null;
  private captured = false;
  /** Recorded kernels and copies (0 before a capture). */
  nodes = 0;
  /** beforeReplay's host work, by key. */
  readonly hooks = new Map<object, () => void>();
  /** The device captured on. */
  device = -1;
  /** Graph-safe random draws: the device word (uint64) the replay writes the counter to; draws taken per step. */
  rng: { base: Tensor; start: number; perStep: number; used: boolean } | null = null;

  /** Captures what fn queues on cuda:`device` (default 0); returns fn's result (static outputs). */
  capture<T>(fn: () => T, opts: { device?: number } = {}): T {
    if (this.handle) throw ckError('ERR_CUDA', 'CUDAGraph.capture: this graph already holds a capture; reset() it first');
    const device = opts.device ?? 0;
    if (!Number.isInteger(device) || device < 0) throw ckError('ERR_ARG', `CUDAGraph.capture: device must be a CUDA index, got ${String(device)}`, 'RangeError');
    this.device = device;
    // Made before the capture, so the capture neither allocates nor fills it.
    this.rng = { base: keep(zeros([2], { dtype: 'int32', device: `cuda:${device}` as 'cuda' })), start: getRngState().offset, perStep: 0, used: false };
    let h: NativeGraph;
    try {
      h = native.cudaGraphBegin(device);
    } catch (e) {
      this.reset();
      throw e;
    }
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
      this.reset();
      throw e;
    }
    // The capture ran nothing: with graph-safe draws in it, give the stream back what it reserved; each replay
    // takes it instead.
    const rng = this.rng!;
    if (rng.used) {
      const { seed, offset } = getRngState();
      rng.perStep = offset - rng.start;
      setRngState({ seed, offset: rng.start });
    } else {
      rng.base.dispose();
      this.rng = null;
    }
    this.captured = true;
    return result;
  }

  /** Queues the captured work again (asynchronous, like every kernel). */
  replay(): void {
    if (!this.handle || !this.captured) throw ckError('ERR_CUDA', 'CUDAGraph.replay: nothing captured');
    for (const fn of this.hooks.values()) fn();
    const rng = this.rng;
    if (!rng) {
      native.cudaGraphReplay(this.handle);
      return;
    }
    const { seed, offset } = getRngState();
    native.cudaGraphReplay(this.handle, { storage: rng.base.storage, offset: rng.base.offset }, offset);
    setRngState({ seed, offset: offset + rng.perStep });
  }

  /** Frees the graph and its private pool (tensors created in the capture keep their memory until disposed). */
  reset(): void {
    if (this.handle) native.cudaGraphDestroy(this.handle);
    this.handle = null;
    this.captured = false;
    this.nodes = 0;
    this.hooks.clear();
    this.rng?.base.dispose();
    this.rng = null;
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
