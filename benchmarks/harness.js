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
 * cases: [{ name, shape, params, flops?, bytes?, setup(ck) -> { run(), dispose() } }]
 * opts: { device, threads, rounds, repsPerRound, warmup, maxSpread }
 */
async function runSideBySide(ck, cases, opts) {
  const twin = new Twin(opts.device);
  const rows = [];
  for (const c of cases) {
    const mine = c.setup(ck);
    const ckTimes = [];
    const ptTimes = [];
    let torchVersion = '';
    let error = null;
    for (let i = 0; i < opts.warmup; i++) mine.run();
    if (opts.device !== 'cpu') ck.cuda.synchronize();
    for (let r = 0; r < opts.rounds && !error; r++) {
      for (let k = 0; k < opts.repsPerRound; k++) {
        const t0 = process.hrtime.bigint();
        mine.run();
        if (opts.device !== 'cpu') ck.cuda.synchronize();
        ckTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      const reply = await twin.request({
        case: c.twin ?? c.name, params: c.params, reps: opts.repsPerRound, warmup: r === 0 ? opts.warmup : 0,
        threads: opts.threads, device: opts.device,
      });
      if (reply.error) error = reply.error;
      else {
        ptTimes.push(...reply.times_ms);
        torchVersion = reply.torch;
      }
    }
    mine.dispose();
    const a = stats(ckTimes);
    const b = error ? null : stats(ptTimes);
    const row = { name: c.name, shape: c.shape, convkit: a, torch: b, torchVersion, error };
    row.noisy = a.spread > opts.maxSpread || (b !== null && b.spread > opts.maxSpread);
    row.ratio = b ? b.median / a.median : null; // > 1: convkit faster
    if (c.flops) row.gflops = { convkit: c.flops / a.median / 1e6, torch: b ? c.flops / b.median / 1e6 : null };
    rows.push(row);
    if (opts.onRow) opts.onRow(row);
  }
  twin.close();
  return rows;
}

function fmt(x, d = 2) {
  return x === null || x === undefined ? '-' : x.toFixed(d);
}

function formatRow(r, maxSpread) {
  if (r.error) return `${r.name.padEnd(10)} ${r.shape.padEnd(22)} PyTorch failed: ${r.error}`;
  if (r.noisy)
    return `${r.name.padEnd(10)} ${r.shape.padEnd(22)} not reported: spread convkit ${(r.convkit.spread * 100).toFixed(0)}% / torch ${(r.torch.spread * 100).toFixed(0)}% exceeds ${(maxSpread * 100).toFixed(0)}%`;
  const faster = r.ratio >= 1 ? 'convkit' : 'PyTorch';
  const g = r.gflops ? `${fmt(r.gflops.convkit, 1).padStart(8)} ${fmt(r.gflops.torch, 1).padStart(8)}` : ''.padStart(17);
  return `${r.name.padEnd(10)} ${r.shape.padEnd(22)} ${fmt(r.ratio).padStart(6)}x ${faster.padEnd(8)} ${fmt(r.convkit.median, 3).padStart(9)} ${fmt(r.torch.median, 3).padStart(9)} ${g}`;
}

function header() {
  return `${'op'.padEnd(10)} ${'shape'.padEnd(22)} ${'ratio'.padStart(7)} ${'faster'.padEnd(8)} ${'ck ms'.padStart(9)} ${'torch ms'.padStart(9)} ${'ck GF/s'.padStart(8)} ${'pt GF/s'.padStart(8)}\n` +
    '(ratio = PyTorch time / convkit time; > 1 means convkit is faster)';
}

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return { cpu, cores: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()}-${os.arch()}` };
}

module.exports = { runSideBySide, formatRow, header, machine, stats };
