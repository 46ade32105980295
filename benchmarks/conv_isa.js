#!/usr/bin/env node
// `node benchmarks/conv_isa.js [binary ...]`: the convolution kernels that have per-ISA builds (depthwise:
// cpu/conv_avx2.cc; Winograd's tile transforms: cpu/winograd_kernels.inc) under each CPU ISA path
// (CONVKIT_CPU_ISA, one process per path and binary), ONE thread, best of 15 calls in ms (a shared machine has
// slow moments; the best call is the kernels' speed). Several binaries (e.g. one built before a change)
// run the same rows, so their numbers sit side by side. Default binary: build-cpu/Release/convkit.node.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

// [tag, N, C, H, O, groups, algo]: 3x3, padding 1, stride 1.
const ROWS = [
  ['depthwise 56x56', 8, 64, 56, 64, 64, 'auto'],
  ['depthwise 28x28', 8, 128, 28, 128, 128, 'auto'],
  ['depthwise 14x14', 8, 256, 14, 256, 256, 'auto'],
  ['3x3 winograd2', 8, 64, 16, 64, 1, 'winograd2'],
  ['3x3 winograd4', 8, 64, 16, 64, 1, 'winograd4'],
  ['3x3 winograd4', 8, 128, 8, 128, 1, 'winograd4'],
];

if (process.env.CK_CONV_ISA_CHILD) {
  const ck = require(path.join(__dirname, '..', 'dist'));
  ck.setNumThreads(1);
  const best = (f) => {
    f();
    let b = Infinity;
    for (let r = 0; r < 15; r++) {
      const t0 = process.hrtime.bigint();
      f();
      b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return b;
  };
  const out = { isa: ck.info().cpu.isa, rows: [] };
  for (const [tag, N, C, H, O, groups, algo] of ROWS) {
    ck.setConvAlgo(algo);
    ck.manualSeed(0);
    const x = ck.randn([N, C, H, H]).requiresGrad_();
    const w = ck.randn([O, C / groups, 3, 3]).mul(0.1).requiresGrad_();
    const g = ck.randn([N, O, H, H]);
    const fwd = () => ck.tidy(() => { ck.nn.functional.conv2d(x, w, null, { padding: 1, groups }); });
    const fb = () => {
      ck.tidy(() => { ck.nn.functional.conv2d(x, w, null, { padding: 1, groups }).backward(g); });
      for (const t of [x, w]) { t.grad.dispose(); t.grad = null; }
    };
    out.rows.push({ row: `${tag} ${N}x${C}->${O}`, fwd: best(fwd), fb: best(fb) });
    for (const t of [x, w, g]) t.dispose();
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

const binaries = process.argv.length > 2 ? process.argv.slice(2) : [path.join(__dirname, '..', 'build-cpu', 'Release', 'convkit.node')];
const results = [];
for (const bin of binaries) {
  for (const isa of ['baseline', 'avx2', 'avx512']) {
    const r = spawnSync(process.execPath, [__filename], {
      env: { ...process.env, CK_CONV_ISA_CHILD: '1', CONVKIT_BINARY: path.resolve(bin), CONVKIT_CPU_ISA: isa },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`${bin} ${isa}: exit ${r.status}\n${r.stderr}`);
    const o = JSON.parse(r.stdout.trim().split('\n').pop());
    if (o.isa !== isa) continue; // clamped: the CPU lacks this path
    results.push({ bin, ...o });
    console.log(JSON.stringify({ bin, ...o }));
  }
}
const cols = results.map((r) => `${path.basename(path.dirname(path.dirname(path.dirname(path.resolve(r.bin)))))}:${r.isa}`);
console.log(`\n| row (ms, fwd / f+b) | ${cols.join(' | ')} |\n| --- |${cols.map(() => ' --- |').join('')}`);
for (let i = 0; i < ROWS.length; i++)
  console.log(`| ${results[0].rows[i].row} | ${results.map((r) => `${r.rows[i].fwd.toFixed(2)} / ${r.rows[i].fb.toFixed(2)}`).join(' | ')} |`);
