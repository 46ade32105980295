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
  /**
   * The CPU kernels' instruction-set path, chosen once at load from CPUID (csrc/cpu/isa.h): `isa` in use,
   * the best the CPU `supports`, `note` saying why (detected, CONVKIT_CPU_ISA=..., or the clamp), and
   * whether the CPU has AVX512_BF16 (`bf16`).
   */
  cpu: { isa: 'baseline' | 'avx2' | 'avx512'; supported: 'baseline' | 'avx2' | 'avx512'; note: string; bf16: boolean };
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
    cpu: { isa: b.cpuIsa, supported: b.cpuIsaSupported, note: b.cpuIsaNote, bf16: b.cpuBf16 },
  };
}

/**
 * The warning for a CONVKIT_CPU_ISA request the binary did not follow (a path above what this CPU supports
 * is clamped to the best it has; an unknown name is ignored): the native note saying so, or null.
 */
export function cpuIsaWarning(asked: string | undefined, b: { cpuIsa: string; cpuIsaNote: string }): string | null {
  return asked && asked !== b.cpuIsa ? b.cpuIsaNote : null;
}
{
  const w = cpuIsaWarning(process.env.CONVKIT_CPU_ISA, native.buildInfo());
  if (w) process.emitWarning(w, { code: 'CONVKIT_CPU_ISA' });
}

/** Threads used by the CPU kernels (default: all cores). */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}
