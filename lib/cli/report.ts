/**
 * report.html: one self-contained page (no scripts, no external files) so it opens from a run folder
 * anywhere: loss, accuracy and learning-rate curves as inline SVG paths, the model summary and the
 * run's settings, and where each epoch's training time went (the step-time breakdown) as stacked bars.
 * Legends sit in the margins, outside the plotting area, so no curve ever crosses them.
 */
import { Breakdown, breakdownTotal, nonModelShare, PART_LABELS, PARTS } from './breakdown';
import { EpochMetrics } from './run_folder';

interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e5 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

/** Approximate width of 11px system-ui text: enough to lay legends out without measuring. */
const textWidth = (t: string) => 6.5 * t.length;

/** A legend in one row, right-aligned at `right`, its swatches' top at `top` (in the margin above the plot). */
function legend(series: { name: string; color: string }[], right: number, top: number): string {
  let x = right;
  const items: string[] = [];
  for (const s of [...series].reverse()) {
    x -= textWidth(s.name) + 14;
    items.unshift(`<rect x="${x.toFixed(1)}" y="${top}" width="10" height="10" fill="${s.color}"/><text x="${(x + 14).toFixed(1)}" y="${top + 9}">${esc(s.name)}</text>`);
    x -= 10;
  }
  return `<g class="legend">${items.join('')}</g>`;
}

/** One chart: axes, gridlines, a <path> per series and a marker per point. */
export function svgChart(title: string, series: Series[], opts: { yLabel?: string; xLabel?: string } = {}): string {
  const W = 480;
  const H = 280;
  const m = { l: 64, r: 16, t: 28, b: 40 };
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<text x="${m.l}" y="18" class="title">${esc(title)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmtTick(t)}</text>`);
  }
  const xt = niceTicks(x0, x1, Math.min(8, Math.max(1, Math.round(x1 - x0)))).filter((t) => Number.isInteger(t) || x1 - x0 < 2);
  for (const t of xt) parts.push(`<text x="${sx(t).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle">${fmtTick(t)}</text>`);
  parts.push(`<line class="axis" x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}"/><line class="axis" x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}"/>`);
  if (opts.xLabel) parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  if (opts.yLabel) parts.push(`<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  parts.push(legend(series, W - m.r, 8));
  series.forEach((s) => {
    const p = s.points.filter(([, y]) => Number.isFinite(y));
    if (!p.length) return;
    // A lone point still gets a (zero-length) path, so every curve is present from the first epoch.
    const d = p.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join(' ') + (p.length === 1 ? ` L${sx(p[0][0]).toFixed(1)} ${sy(p[0][1]).toFixed(1)}` : '');
    parts.push(`<path class="series" data-series="${esc(s.name)}" d="${d}" stroke="${s.color}"/>`);
    for (const [x, y] of p) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg>`;
}

const PART_COLORS: Record<(typeof PARTS)[number], string> = {
  data: '#9467bd', h2d: '#8c564b', forward: '#1f77b4', backward: '#ff7f0e', optimizer: '#2ca02c', metrics: '#d62728', other: '#7f7f7f',
};

/** Seconds per epoch as stacked bars, one colour per part; the legend in a right margin of its own. */
export function svgBreakdown(rows: { epoch: number; b: Breakdown }[]): string {
  const W = 480;
  const H = 280;
  const m = { l: 64, r: 132, t: 28, b: 40 };
  const top = Math.max(...rows.map((r) => breakdownTotal(r.b)), 1e-9);
  const ticks = niceTicks(0, top * 1.05);
  const y1 = Math.max(top * 1.05, ticks[ticks.length - 1]);
  const sy = (v: number) => H - m.b - (v / y1) * (H - m.t - m.b);
  const slot = (W - m.l - m.r) / rows.length;
  const bw = Math.min(40, slot * 0.7);
  const parts: string[] = [`<text x="${m.l}" y="18" class="title">Step time by part (s)</text>`];
  for (const t of ticks) {
    parts.push(`<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmtTick(t)}</text>`);
  }
  rows.forEach((r, i) => {
    const x = m.l + slot * i + (slot - bw) / 2;
    let acc = 0;
    for (const p of PARTS) {
      const v = r.b[p];
      if (!(v > 0)) continue;
      parts.push(`<rect class="part" data-part="${p}" data-epoch="${r.epoch}" x="${x.toFixed(1)}" y="${sy(acc + v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(sy(acc) - sy(acc + v)).toFixed(1)}" fill="${PART_COLORS[p]}"><title>epoch ${r.epoch}: ${esc(PART_LABELS[p])} ${v.toFixed(3)} s</title></rect>`);
      acc += v;
    }
    if (rows.length <= 20 || i % Math.ceil(rows.length / 20) === 0) parts.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle">${r.epoch}</text>`);
  });
  parts.push(`<line class="axis" x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}"/><line class="axis" x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">epoch</text>`);
  const items = [...PARTS].reverse().map((p, i) =>
    `<rect x="${W - m.r + 12}" y="${m.t + i * 18}" width="10" height="10" fill="${PART_COLORS[p]}"/><text x="${W - m.r + 26}" y="${m.t + 9 + i * 18}">${esc(PART_LABELS[p])}</text>`);
  parts.push(`<g class="legend">${items.join('')}</g>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="Step time">${parts.join('')}</svg>`;
}

