/**
 * The step-time breakdown of `convkit train`: each training step's wall time split, by consecutive laps of
 * one clock, into waiting for data, host-to-device copies, forward (model and loss), backward, optimizer
 * (zeroGrad, step, the per-batch schedule), metrics/logging (accumulating loss and accuracy, the progress
 * bar, TensorBoard) and the rest (freeing the step's tensors and the batch, yielding to signal handlers). The laps tile the epoch,
 * so the parts add up to its time; on a CUDA device with --profile every lap first waits for the device,
 * so each part holds its own kernels (without --profile the device's time lands where the host waits).
 */
import { performance } from 'perf_hooks';

export const PARTS = ['data', 'h2d', 'forward', 'backward', 'optimizer', 'metrics', 'other'] as const;
export type Part = (typeof PARTS)[number];
/** Seconds per part. */
export type Breakdown = Record<Part, number>;

export const PART_LABELS: Record<Part, string> = {
  data: 'waiting for data',
  h2d: 'host to device',
  forward: 'forward',
  backward: 'backward',
  optimizer: 'optimizer',
  metrics: 'metrics/logging',
  other: 'the rest',
};

/** The model's own parts; the others are overhead around it. */
export const MODEL_PARTS: readonly Part[] = ['forward', 'backward', 'optimizer'];

export const emptyBreakdown = (): Breakdown => ({ data: 0, h2d: 0, forward: 0, backward: 0, optimizer: 0, metrics: 0, other: 0 });

export function addBreakdown(a: Breakdown, b: Partial<Breakdown> | undefined): Breakdown {
  const out = { ...a };
  if (b) for (const p of PARTS) out[p] += b[p] ?? 0;
  return out;
}

export const breakdownTotal = (b: Breakdown): number => PARTS.reduce((s, p) => s + b[p], 0);

/** The share of the time outside forward, backward and optimizer. */
export function nonModelShare(b: Breakdown): number {
  const total = breakdownTotal(b);
  return total > 0 ? PARTS.filter((p) => !MODEL_PARTS.includes(p)).reduce((s, p) => s + b[p], 0) / total : 0;
}

export class StepClock {
  private last: number;
  private readonly ms = emptyBreakdown();
  /** sync: waits for the device before each lap (CUDA with --profile), so kernels count where they were launched. */
  constructor(private readonly sync: (() => void) | null = null) {
    this.last = performance.now();
  }

  /**
   * Runs fn outside the breakdown (--profile's own bookkeeping: starting ck.profiler, writing its trace): the
   * time since the previous lap is charged to `part` first, and fn's time to nothing. Returns fn's seconds.
   */
  outside(part: Part, fn: () => void): number {
    this.lap(part);
    const t = performance.now();
    fn();
    const d = performance.now() - t;
    this.last += d;
    return d / 1000;
  }

  /** Charges the time since the previous lap to `part`. */
  lap(part: Part): void {
    if (this.sync) this.sync();
    const t = performance.now();
    this.ms[part] += t - this.last;
    this.last = t;
  }

  seconds(): Breakdown {
    const s = emptyBreakdown();
    for (const p of PARTS) s[p] = this.ms[p] / 1000;
    return s;
  }
}

/** `--profile`'s lines: one per part with seconds and share, the model parts first. */
export function formatBreakdown(b: Breakdown): string[] {
  const total = breakdownTotal(b);
  const w = Math.max(...PARTS.map((p) => PART_LABELS[p].length));
  const lines = PARTS.map((p) => `    ${PART_LABELS[p].padEnd(w)}  ${b[p].toFixed(3).padStart(9)} s  ${(total > 0 ? (100 * b[p]) / total : 0).toFixed(1).padStart(5)}%`);
  lines.push(`    ${'non-model share'.padEnd(w)}  ${''.padStart(11)}  ${(100 * nonModelShare(b)).toFixed(1).padStart(5)}%`);
  return lines;
}
