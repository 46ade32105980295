#!/usr/bin/env node
// `node benchmarks/autocast_train.js [--epochs N] [--data DIR] [--limit-train N] [--limit-test N] [--seed N] [--threads N]`
// (after `npm run build:ts`). BF16 autocast against FP32 on a real training run: the CIFAR-10 CNN (ck.models.cifar10Net)
// on the shipped Fashion-MNIST subset (data/fashion-mnist, 6000 + 1000 images) with `convkit train`'s recipe (its own
// build(): AdamW lr 1e-3 + per-step cosine, batch 64, seed 0), once in FP32 and once with the forward inside
// ck.autocast('cpu', { dtype: 'bfloat16' }) (backward after the region, as in PyTorch; evaluation inside it too). The
// two runs are built from the same seed and interleaved epoch by epoch (each run keeps its own random stream, so its
// shuffles and dropout masks are those of a run alone), and each training step is timed in process CPU time on one
// kernel thread, so the two share the machine's load alike. Prints per-epoch test accuracy and the median step time.
// Not part of the tests.
'use strict';
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const ck = require(path.join(root, 'dist'));
const { native } = require(path.join(root, 'dist', 'binding'));
const { build } = require(path.join(root, 'dist', 'cli', 'setup'));
const { evaluate } = require(path.join(root, 'dist', 'cli', 'epoch'));
const { getRngState, setRngState } = require(path.join(root, 'dist', 'random'));

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const num = (name) => (argv.includes(name) ? Number(opt(name)) : null);
const settings = {
  model: 'cifar10Net', data: opt('--data', null), epochs: Number(opt('--epochs', '3')), batchSize: 64, lr: 1e-3, weightDecay: null,
  labelSmoothing: 0, optimizer: 'adamw', scheduler: 'cosine', device: 'cpu', seed: Number(opt('--seed', '0')), workers: 0,
  weights: null, freezeBackbone: false, augment: false, imageSize: null, limitTrain: num('--limit-train'), limitTest: num('--limit-test'),
};
ck.setNumThreads(Number(opt('--threads', '1')));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runs = ['fp32', 'bf16'].map((precision) => {
  ck.manualSeed(settings.seed);
  const b = build(settings);
  return { precision, b, rng: getRngState(), criterion: new ck.nn.CrossEntropyLoss(), epochs: [] };
});
const inRegion = (run, fn) => (run.precision === 'bf16' ? ck.autocast('cpu', { dtype: 'bfloat16' }, fn) : fn());

async function epoch(run) {
  setRngState(run.rng);
  const { model, optimizer, sched, perBatch, trainLoader, testLoader } = run.b;
  model.train();
  const stepMs = [];
  let lossSum = 0;
  for await (const [x, y] of trainLoader) {
    const t0 = process.cpuUsage();
    lossSum += ck.tidy(() => {
      optimizer.zeroGrad();
      const loss = inRegion(run, () => run.criterion.forward(model.forward(x), y));
      loss.backward();
      optimizer.step();
      if (perBatch) sched?.step();
      return loss.item();
    });
    const d = process.cpuUsage(t0);
    stepMs.push((d.user + d.system) / 1e3);
    x.dispose();
    y.dispose();
  }
  if (!perBatch) sched?.step();
  const ev = await inRegion(run, () => evaluate(model, testLoader, run.criterion));
  run.rng = getRngState();
  const e = { trainLoss: lossSum / stepMs.length, testAcc: ev.acc, stepMs: median(stepMs), steps: stepMs.length };
  run.epochs.push(e);
  return e;
}

(async () => {
  const info = ck.info();
  console.log(`convkit autocast_train: cifar10Net on ${runs[0].b.bundle.root} (${runs[0].b.bundle.train.length} train / ${runs[0].b.bundle.test.length} test images), ` +
    `${settings.epochs} epochs, AdamW lr ${settings.lr} + cosine, batch ${settings.batchSize}, seed ${settings.seed}, ${ck.getNumThreads()} kernel thread(s)`);
  console.log(`cpu: ${os.cpus()[0].model}, path ${info.cpu.isa}, AVX512_BF16 ${info.cpu.bf16}, bf16 GEMM kernel ${native.gemmBf16Kernel()}; load average at start ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores (shared machine: CPU time per step, runs interleaved)`);
  for (let ep = 1; ep <= settings.epochs; ep++) {
    for (const run of runs) {
      const e = await epoch(run);
      console.log(`epoch ${ep} ${run.precision}: train loss ${e.trainLoss.toFixed(4)}, test accuracy ${(100 * e.testAcc).toFixed(2)}%, median step ${e.stepMs.toFixed(1)} ms CPU (${e.steps} steps)`);
    }
  }
  const [f, b] = runs.map((r) => r.epochs[r.epochs.length - 1]);
  const step = (r) => median(r.epochs.map((e) => e.stepMs));
  console.log(`final: FP32 ${(100 * f.testAcc).toFixed(2)}%, BF16 ${(100 * b.testAcc).toFixed(2)}% (BF16 - FP32 = ${(100 * (b.testAcc - f.testAcc)).toFixed(2)} points); ` +
    `median step FP32 ${step(runs[0]).toFixed(1)} ms, BF16 ${step(runs[1]).toFixed(1)} ms CPU: BF16 speed-up ${(step(runs[0]) / step(runs[1])).toFixed(2)}x; load average at end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
