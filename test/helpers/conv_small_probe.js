// Loads a convkit binary (argv[2]) in a fresh process, so the ISA dispatch runs under this process's environment
// (CONVKIT_CPU_ISA), and checks the shallow-input direct convolution (csrc/cpu/conv_small.cc, taken by the auto
// rule for 1-4 input channels) against float64 loops and against the im2col GEMM path (setConvAlgo('direct')):
// forward with and without bias, the eval-mode batch norm + ReLU epilogue (fused in registers) and batch norm +
// residual + ReLU (applied over the band), for 1-4 input channels, widths 5-40, kernels 3x3, 5x5, 3x5, 2x4 and
// 1x1, paddings 0-4 (beyond the kernel and the image); the same bits on 1 and 3 threads. (On the SSE2 baseline path the rule takes the kernel for
// 1-channel 3x3 only, the GEMM otherwise: both are checked against float64 either way.) Prints one JSON line. Used by test/unit/conv_small.test.ts.
'use strict';
const { native, lcg, upload: store, download: fetch, relErr: err } = require('./probe_util');
const rnd = lcg(77);
const rand = (n, s = 1) => Float32Array.from({ length: n }, () => rnd() * s);
const op = (s) => (s ? { storage: s, offset: 0 } : null);

// float64 loops: y (N, O, OH, OW) = conv(x, w) + b.
function ref(x, w, b, N, C, H, W, O, KH, KW, ph, pw) {
  const OH = H + 2 * ph - KH + 1, OW = W + 2 * pw - KW + 1;
  const y = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = b ? b[o] : 0;
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh + kh - ph;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow + kw - pw;
                if (iw >= 0 && iw < W) s += w[((o * C + c) * KH + kh) * KW + kw] * x[((n * C + c) * H + ih) * W + iw];
              }
            }
          y[((n * O + o) * OH + oh) * OW + ow] = s;
        }
  return y;
}

const out = { isa: native.buildInfo().cpuIsa, cases: [], threadsSame: true };
// [N, C, H, W, O, KH, KW, ph, pw, bias]
const cases = [[2, 1, 28, 28, 32, 3, 3, 1, 1, true], [1, 3, 32, 32, 32, 3, 3, 1, 1, true], [2, 2, 7, 7, 5, 3, 3, 0, 0, false],
  [1, 4, 13, 13, 17, 5, 5, 2, 2, true], [3, 3, 33, 33, 9, 3, 3, 1, 1, false], [1, 1, 13, 7, 40, 5, 5, 0, 0, true],
  [2, 3, 7, 13, 16, 3, 3, 2, 2, true], [1, 4, 33, 28, 12, 5, 5, 1, 1, false], [1, 2, 5, 33, 3, 3, 3, 1, 0, true],
  [1, 3, 9, 11, 8, 3, 5, 1, 2, true], [2, 4, 13, 7, 10, 3, 3, 1, 1, true], [1, 1, 33, 13, 16, 3, 3, 0, 0, false], [2, 1, 5, 9, 7, 3, 3, 2, 1, true],
  // padding beyond the kernel and the image, an even 2x4 kernel, 1x1
  [2, 3, 4, 5, 7, 3, 3, 3, 4, true], [3, 1, 6, 17, 33, 2, 4, 1, 2, false], [1, 4, 3, 40, 5, 1, 1, 0, 0, true]];
for (const [N, C, H, W, O, KH, KW, ph, pw, hasBias] of cases) {
  const OH = H + 2 * ph - KH + 1, OW = W + 2 * pw - KW + 1, Y = N * O * OH * OW;
  const p = { N, C, H, W, O, KH, KW, OH, OW, sh: 1, sw: 1, ph, pw, dh: 1, dw: 1, groups: 1 };
  const x = rand(N * C * H * W), w = rand(O * C * KH * KW, 1 / Math.sqrt(KH * KW * C)), b = hasBias ? rand(O) : null;
  const gamma = rand(O), beta = rand(O), mean = rand(O), vr = Float32Array.from(rand(O), (v) => v * v + 0.5);
  const res = rand(Y);
  const yr = ref(x, w, b, N, C, H, W, O, KH, KW, ph, pw);
  const [sx, sw, sgam, sbet, smean, svar, sres] = [x, w, gamma, beta, mean, vr, res].map(store);
  const sb = b ? store(b) : null;
  const sy = native.alloc(-1, Y * 4);
  const row = { shape: [N, C, H, W, O, KH, KW, ph, pw, hasBias ? 1 : 0] };
  const fwd = (algo, threads = 1) => {
    native.setConvAlgo(algo);
    native.setNumThreads(threads);
    native.conv2dForward(p, { input: op(sx), weight: op(sw), bias: op(sb), output: op(sy) });
    return fetch(sy, Y);
  };
  const y1 = fwd('auto'), yg = fwd('direct'), y3 = fwd('auto', 3);
  native.setNumThreads(1);
  row.fwd = err(y1, yr);
  row.gemm = err(yg, yr);
  row.vsGemm = err(y1, Float64Array.from(yg));
  for (let i = 0; i < Y; i++) if (y1[i] !== y3[i]) out.threadsSame = false;
  // eval-mode conv + batch norm + ReLU (fused into the kernel), then with a residual (applied over the band)
  const eps = 1e-5;
  for (const withRes of [false, true]) {
    native.setConvAlgo('auto');
    native.conv2dBnActEval({ ...p, eps, relu: true }, {
      input: op(sx), weight: op(sw), bias: op(sb), bnWeight: op(sgam), bnBias: op(sbet), runningMean: op(smean),
      runningVar: op(svar), residual: withRes ? op(sres) : null, output: op(sy),
    });
    const ye = new Float64Array(Y);
    for (let i = 0; i < Y; i++) {
      const o = Math.floor(i / (OH * OW)) % O;
      const v = (yr[i] - mean[o]) / Math.sqrt(vr[o] + eps) * gamma[o] + beta[o] + (withRes ? res[i] : 0);
      ye[i] = v > 0 ? v : 0;
    }
    row[withRes ? 'residual' : 'epilogue'] = err(fetch(sy, Y), ye);
  }
  for (const s of [sx, sw, sb, sgam, sbet, smean, svar, sres, sy]) if (s) s.dispose();
  out.cases.push(row);
}
process.stdout.write(JSON.stringify(out) + '\n');
