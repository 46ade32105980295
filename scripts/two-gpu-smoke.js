#!/usr/bin/env node
// The GPU check's two-GPU smoke test (gpu-bundle.sh ships it as two-gpu.js; gpu-check.sh runs it when
// nvidia-smi -L lists two or more GPUs): tensors made on cuda:1, a convolution (hand-written kernels, TF32
// off), ReLU, pooling and a matmul there, the result copied to cuda:0, one more op on cuda:0, and every
// step compared with the CPU. CONVKIT_TWO_GPU_REHEARSAL=1 runs the same steps with cuda:0 standing in for
// cuda:1 (the dry run on the one emulated device). Exits non-zero on any mismatch or error.
'use strict';
const path = require('path');
const ck = require(process.env.CONVKIT_LIB || path.join(__dirname, 'js', 'lib'));

const rehearsal = process.env.CONVKIT_TWO_GPU_REHEARSAL === '1';
const n = ck.cuda.deviceCount();
if (!rehearsal && n < 2) {
  console.error(`two-gpu: needs two CUDA devices, this process sees ${n}`);
  process.exit(1);
}
const far = rehearsal ? 'cuda:0' : 'cuda:1';
console.log(`two-gpu: ${n} device(s): ${Array.from({ length: n }, (_, i) => ck.cuda.getDeviceName(i)).join(', ')}; ` +
  `far device ${far}${rehearsal ? ' (rehearsal)' : ''}`);
ck.backends.conv = 'native';
ck.backends.cudnn.allowTF32 = false;

let failures = 0;
function compare(what, got, want, tol) {
  if (got.device.toString() === 'cpu' && want.device.toString() === 'cpu') {
    const a = got.dataSync();
    const b = want.dataSync();
    let worst = 0;
    let ok = a.length === b.length;
    for (let i = 0; ok && i < a.length; i++) {
      const err = Math.abs(a[i] - b[i]);
      worst = Math.max(worst, err);
      if (!(err <= tol * (1 + Math.abs(b[i])))) ok = false;
    }
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${a.length} values, max |gpu - cpu| ${worst.toExponential(2)}`);
    if (!ok) failures++;
    return;
  }
  throw new Error(`${what}: compare() takes CPU tensors`);
}

try {
  ck.manualSeed(0);
  const xc = ck.randn([2, 3, 12, 12]);
  const wc = ck.randn([8, 3, 3, 3]);
  const bc = ck.randn([8]);
  const mc = ck.randn([8 * 6 * 6, 10]);
  const F = ck.nn.functional;
  const cpuFeat = F.maxPool2d(F.conv2d(xc, wc, bc, { padding: 1 }).relu(), 2);
  const cpuOut = cpuFeat.reshape(2, -1).matmul(mc);

  const x1 = xc.to(far);
  const w1 = wc.to(far);
  const b1 = bc.to(far);
  const m1 = mc.to(far);
  if (x1.device.toString() !== far) throw new Error(`tensor is on ${x1.device}, expected ${far}`);
  const feat1 = F.maxPool2d(F.conv2d(x1, w1, b1, { padding: 1 }).relu(), 2);
  const out1 = feat1.reshape(2, -1).matmul(m1);
  if (out1.device.toString() !== far) throw new Error(`result is on ${out1.device}, expected ${far}`);
  compare(`conv+relu+pool on ${far}`, feat1.cpu(), cpuFeat, 1e-4);
  compare(`matmul on ${far}`, out1.cpu(), cpuOut, 1e-4);

  const out0 = out1.to('cuda:0');
  if (out0.device.toString() !== 'cuda:0') throw new Error(`copy landed on ${out0.device}, expected cuda:0`);
  const far1 = out1.cpu();
  compare(`${far} -> cuda:0 copy (bit-exact)`, out0.cpu(), far1, 0);
  const back = out0.mul(2).add(1);
  compare('an op on cuda:0 after the copy', back.cpu(), far1.mul(2).add(1), 1e-6);
  ck.cuda.synchronize();
} catch (e) {
  console.error(`FAIL two-gpu: ${(e && e.stack) || e}`);
  process.exit(1);
}
console.log(failures ? `two-gpu: ${failures} mismatch(es)` : 'two-gpu: all steps match the CPU');
process.exit(failures ? 1 : 0);
