// The side-by-side harness: each case runs in convkit (this process) and in its PyTorch twin
// (benchmarks/torch/twin.py, a long-lived child), alternating batches of repetitions so both sides
// see the same machine state. Medians are reported; a side whose spread (IQR / median) exceeds the
// bound is reported as noisy instead of as a number.
'use strict';
const { spawn } = require('child_process');
const os = require('os');
const path = require('path');
const readline = require('readline');

const PYTHON = process.env.CONVKIT_TORCH_PYTHON || '/usr/bin/python3';

class Twin {
  constructor(device) {
    const env = { ...process.env, PYTHONUNBUFFERED: '1' };
    // This machine pins OpenBLAS to a slow generic kernel for old numpy builds; PyTorch's fair baseline
    // is OpenBLAS choosing its own kernel, so the twin alone runs without both variables.
    if (device === 'cpu') {
      delete env.OPENBLAS_CORETYPE;
      delete env.OPENBLAS_L2_SIZE;
    }
    this.proc = spawn(PYTHON, [path.join(__dirname, 'torch', 'twin.py')], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.waiters = [];
    readline.createInterface({ input: this.proc.stdout }).on('line', (l) => this.waiters.shift()(JSON.parse(l)));
  }
  request(req) {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.proc.stdin.write(JSON.stringify(req) + '\n');
    });
  }
  close() {
    this.proc.stdin.end();
  }
}

function quantile(sorted, q) {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  const median = quantile(s, 0.5);
  const iqr = quantile(s, 0.75) - quantile(s, 0.25);
  return { median, spread: median > 0 ? iqr / median : 0, n: s.length, min: s[0] };
}

/**
 * cases: [{ name, shape, params, flops?, bytes?, tf32?, setup(ck) -> { run(), dispose() } }]
 * (tf32: the PyTorch twin runs with TF32 allowed for matmul and cuDNN; off otherwise)
 * opts: { device, threads, rounds, repsPerRound, warmup, sampleMs, maxSpread, native (the addon, for CUDA events) }
 */
async function runSideBySide(ck, cases, opts) {
  const twin = new Twin(opts.device);
  const rows = [];
  for (const c of cases) {
    // TF32 as the twin has it (off unless the case asks), so no row compares TF32 with strict FP32.
    const savedTF32 = ck.backends.cudnn.allowTF32;
    ck.backends.cudnn.allowTF32 = !!c.tf32;
    const mine = c.setup(ck);
    const ckTimes = [];
    const ptTimes = [];
    let torchVersion = '';
    let error = null;
    const sync = () => { if (opts.device !== 'cpu') ck.cuda.synchronize(); };
    for (let i = 0; i < opts.warmup; i++) mine.run();
    sync();
    // A sample is the mean of `inner` back-to-back calls, enough for ~sampleMs: a single call of a
    // millisecond op is at the mercy of every scheduler tick. Both sides use the same count.
    const t1 = process.hrtime.bigint();
    mine.run();
    sync();
    const once = Number(process.hrtime.bigint() - t1) / 1e6;
    const inner = Math.max(1, Math.min(1000, Math.ceil(opts.sampleMs / Math.max(once, 1e-3))));
    for (let r = 0; r < opts.rounds && !error; r++) {
      mine.run(); // one uncounted call per round: the other side just had the caches
      sync();
      for (let k = 0; k < opts.repsPerRound; k++) {
        if (opts.device === 'cpu') {
          const t0 = process.hrtime.bigint();
          for (let j = 0; j < inner; j++) mine.run();
          ckTimes.push(Number(process.hrtime.bigint() - t0) / 1e6 / inner);
        } else {
          // CUDA events on convkit's stream, as the twin uses torch.cuda.Event: launches are asynchronous.
          opts.native.cudaTimerStart();
          for (let j = 0; j < inner; j++) mine.run();
          ckTimes.push(opts.native.cudaTimerStop() / inner);
        }
      }
      const reply = await twin.request({
        case: c.twin ?? c.name, params: c.params, reps: opts.repsPerRound, warmup: r === 0 ? opts.warmup : 1, inner,
        threads: opts.threads, device: opts.device, tf32: !!c.tf32,
      });
      // PyTorch's OpenMP workers spin for a while after each parallel region (libgomp's default wait
      // policy) and would take a core from convkit's next samples: let them go to sleep first.
      await new Promise((res) => setTimeout(res, opts.settleMs ?? 50));
      if (reply.error) error = reply.error;
      else {
        ptTimes.push(...reply.times_ms);
        torchVersion = reply.torch;
      }
    }
    mine.dispose();
    ck.backends.cudnn.allowTF32 = savedTF32;
    const a = stats(ckTimes);
    const b = error ? null : stats(ptTimes);
    const row = { name: c.name, shape: c.shape, convkit: a, torch: b, torchVersion, error, inner };
    row.noisy = a.spread > opts.maxSpread || (b !== null && b.spread > opts.maxSpread);
    row.ratio = b ? b.median / a.median : null; // > 1: convkit faster
    if (c.flops) row.gflops = { convkit: c.flops / a.median / 1e6, torch: b ? c.flops / b.median / 1e6 : null };
    if (c.bytes) row.gbps = { convkit: c.bytes / a.median / 1e6, torch: b ? c.bytes / b.median / 1e6 : null };
    rows.push(row);
    if (opts.onRow) opts.onRow(row);
  }
  twin.close();
  return rows;
}

