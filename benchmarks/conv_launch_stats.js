#!/usr/bin/env node
// Launch statistics (ck.cudaStats) of one ResNet-18 training step (torchvision layout, 10 classes, SGD with
// momentum, the hand-written convolution kernels; the loss is the sum of the logits) at 32x32 batch 128 and 224x224 batch 32, printed as a
// Markdown table. Runs on the emulated device as a dry run: every launch goes through the real dispatcher
// and launcher and is recorded, but no kernel runs (emulating these shapes would take hours), so the
// numbers are the plan the kernels would execute, not a timing. The first step of a fresh model is
// measured; convolution rows give tile utilisation (useful / issued multiply-adds).
//
//   CONVKIT_BINARY=emu node benchmarks/conv_launch_stats.js [--sms N]      (CONVKIT_LIB: the built lib, default dist)
'use strict';
const path = require('path');

const argv = process.argv.slice(2);
if (argv.includes('--sms')) process.env.CONVKIT_EMU_SM_COUNT = argv[argv.indexOf('--sms') + 1];
const ck = require(process.env.CONVKIT_LIB || path.join(__dirname, '..', 'dist'));

function step(N, size) {
  ck.manualSeed(0);
  ck.backends.conv = 'native';
  const model = ck.models.resnet18({ numClasses: 10 }).to('cuda');
  const opt = new ck.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = ck.randn([N, 3, size, size], { device: 'cuda' });
  ck.cudaStats.enable({ dryRun: true });
  ck.tidy(() => {
    opt.zeroGrad();
    // The loss is the logits' sum: cross entropy checks its targets through a flag the (skipped) kernel would
    // have written. The network's launches are the same either way.
    model.forward(x).sum().backward();
    opt.step();
  });
  const s = ck.cudaStats.get();
  ck.cudaStats.disable();
  x.dispose();
  for (const p of model.parameters()) p.dispose();
  return s;
}

const mib = (b) => (b / 1048576).toFixed(1);
function table(title, s) {
  const lines = [`### ${title}`, '', `device: ${ck.cudaStats.deviceProps().smCount} SMs, compute capability ${ck.cudaStats.deviceProps().computeCapability} (emulated, dry run)`, ''];
  lines.push('| kernel | launches | blocks per launch (min-max) | tile utilisation |', '|---|---:|---:|---:|');
  let useful = 0, issued = 0, gemmLaunches = 0, minUtil = 1;
  for (const k of s.kernels) {
    const u = k.utilisation === null ? '' : `${(100 * k.utilisation).toFixed(1)}%`;
    lines.push(`| ${k.name} | ${k.launches} | ${k.minBlocks}-${k.maxBlocks} | ${u} |`);
    if (k.utilisation !== null) {
      useful += k.usefulMacs;
      issued += k.issuedMacs;
      gemmLaunches += k.launches;
      minUtil = Math.min(minUtil, k.utilisation);
    }
  }
  lines.push('', `launches per step: ${s.launches}; GEMM-shaped launches: ${gemmLaunches}; ` +
    `useful / issued multiply-adds over the step: ${(useful / 1e9).toFixed(2)} G / ${(issued / 1e9).toFixed(2)} G = ` +
    `${(100 * useful / issued).toFixed(1)}% (lowest kernel row ${(100 * minUtil).toFixed(1)}%)`,
    `scratch: ${mib(s.scratchBytes)} MiB in ${s.scratchAllocs} allocations, of which im2col matrices ${mib(s.im2colBytes)} MiB`, '');
  return lines.join('\n');
}

console.log(table('ResNet-18 training step, 32x32, batch 128', step(128, 32)));
console.log(table('ResNet-18 training step, 224x224, batch 32', step(32, 224)));
