/**
 * Chrome trace-event JSON (the format chrome://tracing and https://ui.perfetto.dev open): one complete
 * event ('X': ts and dur in microseconds) per range, on the host thread's track, plus the CUDA-event
 * timings on a track of their own, and metadata events ('M') naming the process and the tracks.
 */
import * as fs from 'fs';
import { CUDA_TID, HOST_TID, TraceEvent } from './recorder';

export interface ChromeEvent {
  name: string;
  cat?: string;
  ph: string;
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export function chromeTrace(events: readonly TraceEvent[], label = 'convkit'): { traceEvents: ChromeEvent[]; displayTimeUnit: string } {
  const pid = process.pid;
  const meta: ChromeEvent[] = [
    { name: 'process_name', ph: 'M', pid, tid: HOST_TID, args: { name: label } },
    { name: 'thread_name', ph: 'M', pid, tid: HOST_TID, args: { name: 'host (JS thread)' } },
  ];
  if (events.some((e) => e.tid === CUDA_TID)) meta.push({ name: 'thread_name', ph: 'M', pid, tid: CUDA_TID, args: { name: 'CUDA stream (event timings)' } });
  // Sorted by start, parents before the children that start with them: viewers expect it.
  const xs = [...events].sort((a, b) => a.tid - b.tid || a.ts - b.ts || a.depth - b.depth);
  // Whole nanoseconds for both ends, so rounding never lets a child end after its parent.
  const ns = (v: number) => Math.round(v * 1000);
  return {
    traceEvents: [
      ...meta,
      ...xs.map((e) => ({ name: e.name, cat: e.cat, ph: 'X', ts: ns(e.ts) / 1000, dur: (ns(e.ts + e.dur) - ns(e.ts)) / 1000, pid, tid: e.tid, ...(e.args ? { args: e.args } : {}) })),
    ],
    displayTimeUnit: 'ms',
  };
}

export function writeChromeTrace(file: string, events: readonly TraceEvent[]): void {
  fs.writeFileSync(file, JSON.stringify(chromeTrace(events)));
}