function fmt(x, d = 2) {
  return x === null || x === undefined ? '-' : x.toFixed(d);
}

// The achieved rate as a fraction of the machine's measured peak (GF/s rows against the FMA peak, GB/s rows
// against the triad bandwidth), for each side.
function peakFraction(r, peak) {
  if (!peak) return null;
  if (r.gflops && peak.gflops) return { convkit: r.gflops.convkit / peak.gflops, torch: r.gflops.torch === null ? null : r.gflops.torch / peak.gflops };
  if (r.gbps && peak.gbps) return { convkit: r.gbps.convkit / peak.gbps, torch: r.gbps.torch === null ? null : r.gbps.torch / peak.gbps };
  return null;
}

function formatRow(r, maxSpread, peak) {
  if (r.error) return `${r.name.padEnd(10)} ${r.shape.padEnd(22)} PyTorch failed: ${r.error}`;
  if (r.noisy)
    return `${r.name.padEnd(10)} ${r.shape.padEnd(22)} not reported: spread convkit ${(r.convkit.spread * 100).toFixed(0)}% / torch ${(r.torch.spread * 100).toFixed(0)}% exceeds ${(maxSpread * 100).toFixed(0)}%`;
  const faster = r.ratio >= 1 ? 'convkit' : 'PyTorch';
  const tp = r.gflops ?? r.gbps;
  const unit = r.gflops ? 'GF/s' : r.gbps ? 'GB/s' : '';
  const pf = peakFraction(r, peak);
  const pct = (v) => (v === null || v === undefined ? '-' : `${(100 * v).toFixed(0)}%`);
  const g = tp ? `${fmt(tp.convkit, 1).padStart(8)} ${fmt(tp.torch, 1).padStart(8)} ${unit.padEnd(4)} ${pf ? `${pct(pf.convkit).padStart(5)} ${pct(pf.torch).padStart(5)}` : ''}` : '';
  return `${r.name.padEnd(10)} ${r.shape.padEnd(22)} ${fmt(r.ratio).padStart(6)}x ${faster.padEnd(8)} ${fmt(r.convkit.median, 3).padStart(9)} ${fmt(r.torch.median, 3).padStart(9)} ${g}`;
}

function header(peak) {
  const peakText = peak ? `; % peak = achieved rate / measured peak (${peak.gflops.toFixed(1)} GF/s FMA${peak.isa ? ` on convkit's ${peak.isa} path` : ''}, ${peak.gbps.toFixed(1)} GB/s triad)` : '';
  return `${'op'.padEnd(10)} ${'shape'.padEnd(22)} ${'ratio'.padStart(7)} ${'faster'.padEnd(8)} ${'ck ms'.padStart(9)} ${'torch ms'.padStart(9)} ${'convkit'.padStart(8)} ${'PyTorch'.padStart(8)} rate ${'ck %pk'.padStart(5)} ${'pt %pk'.padStart(5)}\n` +
    `(ratio = PyTorch time / convkit time; > 1 means convkit is faster${peakText})`;
}