function breakdownTable(rows: { epoch: number; b: Breakdown }[]): string {
  const head = `<tr><th>epoch</th>${PARTS.map((p) => `<th>${esc(PART_LABELS[p])} s</th>`).join('')}<th>non-model %</th></tr>`;
  const body = rows.map((r) => `<tr><td>${r.epoch}</td>${PARTS.map((p) => `<td>${r.b[p].toFixed(3)}</td>`).join('')}<td>${(100 * nonModelShare(r.b)).toFixed(1)}</td></tr>`);
  return `<table class="breakdown"><thead>${head}</thead>\n<tbody>\n${body.join('\n')}\n</tbody></table>`;
}

export interface ReportInput {
  title: string;
  metrics: EpochMetrics[];
  settings: Record<string, unknown>;
  summary: string;
  status: string;
}

export function renderReport(r: ReportInput): string {
  const ep = (f: (m: EpochMetrics) => number) => r.metrics.map((m) => [m.epoch, f(m)] as [number, number]);
  const charts = [
    svgChart('Loss', [
      { name: 'train', color: '#1f77b4', points: ep((m) => m.train_loss) },
      { name: 'test', color: '#d62728', points: ep((m) => m.test_loss) },
    ], { xLabel: 'epoch', yLabel: 'cross-entropy' }),
    svgChart('Accuracy (%)', [
      { name: 'train', color: '#1f77b4', points: ep((m) => 100 * m.train_acc) },
      { name: 'test', color: '#d62728', points: ep((m) => 100 * m.test_acc) },
    ], { xLabel: 'epoch', yLabel: '%' }),
    svgChart('Learning rate', [{ name: 'lr', color: '#2ca02c', points: ep((m) => m.lr) }], { xLabel: 'epoch', yLabel: 'lr' }),
  ];
  const split = r.metrics.filter((m) => m.breakdown).map((m) => ({ epoch: m.epoch, b: m.breakdown! }));
  if (split.length) charts.push(svgBreakdown(split));
  const rows = Object.entries(r.settings).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`).join('\n');
  const table = r.metrics.map((m) =>
    `<tr><td>${m.epoch}</td><td>${m.train_loss.toFixed(4)}</td><td>${(100 * m.train_acc).toFixed(2)}</td><td>${m.test_loss.toFixed(4)}</td><td>${(100 * m.test_acc).toFixed(2)}</td><td>${m.lr.toExponential(3)}</td><td>${m.time_s.toFixed(1)}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg{background:#fff;border:1px solid #ddd}
svg text{font:11px system-ui,sans-serif;fill:#333}svg .title{font-size:13px;font-weight:600}
svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .series{fill:none;stroke-width:2}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
pre{background:#f6f6f6;padding:12px;overflow:auto;font-size:12px}
</style></head>
<body>
<h1>${esc(r.title)}</h1>
<p>${esc(r.status)}</p>
<div class="charts">
${charts.join('\n')}
</div>
<h2>Epochs</h2>
<table><thead><tr><th>epoch</th><th>train loss</th><th>train acc %</th><th>test loss</th><th>test acc %</th><th>lr</th><th>time s</th></tr></thead>
<tbody>
${table}
</tbody></table>
${split.length ? `<h2>Step time</h2>
<p>Where each epoch's training time went: waiting for the next batch, copying it to the device, the model's forward (with the loss), backward and optimizer step, accumulating and showing the metrics, and the rest (freeing the batch, yielding to signal handlers).</p>
${breakdownTable(split)}
` : ''}<h2>Settings</h2>
<table>
${rows}
</table>
<h2>Model</h2>
<pre>${esc(r.summary)}</pre>
</body></html>
`;
}
