/**
 * keyAverages(): the events of a profile grouped by name, like torch.profiler's key_averages(), and its
 * table, sorted by self time. Host times are the JS thread's wall clock around each call; CUDA times come
 * from CUDA events on the device's stream when the profile asked for 'cuda' on a CUDA device.
 */
import { ckError } from '../errors';
import { HOST_TID, TraceEvent } from './recorder';

export interface KeyAverage {
  key: string;
  count: number;
  /** Microseconds, host wall clock. */
  selfCpuTotal: number;
  cpuTotal: number;
  cpuAvg: number;
  /** Microseconds from CUDA events (0 when none were taken). */
  cudaTotal: number;
}

export type SortKey =
  | 'self' | 'total' | 'count' | 'cuda'
  // torch.profiler's names for the same columns, as key_averages().table(sort_by=...) takes them
  | 'self_cpu_time_total' | 'cpu_time_total' | 'cuda_time_total' | 'self_cuda_time_total';

const SORT_KEYS: Record<SortKey, (r: KeyAverage) => number> = {
  self: (r) => r.selfCpuTotal, total: (r) => r.cpuTotal, count: (r) => r.count, cuda: (r) => r.cudaTotal,
  self_cpu_time_total: (r) => r.selfCpuTotal, cpu_time_total: (r) => r.cpuTotal, cuda_time_total: (r) => r.cudaTotal,
  self_cuda_time_total: (r) => r.cudaTotal,
};

const fmtUs = (us: number) => (us >= 1e6 ? `${(us / 1e6).toFixed(3)}s` : us >= 1e3 ? `${(us / 1e3).toFixed(3)}ms` : `${us.toFixed(3)}us`);
const pct = (v: number, total: number) => `${total > 0 ? ((100 * v) / total).toFixed(2) : '0.00'}%`;

export class KeyAverages {
  readonly rows: KeyAverage[];
  /** The sum of every host event's self time: the profiled host time covered by some range. */
  readonly selfCpuTotal: number;
  readonly cudaTotal: number;

  constructor(events: readonly TraceEvent[]) {
    const by = new Map<string, KeyAverage>();
    let self = 0;
    let cuda = 0;
    for (const e of events) {
      let r = by.get(e.name);
      if (!r) {
        r = { key: e.name, count: 0, selfCpuTotal: 0, cpuTotal: 0, cpuAvg: 0, cudaTotal: 0 };
        by.set(e.name, r);
      }
      if (e.tid === HOST_TID) {
        r.count++;
        r.selfCpuTotal += e.self;
        r.cpuTotal += e.dur;
        self += e.self;
      } else {
        r.cudaTotal += e.dur;
        cuda += e.dur;
      }
    }
    for (const r of by.values()) r.cpuAvg = r.count ? r.cpuTotal / r.count : 0;
    this.rows = [...by.values()].sort((a, b) => b.selfCpuTotal - a.selfCpuTotal);
    this.selfCpuTotal = self;
    this.cudaTotal = cuda;
  }

  sorted(by: SortKey = 'self'): KeyAverage[] {
    const k = Object.prototype.hasOwnProperty.call(SORT_KEYS, by) ? SORT_KEYS[by] : undefined;
    if (!k) throw ckError('ERR_ARG', `profiler: unknown sort key '${String(by)}' (expected one of ${Object.keys(SORT_KEYS).join(', ')})`);
    return [...this.rows].sort((a, b) => k(b) - k(a));
  }

  /** The table torch.profiler prints, sorted by self CPU time unless told otherwise. */
  table(opts: { sortBy?: SortKey; rowLimit?: number } = {}): string {
    const rows = this.sorted(opts.sortBy ?? 'self').slice(0, opts.rowLimit ?? 100);
    const withCuda = this.cudaTotal > 0;
    const head = ['Name', 'Self CPU %', 'Self CPU', 'CPU total %', 'CPU total', 'CPU time avg', ...(withCuda ? ['CUDA total'] : []), '# of Calls'];
    const body = rows.map((r) => [
      r.key, pct(r.selfCpuTotal, this.selfCpuTotal), fmtUs(r.selfCpuTotal), pct(r.cpuTotal, this.selfCpuTotal), fmtUs(r.cpuTotal), fmtUs(r.cpuAvg),
      ...(withCuda ? [fmtUs(r.cudaTotal)] : []), String(r.count),
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
    const rule = w.map((n) => '-'.repeat(n)).join('  ');
    const foot = [`Self CPU time total: ${fmtUs(this.selfCpuTotal)}`, ...(withCuda ? [`Self CUDA time total: ${fmtUs(this.cudaTotal)}`] : [])];
    return [rule, line(head), rule, ...body.map(line), rule, ...foot, ''].join('\n');
  }

  toString(): string {
    return this.table();
  }
}
