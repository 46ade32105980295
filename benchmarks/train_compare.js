#!/usr/bin/env node
// `node benchmarks/train_compare.js [--data DIR] [--epochs N] [--device cpu|cuda] [--threads N] [--limit-train N] [--limit-test N]
//                                   [--batch-size N] [--augment] [--workers N] [--seeds 0,1,2]`
// Trains `convkit train`'s default recipe (the tutorial's CIFAR-10 CNN, AdamW + per-step cosine, batch 64, no
// augmentation) in convkit and in PyTorch (benchmarks/torch/train_compare.py) on the same IDX data
// (default: the Fashion-MNIST subset in data/), one after the other, once per seed (interleaved: convkit then
// PyTorch for each seed), and prints both test accuracies, the gap in points, both training-loop times and
// their ratio, and convkit's step-time breakdown summed over the epochs (data, host to device, forward,
// backward, optimizer, metrics, the rest).
// --augment / --workers N: random crop (padding 4 on 28x28) + horizontal flip and N loader workers on both
// sides (`convkit train --augment --workers N`; PyTorch: torchvision transforms + DataLoader(num_workers=N)),
// issue 23's like-for-like comparison. Without --threads each side keeps its own default thread count
// (convkit: the cores not taken by loader workers; PyTorch: all cores) and both are printed.
// Not part of the tests: it takes minutes.
// Needs dist/ (npm run build:ts) and python3 with torch (PYTHON=... to choose the interpreter).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const data = path.resolve(opt('--data', path.join(root, 'data', 'fashion-mnist')));
const epochs = opt('--epochs', '5');
const batch = opt('--batch-size', '64');
const seeds = opt('--seeds', '0').split(',').map((v) => v.trim());
const augment = argv.includes('--augment');
const workers = opt('--workers', null);
const ck = require(path.join(root, 'dist'));
const device = opt('--device', ck.cuda.isAvailable() && !ck.cuda.isEmulated() ? 'cuda' : 'cpu');
const threads = opt('--threads', augment || workers !== null ? null : String(ck.getNumThreads()));
const pass = (k, v) => (v === null ? [] : [k, v]);
const common = [
  '--data', data, '--epochs', epochs, '--device', device, '--batch-size', batch,
  ...pass('--threads', threads), ...pass('--workers', workers), ...(augment ? ['--augment'] : []),
  ...['--limit-train', '--limit-test'].flatMap((k) => pass(k, opt(k, null))),
];

function withEnv(extra) {
  const env = { ...process.env, ...extra };
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

function run(cmd, args, env = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env: withEnv(env), stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`);
  return { stdout: r.stdout, seconds };
}

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-compare-'));
const py = process.env.PYTHON || 'python3';
const pct = (v) => `${(100 * v).toFixed(2)}%`;
const parts = ['data', 'h2d', 'forward', 'backward', 'optimizer', 'metrics', 'other'];
const mean = (xs) => xs.reduce((a, v) => a + v, 0) / xs.length;
console.log(`recipe: cifar10Net, AdamW lr 1e-3 wd 0.01, cosine per step, batch ${batch}, ${epochs} epoch(s), ${device}, ` +
  `threads ${threads ?? 'each side\'s default'}, workers ${workers ?? 'none (in-memory batches)'}, augment ${augment}, seeds ${seeds.join(',')}, data ${data}`);
const rows = [];
for (const seed of seeds) {
  const c = run(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'train', ...common, '--seed', seed, '--json', '--out', path.join(out, `run-${seed}`)]);
  const events = c.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const ckEpochs = events.filter((e) => e.event === 'epoch');
  const ck0 = { acc: events.find((e) => e.event === 'done').test_acc, train: ckEpochs.reduce((a, e) => a + e.time_s, 0), wall: c.seconds };
  // PyTorch's fair CPU baseline is OpenBLAS choosing its own kernel: this machine's pins are lifted for it alone.
  const t = run(py, [path.join(__dirname, 'torch', 'train_compare.py'), ...common, '--seed', seed], { OPENBLAS_CORETYPE: undefined, OPENBLAS_L2_SIZE: undefined });
  const pt = JSON.parse(t.stdout.trim().split('\n').pop());
  const pt0 = { acc: pt.test_acc, train: pt.train_seconds.reduce((a, v) => a + v, 0), wall: t.seconds };
  const start = events.find((e) => e.event === 'start') || {};
  console.log(`seed ${seed}: convkit ${pct(ck0.acc)} (per epoch ${ckEpochs.map((e) => pct(e.test_acc)).join(' ')}), training ${ck0.train.toFixed(1)} s ` +
    `(epochs ${ckEpochs.map((e) => e.time_s.toFixed(1)).join(' ')}), ${c.seconds.toFixed(1)} s wall${start.threads ? `, ${start.threads} kernel threads` : ''}`);
  console.log(`seed ${seed}: PyTorch ${pt.torch} ${pct(pt0.acc)} (per epoch ${pt.acc_per_epoch.map(pct).join(' ')}), training ${pt0.train.toFixed(1)} s ` +
    `(epochs ${pt.train_seconds.map((v) => v.toFixed(1)).join(' ')}), ${t.seconds.toFixed(1)} s wall, ${pt.threads} threads`);
  console.log(`seed ${seed}: gap ${(100 * (ck0.acc - pt0.acc)).toFixed(2)} points; training time convkit/PyTorch ${(ck0.train / pt0.train).toFixed(2)} (wall ${(c.seconds / t.seconds).toFixed(2)})`);
  if (ckEpochs.every((e) => e.breakdown)) {
    const sum = Object.fromEntries(parts.map((p) => [p, ckEpochs.reduce((a, e) => a + e.breakdown[p], 0)]));
    const total = parts.reduce((a, p) => a + sum[p], 0);
    const share = (p) => `${p} ${sum[p].toFixed(2)} s (${((100 * sum[p]) / total).toFixed(1)}%)`;
    const nonModel = ['data', 'h2d', 'metrics', 'other'].reduce((a, p) => a + sum[p], 0);
    console.log(`  convkit breakdown (${total.toFixed(1)} s): ${parts.map(share).join(', ')}; model ${(100 * (1 - nonModel / total)).toFixed(1)}%, the rest ${((100 * nonModel) / total).toFixed(1)}%`);
  }
  rows.push({ ck: ck0, pt: pt0 });
}
if (rows.length > 1) {
  const ckT = mean(rows.map((r) => r.ck.train));
  const ptT = mean(rows.map((r) => r.pt.train));
  const ckA = mean(rows.map((r) => r.ck.acc));
  const ptA = mean(rows.map((r) => r.pt.acc));
  console.log(`mean over ${rows.length} seeds: convkit ${pct(ckA)} in ${ckT.toFixed(1)} s, PyTorch ${pct(ptA)} in ${ptT.toFixed(1)} s of training; ` +
    `gap ${(100 * (ckA - ptA)).toFixed(2)} points; time ratio convkit/PyTorch ${(ckT / ptT).toFixed(2)}`);
}
fs.rmSync(out, { recursive: true, force: true });