/**
 * The machine's measured peaks for the fraction-of-peak column: FMA throughput on every thread and STREAM
 * triad bandwidth (native kernels in csrc/cpu/peak.cc and cuda/peak.cu), best of a few passes. On the CPU the
 * loops use the vectors of convkit's ISA path in use (ck.info().cpu.isa, CONVKIT_CPU_ISA), so `% peak` is
 * against what that path can reach.
 */
function measurePeak(native, device, quick) {
  const seconds = quick ? 0.3 : 1.0;
  const bytes = device === 'cpu' ? (quick ? 64 : 128) * 2 ** 20 : 1024 * 2 ** 20;
  const p = native.measurePeak(device, seconds, bytes, quick ? 3 : 5);
  const isa = device === 'cpu' ? native.buildInfo().cpuIsa : null;
  return { gflops: p.gflops, gbps: p.gbps, isa, method: `FMA chains${isa ? ` (${isa} path)` : ''} on every thread, best of ${quick ? 3 : 5} bursts over ${seconds} s; triad over 3 x ${bytes / 2 ** 20} MiB arrays, best of ${quick ? 3 : 5}` };
}

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return { cpu, cores: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()}-${os.arch()}` };
}

// A horizontal bar chart of the ratios (log scale around 1), as a standalone SVG.
function svgChart(rows, title) {
  const ok = rows.filter((r) => r.ratio && !r.noisy);
  const w = 760;
  const rowH = 22;
  const h = 60 + ok.length * rowH;
  const x0 = 330;
  const span = w - x0 - 20;
  const lim = Math.max(2, ...ok.map((r) => Math.max(r.ratio, 1 / r.ratio)));
  const xs = (v) => x0 + span / 2 + (Math.log(v) / Math.log(lim)) * (span / 2);
  const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const bars = ok.map((r, i) => {
    const y = 40 + i * rowH;
    const a = xs(1);
    const b = xs(r.ratio);
    const color = r.ratio >= 1 ? '#2b8a3e' : '#c92a2a';
    return `<text x="${x0 - 8}" y="${y + 14}" text-anchor="end" font-size="12">${esc(`${r.name} ${r.shape}`)}</text>` +
      `<rect x="${Math.min(a, b)}" y="${y + 3}" width="${Math.max(1, Math.abs(b - a))}" height="${rowH - 6}" fill="${color}"/>` +
      `<text x="${b + (r.ratio >= 1 ? 4 : -4)}" y="${y + 14}" font-size="11" text-anchor="${r.ratio >= 1 ? 'start' : 'end'}">${r.ratio.toFixed(2)}x</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">` +
    `<text x="10" y="20" font-size="14">${esc(title)}</text>` +
    `<text x="${xs(1)}" y="34" font-size="11" text-anchor="middle">PyTorch time / convkit time (right of 1: convkit faster)</text>` +
    `<line x1="${xs(1)}" y1="38" x2="${xs(1)}" y2="${h - 10}" stroke="#555"/>${bars.join('')}</svg>\n`;
}

// Benchmark-suite helpers: tensors of `shapes` that require grad; their gradients released between runs.
function withGrad(ck, shapes, device) {
  return shapes.map((s) => ck.randn(s, { device }).requiresGrad_());
}
function clearGrads(ts) {
  for (const t of ts) {
    if (t.grad) {
      t.grad.dispose();
      t.grad = null;
    }
  }
}
// The CIFAR-10 CNN's activation shape the elementwise suites (activation, pool) time, batch 32 or 128.
function cnnActivationShape(quick) {
  return quick ? [32, 64, 16, 16] : [128, 64, 32, 32];
}

module.exports = {
  runSideBySide, formatRow, header, machine, stats, svgChart, measurePeak, peakFraction, withGrad, clearGrads,
  cnnActivationShape,
};
