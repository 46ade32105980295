#!/usr/bin/env node
// `node benchmarks/gemm_isa.js [binary]`: the GEMM micro-kernels of each CPU ISA path (csrc/cpu/isa.h) side
// by side on one thread, at the CIFAR-10 CNN's im2col shapes and two square-ish ones: best of 40 calls per
// shape (a shared machine has slow moments; the best call is the kernel's speed), with the single-thread
// FMA peak of the same path (best of 100 bursts of 10 ms, for the same reason) for % peak. Each path runs in its own process (the path is chosen at load).
// Prints a table and one JSON line per path. Default binary: build-cpu/Release/convkit.node.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const SHAPES = [[32, 1024, 288], [64, 4096, 576], [128, 1024, 1152], [256, 256, 2304]];

if (process.env.CK_GEMM_ISA_CHILD) {
  const native = require(path.resolve(process.argv[2]));
  native.setNumThreads(1);
  const out = { isa: native.buildInfo().cpuIsa, peak: native.measurePeak('cpu', 1, 16 * 2 ** 20, 100).gflops, gflops: {} };
  for (const [M, N, K] of SHAPES) {
    const sA = native.alloc(-1, M * K * 4), sB = native.alloc(-1, K * N * 4), sC = native.alloc(-1, M * N * 4);
    native.upload({ storage: sA, byteOffset: 0 }, new Float32Array(M * K).fill(0.5));
    native.upload({ storage: sB, byteOffset: 0 }, new Float32Array(K * N).fill(0.25));
    const op = {
      a: { storage: sA, offset: 0, batchStride: 0, rowStride: K, colStride: 1 },
      b: { storage: sB, offset: 0, batchStride: 0, rowStride: N, colStride: 1 },
      c: { storage: sC, offset: 0, batchStride: 0, rowStride: N, colStride: 1 },
    };
    const p = { batch: 1, M, N, K, alpha: 1, beta: 0 };
    native.gemm(p, op);
    let best = Infinity;
    for (let r = 0; r < 40; r++) {
      const t = process.hrtime.bigint();
      native.gemm(p, op);
      best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
    }
    out.gflops[`${M}x${N}x${K}`] = (2 * M * N * K) / best / 1e9;
    for (const s of [sA, sB, sC]) s.dispose();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
} else {
  const bin = process.argv[2] || path.join(__dirname, '..', 'build-cpu', 'Release', 'convkit.node');
  const rows = [];
  for (const isa of ['baseline', 'avx2', 'avx512']) {
    const r = spawnSync(process.execPath, [__filename, bin], { env: { ...process.env, CK_GEMM_ISA_CHILD: '1', CONVKIT_CPU_ISA: isa }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${isa}: ${r.stderr}`);
    const res = JSON.parse(r.stdout);
    if (res.isa !== isa) console.log(`(${isa} asked, ${res.isa} used: the CPU lacks it)`);
    rows.push(res);
  }
  console.log(`path      1-thread peak  ${SHAPES.map(([m, n, k]) => `${m}x${n}x${k}`.padStart(18)).join('')}   (GF/s, % of the path's peak)`);
  for (const r of rows) {
    const cells = Object.values(r.gflops).map((g) => `${g.toFixed(1)} ${((100 * g) / r.peak).toFixed(0)}%`.padStart(18));
    console.log(`${r.isa.padEnd(9)} ${r.peak.toFixed(1).padStart(9)} GF/s ${cells.join('')}`);
  }
  for (const r of rows) console.log(JSON.stringify(r));
}
