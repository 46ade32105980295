#!/usr/bin/env node
// `node benchmarks/gemm_bf16.js` (after `npm run build:ts`): the BF16 GEMM (csrc/cpu/gemm_bf16.*, what ck.autocast('cpu')
// runs convolutions and linear layers on) against the FP32 GEMM, single thread, GF/s from process CPU time, on the
// shapes of the CIFAR-10 CNN's convolutions (Og x columns x depth) and two square ones. Not part of the tests.
'use strict';
const path = require('path');
const ck = require(path.join(__dirname, '..', 'dist'));
const { native } = require(path.join(__dirname, '..', 'dist', 'binding'));

ck.setNumThreads(1);
const time = (f) => {
  f().dispose();
  const t0 = process.cpuUsage();
  let n = 0;
  do {
    f().dispose();
    n++;
  } while (process.cpuUsage(t0).user < 3e5);
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / n / 1e6;
};
console.log(`bf16 GEMM kernel: ${native.gemmBf16Kernel()} (cpu ${JSON.stringify(ck.info().cpu)})`);
for (const [M, N, K, tb] of [[32, 1024, 27, false], [64, 1024, 288, false], [128, 256, 576, false], [64, 288, 1024, true], [256, 256, 256, false], [512, 512, 512, false]]) {
  const a = ck.randn([M, K]);
  const bs = tb ? ck.randn([N, K]) : ck.randn([K, N]);
  const b = tb ? bs.t() : bs;
  const t32 = time(() => a.matmul(b));
  native.setGemmPrecision('bfloat16');
  let t16;
  try {
    t16 = time(() => a.matmul(b));
  } finally {
    native.setGemmPrecision('float32');
  }
  const gf = (t) => (2 * M * N * K / t / 1e9).toFixed(1);
  console.log(`${M}x${N}x${K}${tb ? ' (B transposed)' : ''}: FP32 ${gf(t32)} GF/s, BF16 ${gf(t16)} GF/s, BF16/FP32 speed ${(t32 / t16).toFixed(2)}x`);
}
