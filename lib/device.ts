import { loadReason, native } from './binding';
import { ckError } from './errors';
import { CudaLaunchStats, cudaStats } from './cuda_stats';
import { CUDAGraph, graph } from './cuda/graph';

/** 'cpu', 'cuda' (= 'cuda:0') or 'cuda:N'. Internally a device is -1 (cpu) or the CUDA index. */
export type DeviceLike = 'cpu' | 'cuda' | `cuda:${number}` | Device;

export class Device {
  constructor(readonly index: number) {}
  get type(): 'cpu' | 'cuda' {
    return this.index < 0 ? 'cpu' : 'cuda';
  }
  toString(): string {
    return this.index < 0 ? 'cpu' : `cuda:${this.index}`;
  }
  /** `console.log(device)` prints PyTorch's repr: `device(type='cuda', index=0)`, `device(type='cpu')`. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.index < 0 ? "device(type='cpu')" : `device(type='cuda', index=${this.index})`;
  }
  equals(o: Device): boolean {
    return o.index === this.index;
  }
}

export const CPU = new Device(-1);

export function parseDevice(d: DeviceLike | undefined): Device {
  if (d === undefined) return CPU;
  if (d instanceof Device) return d;
  if (d === 'cpu') return CPU;
  const m = /^cuda(?::(\d+))?$/.exec(String(d));
  if (!m) {
    // A dtype where a device goes (model.to('float16'), PyTorch's module.to(dtype)): say so, not "unknown device".
    if (typeof d === 'string' && /^(float|int|uint|bool|bfloat|half|double|long|short|complex)/.test(d))
      throw ckError('ERR_DTYPE', `'${d}' is a dtype, not a device: convkit stores float32 and int32 (int64 as int32), and Module.to() takes a device ('cpu', 'cuda' or 'cuda:N'); use tensor.to('float32') / .float() / .int() for dtypes`, 'TypeError');
    throw ckError('ERR_DEVICE', `unknown device '${String(d)}' (expected 'cpu', 'cuda' or 'cuda:N')`, 'TypeError');
  }
  const idx = m[1] === undefined ? 0 : Number(m[1]);
  const info = native.cudaInfo();
  if (!info.available) {
    // Why the loader chose this binary (the CUDA one passed over: no driver, no GPU ...), said only now.
    const why = native.buildInfo().cudaCompiled ? info.runtime : `this convkit binary was built without CUDA (${loadReason})`;
    throw ckError('ERR_DEVICE', `device '${d}' requested but CUDA is not available: ${why}`);
  }
  if (idx >= info.deviceCount) {
    throw ckError('ERR_DEVICE', `device '${d}' does not exist (${info.deviceCount} CUDA device(s))`, 'RangeError');
  }
  return new Device(idx);
}

/** The CUDA backend as this process sees it. */
export const cuda = {
  isAvailable(): boolean {
    return native.cudaInfo().available;
  },
  deviceCount(): number {
    return native.cudaInfo().deviceCount;
  },
  isEmulated(): boolean {
    return native.cudaInfo().emulated;
  },
  getDeviceName(i = 0): string {
    const info = native.cudaInfo();
    if (i < 0 || i >= info.deviceCount) throw ckError('ERR_DEVICE', `no CUDA device ${i}`, 'RangeError');
    return info.devices[i];
  },
  /** Waits for every device; device-side errors (an out-of-range class index) are raised here as ERR_INDEX. */
  synchronize(): void {
    native.synchronize();
  },
  /** The runtime's counters (ck.cudaStats.get(): launches, host syncs, allocations, uploads ...); counting starts with ck.cudaStats.enable(). */
  stats(): CudaLaunchStats {
    return cudaStats.get();
  },
  /** The device's stream-ordered pool in bytes: reserved (from the driver), used (handed out), cached, its cap and the device's memory. */
  memory(device = 0): { reserved: number; used: number; cached: number; limit: number; total: number } {
    return native.cudaMemory(device);
  },
  /** Caps the device's pool at fraction x its memory (torch.cuda.set_per_process_memory_fraction); CONVKIT_CUDA_MEMORY_FRACTION sets the default. */
  setMemoryFraction(fraction: number, device = 0): void {
    native.cudaSetMemoryFraction(fraction, device);
  },
  CUDAGraph,
  graph,
};
