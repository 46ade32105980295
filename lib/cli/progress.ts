/**
 * Per-epoch progress on stderr: a bar redrawn in place on a terminal; on a pipe or a log file, a plain
 * line every few seconds instead, since carriage returns there only make one unreadable line.
 */
export interface ProgressStats {
  batch: number;
  batches: number;
  images: number;
  loss: number;
  acc: number;
}

const fmtTime = (s: number) => {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
};

/** Milliseconds between plain progress lines: CONVKIT_PROGRESS_MS (0: one line per batch), else 10 s. */
function plainIntervalMs(): number {
  const v = Number(process.env.CONVKIT_PROGRESS_MS);
  return process.env.CONVKIT_PROGRESS_MS !== undefined && Number.isFinite(v) && v >= 0 ? v : 10000;
}

export class Progress {
  private start = 0;
  private lastDraw = 0;
  private readonly tty: boolean;
  constructor(private readonly out: NodeJS.WriteStream, private readonly label: string, private readonly enabled: boolean, private readonly intervalMs = plainIntervalMs()) {
    this.tty = !!out.isTTY;
  }

  begin(): void {
    this.start = Date.now();
    this.lastDraw = this.start;
  }

  update(s: ProgressStats): void {
    if (!this.enabled) return;
    const now = Date.now();
    const done = s.batch === s.batches;
    if (!done && now - this.lastDraw < (this.tty ? 100 : this.intervalMs)) return;
    this.lastDraw = now;
    const el = (now - this.start) / 1000;
    const bps = s.batch / Math.max(el, 1e-9);
    const ips = s.images / Math.max(el, 1e-9);
    const eta = (s.batches - s.batch) / Math.max(bps, 1e-9);
    const stats = `${s.batch}/${s.batches} ${bps.toFixed(1)} batch/s ${Math.round(ips)} img/s loss ${s.loss.toFixed(4)} acc ${(100 * s.acc).toFixed(1)}% ${done ? `in ${fmtTime(el)}` : `ETA ${fmtTime(eta)}`}`;
    if (this.tty) {
      const width = Math.max(10, Math.min(30, (this.out.columns ?? 100) - stats.length - this.label.length - 6));
      const fill = Math.round((width * s.batch) / s.batches);
      const line = `${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${stats}`;
      this.out.write(`\r${line.slice(0, (this.out.columns ?? 200) - 1)}\x1b[K`);
    } else if (!done) this.out.write(`${this.label} ${stats}\n`);
  }

  /** Clears the bar so the epoch's summary line takes its place. */
  end(): void {
    if (this.enabled && this.tty) this.out.write('\r\x1b[K');
  }
}
