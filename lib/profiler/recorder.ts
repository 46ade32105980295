/**
 * The event store of ck.profiler: ranges on one stack per profiled run, kept well nested. A range that is
 * ended while ranges opened after it are still open (an await let other code in) closes those too, at the
 * same instant, so the trace never holds overlapping complete events on one thread. Self time is the
 * range's duration minus that of its direct children, computed as each range ends.
 */
import { performance } from 'perf_hooks';

export interface TraceEvent {
  name: string;
  /** 'native' (an addon entry point), 'autograd' (a backward Node), 'module', 'phase', 'user', 'cuda'. */
  cat: string;
  /** Microseconds since the profile started. */
  ts: number;
  dur: number;
  /** dur minus the direct children's dur. */
  self: number;
  /** Thread track: 1 the host (JS) thread, 2 the CUDA stream's timings. */
  tid: number;
  depth: number;
  args?: Record<string, unknown>;
}

interface Open {
  name: string;
  cat: string;
  start: number;
  children: number;
  args?: Record<string, unknown>;
}

export const HOST_TID = 1;
export const CUDA_TID = 2;

export class Recorder {
  readonly events: TraceEvent[] = [];
  readonly t0 = performance.now();
  private readonly stack: Open[] = [];

  now(): number {
    return (performance.now() - this.t0) * 1000;
  }

  get depth(): number {
    return this.stack.length;
  }

  /** Opens a range; the returned token ends it (and anything opened inside it and still open). */
  begin(name: string, cat: string, args?: Record<string, unknown>): Open {
    const o: Open = { name, cat, start: this.now(), children: 0, args };
    this.stack.push(o);
    return o;
  }

  end(o: Open, extraArgs?: Record<string, unknown>): void {
    const i = this.stack.lastIndexOf(o);
    if (i < 0) return; // already closed by an enclosing range
    const t = this.now();
    while (this.stack.length > i) {
      const top = this.stack.pop()!;
      if (top !== o) top.args = { ...top.args, closedByEnclosingRange: o.name };
      else if (extraArgs) top.args = { ...top.args, ...extraArgs };
      this.close(top, t);
    }
  }

  /** A range of known duration on another track (CUDA event timings), not part of the host stack. */
  addComplete(name: string, cat: string, tid: number, ts: number, dur: number, args?: Record<string, unknown>): void {
    this.events.push({ name, cat, ts, dur, self: dur, tid, depth: 0, args });
  }

  /** Closes everything still open (stop() inside a range). */
  closeAll(): void {
    if (this.stack.length) this.end(this.stack[0]);
  }

  private close(o: Open, t: number): void {
    const dur = Math.max(0, t - o.start);
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.children += dur;
    this.events.push({ name: o.name, cat: o.cat, ts: o.start, dur, self: Math.max(0, dur - o.children), tid: HOST_TID, depth: this.stack.length, args: o.args });
  }
}
