import { binaryPath, loadReason, native } from './binding';
import { backends } from './backends';

/** What this process runs on: the binary loaded, its flavour, CUDA, threads. */
export function info(): {
  version: string;
  binary: string;
  flavour: string;
  /** Why this binary was loaded, and what was passed over. */
  reason: string;
  cudaArchs: string;
  cuda: { compiled: boolean; available: boolean; emulated: boolean; devices: string[]; runtime: string };
  threads: number;
  cudnn: { available: boolean; version: number | null };
} {
  const b = native.buildInfo();
  const c = native.cudaInfo();
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const version = (require('../package.json') as { version: string }).version;
  return {
    version,
    binary: binaryPath,
    flavour: b.flavour,
    reason: loadReason,
    cudaArchs: b.cudaArchs,
    cuda: { compiled: b.cudaCompiled, available: c.available, emulated: c.emulated, devices: c.devices, runtime: c.runtime },
    threads: native.getNumThreads(),
    cudnn: { available: backends.cudnn.isAvailable(), version: backends.cudnn.version() },
  };
}

/** Threads used by the CPU kernels (default: all cores). */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}
