#!/usr/bin/env node
// `node benchmarks/winograd_train.js [--data DIR] [--epochs N] [--limit-train N] [--limit-test N] [--algos a,b]`
// Training is unaffected by the convolution algorithm: trains the CIFAR-10 CNN and ResNet-18 with `convkit train`
// on real data (default: the full Fashion-MNIST at /usr/share/datasets/fashion-mnist) once per CPU convolution
// algorithm (CONVKIT_CONV_ALGO: default direct, winograd2, winograd4, each forced on every 3x3 stride-1 layer),
// same seed and recipe, and prints each run's test accuracy per epoch and its wall time. Not part of the tests.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const data = opt('--data', '/usr/share/datasets/fashion-mnist');
const epochs = opt('--epochs', '2');
const algos = opt('--algos', 'direct,winograd2,winograd4').split(',');
const models = opt('--models', 'cifar10Net,resnet18').split(',');
const limits = ['--limit-train', '--limit-test'].flatMap((k) => (argv.includes(k) ? [k, opt(k)] : []));
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-wino-train-'));
console.log(`data ${data}, ${epochs} epochs, ${limits.join(' ') || 'all images'}, AdamW + cosine, batch 64, seed 0, cpu`);
for (const model of models) {
  for (const algo of algos) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'train', '--model', model, '--data', data, '--epochs', epochs,
      '--device', 'cpu', '--json', '--out', path.join(out, `${model}-${algo}`), ...limits],
    { cwd: root, encoding: 'utf8', env: { ...process.env, CONVKIT_CONV_ALGO: algo }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${model} ${algo}: convkit train exited with ${r.status}`);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const ep = events.filter((e) => e.event === 'epoch');
    const pct = (v) => `${(100 * v).toFixed(2)}%`;
    console.log(`${model.padEnd(10)} ${algo.padEnd(9)} test accuracy ${pct(events.find((e) => e.event === 'done').test_acc)} (per epoch ${ep.map((e) => pct(e.test_acc)).join(' ')}), train loss ${ep.map((e) => (e.train_loss ?? NaN).toFixed(4)).join(' ')}, ${seconds.toFixed(1)} s wall`);
  }
}
