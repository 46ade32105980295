/**
 * Per-epoch progress on stderr: a bar redrawn in place on a terminal; on a pipe or a log file, a plain
 * line every few seconds instead, since carriage returns there only make one unreadable line. On a
 * narrow terminal the bar shrinks, then the less useful fields go, so the line never gets cut mid-number.
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

/** Milliseconds between redraws of the bar on a terminal. */
const TTY_REDRAW_MS = 100;

/**
 * The bar's line for a terminal `columns` wide: the fullest variant that fits in columns - 1 (the last
 * column would wrap on some terminals), with a bar of 10 to 30 cells while one fits.
 */
export function fitLine(label: string, s: ProgressStats, elapsedS: number, columns: number, bar = true): string {
  const done = s.batch === s.batches;
  const bps = s.batch / Math.max(elapsedS, 1e-9);
  const ips = s.images / Math.max(elapsedS, 1e-9);
  const eta = (s.batches - s.batch) / Math.max(bps, 1e-9);
  const time = done ? `in ${fmtTime(elapsedS)}` : `ETA ${fmtTime(eta)}`;
  const lossAcc = `loss ${s.loss.toFixed(4)} acc ${(100 * s.acc).toFixed(1)}%`;
  const variants = [
    `${s.batch}/${s.batches} ${bps.toFixed(1)} batch/s ${Math.round(ips)} img/s ${lossAcc} ${time}`,
    `${s.batch}/${s.batches} ${Math.round(ips)} img/s ${lossAcc} ${time}`,
    `${s.batch}/${s.batches} ${lossAcc} ${time}`,
    `${s.batch}/${s.batches} ${time}`,
  ];
  const room = Math.max(1, columns - 1);
  for (const withBar of bar ? [true, false] : [false]) {
    for (const stats of variants) {
      if (!withBar) {
        const line = `${label} ${stats}`;
        if (line.length <= room) return line;
        continue;
      }
      const width = Math.min(30, room - stats.length - label.length - 4);
      if (width < 10) continue;
      const fill = Math.round((width * s.batch) / Math.max(s.batches, 1));
      return `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${stats}`;
    }
  }
  // A terminal narrower than the shortest variant: whole fields from the right end are what goes.
  return `${s.batch}/${s.batches} ${time}`.slice(0, room);
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

  /** Whether update() would draw now: the caller reads its (device-side) numbers only then. */
  due(batch: number, batches: number): boolean {
    if (!this.enabled) return false;
    return batch === batches || Date.now() - this.lastDraw >= (this.tty ? TTY_REDRAW_MS : this.intervalMs);
  }

  update(s: ProgressStats): void {
    if (!this.due(s.batch, s.batches)) return;
    const now = Date.now();
    const done = s.batch === s.batches;
    this.lastDraw = now;
    const el = (now - this.start) / 1000;
    if (this.tty) this.out.write(`\r${fitLine(this.label, s, el, this.out.columns ?? 100)}\x1b[K`);
    else if (!done) this.out.write(`${fitLine(this.label, s, el, Infinity, false)}\n`);
  }

  /** Clears the bar so the epoch's summary line takes its place. */
  end(): void {
    if (this.enabled && this.tty) this.out.write('\r\x1b[K');
  }
}
