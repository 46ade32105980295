/**
 * report.html: one self-contained page (no scripts, no external files) so it opens from a run folder
 * anywhere: loss, accuracy and learning-rate curves as inline SVG paths, the model summary and the
 * run's settings.
 */
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
  parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" class="title">${esc(title)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmtTick(t)}</text>`);
  }
  const xt = niceTicks(x0, x1, Math.min(8, Math.max(1, Math.round(x1 - x0)))).filter((t) => Number.isInteger(t) || x1 - x0 < 2);
  for (const t of xt) parts.push(`<text x="${sx(t).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle">${fmtTick(t)}</text>`);
  parts.push(`<line class="axis" x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}"/><line class="axis" x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}"/>`);
  if (opts.xLabel) parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  if (opts.yLabel) parts.push(`<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  series.forEach((s, i) => {
    const p = s.points.filter(([, y]) => Number.isFinite(y));
    if (!p.length) return;
    // A lone point still gets a (zero-length) path, so every curve is present from the first epoch.
    const d = p.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join(' ') + (p.length === 1 ? ` L${sx(p[0][0]).toFixed(1)} ${sy(p[0][1]).toFixed(1)}` : '');
    parts.push(`<path class="series" data-series="${esc(s.name)}" d="${d}" stroke="${s.color}"/>`);
    for (const [x, y] of p) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    parts.push(`<rect x="${W - m.r - 120}" y="${m.t + 4 + i * 16}" width="10" height="10" fill="${s.color}"/><text x="${W - m.r - 105}" y="${m.t + 13 + i * 16}">${esc(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg>`;
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
<h2>Settings</h2>
<table>
${rows}
</table>
<h2>Model</h2>
<pre>${esc(r.summary)}</pre>
</body></html>
`;
}
