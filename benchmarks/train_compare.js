#!/usr/bin/env node
// `node benchmarks/train_compare.js [--data DIR] [--epochs N] [--device cpu|cuda] [--threads N] [--limit-train N] [--limit-test N]`
// Trains `convkit train`'s default recipe (the CIFAR-10 CNN, AdamW + per-step cosine, batch 64, no
// augmentation) in convkit and in PyTorch (benchmarks/torch/train_compare.py) on the same IDX data
// (default: the Fashion-MNIST subset in data/), same threads, one after the other, and prints both
// test accuracies, the gap in points and both wall times, and convkit's step-time breakdown summed over the
// epochs (where its time goes: data, host to device, forward, backward, optimizer, metrics, the rest).
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
const ck = require(path.join(root, 'dist'));
const device = opt('--device', ck.cuda.isAvailable() && !ck.cuda.isEmulated() ? 'cuda' : 'cpu');
const threads = opt('--threads', String(ck.getNumThreads()));
const limits = ['--limit-train', '--limit-test'].flatMap((k) => (argv.includes(k) ? [k, opt(k)] : []));

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
console.log(`recipe: cifar10Net, AdamW lr 1e-3 wd 0.01, cosine per step, batch 64, ${epochs} epochs, ${device}, ${threads} threads, data ${data}`);
const c = run(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'train', '--data', data, '--epochs', epochs, '--device', device, '--json', '--out', path.join(out, 'run'), '--threads', threads, ...limits]);
const events = c.stdout.trim().split('\n').map((l) => JSON.parse(l));
const ckEpochs = events.filter((e) => e.event === 'epoch');
const ckTrain = ckEpochs.reduce((a, e) => a + e.time_s, 0);
const ckAcc = events.find((e) => e.event === 'done').test_acc;

const py = process.env.PYTHON || 'python3';
// PyTorch's fair CPU baseline is OpenBLAS choosing its own kernel: this machine's pins are lifted for it alone.
const t = run(py, [path.join(__dirname, 'torch', 'train_compare.py'), '--data', data, '--epochs', epochs, '--device', device, '--threads', threads, ...limits], { OPENBLAS_CORETYPE: undefined, OPENBLAS_L2_SIZE: undefined });
const pt = JSON.parse(t.stdout.trim().split('\n').pop());

const pct = (v) => `${(100 * v).toFixed(2)}%`;
console.log(`convkit ${ck.info().version}: test accuracy ${pct(ckAcc)} (per epoch ${ckEpochs.map((e) => pct(e.test_acc)).join(' ')}), ${c.seconds.toFixed(1)} s wall (${ckTrain.toFixed(1)} s in epochs: ${ckEpochs.map((e) => e.time_s.toFixed(1)).join(' ')})`);
console.log(`PyTorch ${pt.torch}: test accuracy ${pct(pt.test_acc)} (per epoch ${pt.acc_per_epoch.map(pct).join(' ')}), ${pt.seconds.toFixed(1)} s training loop (epochs: ${pt.epoch_seconds.map((s) => s.toFixed(1)).join(' ')}), ${t.seconds.toFixed(1)} s wall`);
console.log(`gap: ${(100 * (ckAcc - pt.test_acc)).toFixed(2)} points; time ratio convkit/PyTorch (wall): ${(c.seconds / t.seconds).toFixed(2)}`);
const parts = ['data', 'h2d', 'forward', 'backward', 'optimizer', 'metrics', 'other'];
if (ckEpochs.every((e) => e.breakdown)) {
  const sum = Object.fromEntries(parts.map((p) => [p, ckEpochs.reduce((a, e) => a + e.breakdown[p], 0)]));
  const total = parts.reduce((a, p) => a + sum[p], 0);
  const share = (p) => `${p} ${sum[p].toFixed(2)} s (${((100 * sum[p]) / total).toFixed(1)}%)`;
  console.log(`convkit step-time breakdown over ${ckEpochs.length} epochs (${total.toFixed(1)} s): ${parts.map(share).join(', ')}`);
  const nonModel = ['data', 'h2d', 'metrics', 'other'].reduce((a, p) => a + sum[p], 0);
  console.log(`  model (forward + backward + optimizer) ${(100 * (1 - nonModel / total)).toFixed(1)}%, the rest ${((100 * nonModel) / total).toFixed(1)}%`);
}
fs.rmSync(out, { recursive: true, force: true });
