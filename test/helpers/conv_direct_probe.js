// Loads a convkit binary (argv[2]) in a fresh process, so the ISA dispatch runs under this process's environment
// (CONVKIT_CPU_ISA), forces the direct 3x3 kernel (setConvAlgo('direct3x3'), csrc/cpu/conv_direct.cc) and checks
// its forward (with bias), its forward with the eval-mode conv + batch norm + residual + ReLU epilogue,
// backward-data and backward-weight against float64 loops, on odd shapes (channel counts that are no multiple of
// the vector width, widths 7, 8, 13, 14, paddings 0, 1, 2, batches 1-3). Also: the same bits on 1 and 3
// threads, and which algorithm the auto rule takes on a small map. Prints one JSON line. Used by
// test/unit/conv_direct.test.ts.
'use strict';
const { native, lcg, upload: store, download: fetch, relErr: err } = require('./probe_util');
const rnd = lcg(2024);
const rand = (n, s = 1) => Float32Array.from({ length: n }, () => rnd() * s);
const op = (s) => (s ? { storage: s, offset: 0 } : null);

// float64 loops: y (N, O, OH, OW), dx (N, C, H, W), dw (O, C, 3, 3).
function ref(x, w, g, N, C, H, W, O, pad) {
  const OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
  const y = new Float64Array(N * O * OH * OW), dx = new Float64Array(N * C * H * W), dw = new Float64Array(O * C * 9);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let c = 0; c < C; c++)
        for (let t = 0; t < 9; t++) {
          const kh = (t / 3) | 0, kw = t % 3, wv = w[(o * C + c) * 9 + t];
          let sw = 0;
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh + kh - pad;
            if (ih < 0 || ih >= H) continue;
            for (let ow = 0; ow < OW; ow++) {
              const iw = ow + kw - pad;
              if (iw < 0 || iw >= W) continue;
              const yi = ((n * O + o) * OH + oh) * OW + ow, xi = ((n * C + c) * H + ih) * W + iw;
              y[yi] += wv * x[xi];
              dx[xi] += wv * g[yi];
              sw += g[yi] * x[xi];
            }
          }
          dw[(o * C + c) * 9 + t] += sw;
        }
  return { y, dx, dw, OH, OW };
}

const out = { isa: native.buildInfo().cpuIsa, cases: [], threadsSame: true, autoAlgo: null };
native.setConvAlgo('direct3x3');
// [N, C, H, W, O, pad]
const cases = [[1, 5, 7, 7, 9, 1], [2, 17, 8, 8, 33, 1], [3, 19, 13, 13, 20, 1], [2, 33, 14, 14, 17, 1],
  [1, 16, 13, 14, 40, 0], [2, 12, 7, 13, 24, 2], [1, 3, 14, 7, 70, 1], [2, 17, 14, 13, 33, 1]];
for (const [N, C, H, W, O, pad] of cases) {
  const OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
  const p = { N, C, H, W, O, KH: 3, KW: 3, OH, OW, sh: 1, sw: 1, ph: pad, pw: pad, dh: 1, dw: 1, groups: 1 };
  const x = rand(N * C * H * W), w = rand(O * C * 9, 1 / Math.sqrt(9 * C)), b = rand(O), g = rand(N * O * OH * OW);
  const gamma = rand(O), beta = rand(O), mean = rand(O), vr = Float32Array.from(rand(O), (v) => v * v + 0.5);
  const res = rand(N * O * OH * OW);
  const r = ref(x, w, g, N, C, H, W, O, pad);
  const [sx, sw, sb, sg] = [x, w, b, g].map(store);
  const [sgam, sbet, smean, svar, sres] = [gamma, beta, mean, vr, res].map(store);
  const sy = native.alloc(-1, N * O * OH * OW * 4), sdx = native.alloc(-1, x.byteLength), sdw = native.alloc(-1, w.byteLength);
  const sdb = native.alloc(-1, O * 4);
  const row = { shape: [N, C, H, W, O, pad] };
  // forward with bias
  native.conv2dForward(p, { input: op(sx), weight: op(sw), bias: op(sb), output: op(sy) });
  const yb = new Float64Array(r.y.length);
  for (let i = 0; i < yb.length; i++) yb[i] = r.y[i] + b[Math.floor(i / (OH * OW)) % O];
  const y1 = fetch(sy, yb.length);
  row.fwd = err(y1, yb);
  // the same bits on 3 threads
  native.setNumThreads(3);
  native.conv2dForward(p, { input: op(sx), weight: op(sw), bias: op(sb), output: op(sy) });
  const y3 = fetch(sy, yb.length);
  native.setNumThreads(1);
  for (let i = 0; i < y1.length; i++) if (y1[i] !== y3[i]) out.threadsSame = false;
  // eval-mode conv + batch norm + residual + ReLU (the epilogue)
  const eps = 1e-5;
  native.conv2dBnActEval({ ...p, eps, relu: true }, {
    input: op(sx), weight: op(sw), bias: op(sb), bnWeight: op(sgam), bnBias: op(sbet), runningMean: op(smean),
    runningVar: op(svar), residual: op(sres), output: op(sy),
  });
  const ye = new Float64Array(r.y.length);
  for (let i = 0; i < ye.length; i++) {
    const o = Math.floor(i / (OH * OW)) % O;
    const v = (yb[i] - mean[o]) / Math.sqrt(vr[o] + eps) * gamma[o] + beta[o] + res[i];
    ye[i] = v > 0 ? v : 0;
  }
  row.epilogue = err(fetch(sy, ye.length), ye);
  // backward-data and backward-weight (+ bias gradient)
  native.conv2dBackwardData(p, { gradOutput: op(sg), weight: op(sw), gradInput: op(sdx) });
  row.bwdData = err(fetch(sdx, x.length), r.dx);
  native.conv2dBackwardWeight(p, { input: op(sx), gradOutput: op(sg), gradWeight: op(sdw), gradBias: op(sdb) });
  row.bwdWeight = err(fetch(sdw, w.length), r.dw);
  for (const s of [sx, sw, sb, sg, sgam, sbet, smean, svar, sres, sy, sdx, sdw, sdb]) s.dispose();
  out.cases.push(row);
}
// The auto rule on a CIFAR-10 CNN layer cut down (64 -> 64 channels at 7x7): bits equal to which algorithm?
{
  const [N, C, H, O] = [2, 64, 7, 64];
  const p = { N, C, H, W: H, O, KH: 3, KW: 3, OH: H, OW: H, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, groups: 1 };
  const sx = store(rand(N * C * H * H)), sw = store(rand(O * C * 9, 0.05)), sy = native.alloc(-1, N * O * H * H * 4);
  const run = (a) => {
    native.setConvAlgo(a);
    native.conv2dForward(p, { input: op(sx), weight: op(sw), bias: null, output: op(sy) });
    return fetch(sy, N * O * H * H);
  };
  const [ya, yd, yg] = ['auto', 'direct3x3', 'direct'].map(run);
  const same = (u, v) => u.every((e, i) => e === v[i]);
  out.autoAlgo = same(ya, yd) ? 'direct3x3' : same(ya, yg) ? 'direct' : 'other';
  for (const s of [sx, sw, sy]) s.dispose();
}
process.stdout.write(JSON.stringify(out) + '\n');
