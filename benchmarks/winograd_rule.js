#!/usr/bin/env node
// `CONVKIT_BINARY=cpu node benchmarks/winograd_rule.js ["N,C,H,O;..."] [algos]`: the measurements behind the CPU
// convolution rule (docs/winograd.md, docs/conv_algos.md): forward, backward-data (and with DIRS, backward-weight) of
// 3x3 padding-1 convolutions, per algorithm
// (ck.setConvAlgo), median of REPS (default 9) calls interleaved across the algorithms, of the process's CPU time on ONE thread (T1=0 for all threads: then the
// numbers include the pool's spinning), which a shared, loaded machine disturbs much less than wall time.
'use strict';
const path = require('path');
const ck = require(path.join(__dirname, '..', 'dist'));
const { native } = require(path.join(__dirname, '..', 'dist', 'binding'));
const shapes = (process.argv[2] || '128,32,32,32;128,32,16,64;128,64,16,64;128,64,8,128;128,128,8,128;32,64,56,64;32,128,28,128;32,256,14,256;32,512,7,512;128,16,32,16')
  .split(';').map((s) => s.split(',').map(Number));
const algos = (process.argv[3] || 'direct,winograd2,winograd4').split(',');
if (process.env.T1 !== '0') ck.setNumThreads(1);
const REPS = Number(process.env.REPS || 9);
// DIRS=fwd,bwd_data,bwd_weight (default fwd,bwd_data; bwd_weight also runs Winograd's adjoint, docs/winograd.md).
const DIRS = (process.env.DIRS || 'fwd,bwd_data').split(',');
const op = (t) => ({ storage: t.storage, offset: 0 });
for (const [N, C, H, O] of shapes) {
  const x = ck.randn([N, C, H, H]), w = ck.randn([O, C, 3, 3]).mul(0.05), g = ck.randn([N, O, H, H]);
  const gx = ck.empty([N, C, H, H]), gw = ck.empty([O, C, 3, 3]);
  const params = { N, C, H, W: H, O, KH: 3, KW: 3, OH: H, OW: H, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, groups: 1 };
  const row = [];
  for (const dir of DIRS) {
    const f = dir === 'fwd' ? () => ck.nn.functional.conv2d(x, w, null, { padding: 1 }).dispose()
      : dir === 'bwd_data' ? () => native.conv2dBackwardData(params, { gradOutput: op(g), weight: op(w), gradInput: op(gx) })
      : () => native.conv2dBackwardWeight(params, { input: op(x), gradOutput: op(g), gradWeight: op(gw), gradBias: null });
    // The algorithms interleaved call by call (a burst of load elsewhere hits all alike), order alternating.
    const ts = algos.map(() => []);
    for (let r = 0; r < REPS + 1; r++) {
      const order = r % 2 ? [...algos.keys()].reverse() : [...algos.keys()];
      for (const i of order) {
        ck.setConvAlgo(algos[i]);
        const t0 = process.cpuUsage();
        f();
        const d = process.cpuUsage(t0);
        if (r > 0) ts[i].push((d.user + d.system) / 1e3);  // the first round warms up
      }
    }
    algos.forEach((a, i) => {
      ts[i].sort((p, q) => p - q);
      row.push(`${dir}:${a}=${ts[i][REPS >> 1].toFixed(1)}`);
    });
  }
  console.log(`${N}x${C}x${H}->${O} (${(2 * N * O * H * H * C * 9 / 1e9).toFixed(2)} GF, ms)`, row.join(' '));
  for (const t of [x, w, g, gx, gw]) t.dispose();
}
ck.setConvAlgo('auto');
