// Loads a convkit binary (argv[2]) in a fresh process, so the ISA dispatch runs under this process's environment
// (CONVKIT_CPU_ISA), then runs Winograd F(2x2) and F(4x4) forward, backward-data and backward-weight
// (csrc/cpu/winograd.cc) on
// shapes that reach each of its per-ISA pieces: patch gathers and output scatters with lanes in several images
// (maps of 1 and 2 tiles), borders and every padding 0..3, output channels not a multiple of the GEMM's row
// tile, batches of more than one item, and the channel split (fewer tiles than output channels); compares with a float64 reference and prints one JSON line: the path
// and the largest max-normalised error per algorithm. Used by test/unit/conv_winograd.test.ts.
'use strict';
const { native, lcg, upload, download, relErr } = require('./probe_util');

const rnd = lcg(7);
// float64 forward (adjoint false: a = x) or input gradient (adjoint true: a = dy) of a 3x3 stride-1 convolution
function ref(a, w, N, C, H, W, O, pad, adjoint) {
  const OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
  const out = new Float64Array(adjoint ? N * C * H * W : N * O * OH * OW);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let c = 0; c < C; c++)
        for (let k = 0; k < 9; k++) {
          const wv = w[(o * C + c) * 9 + k], kh = (k / 3) | 0, kw = k % 3;
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh + kh - pad;
            if (ih < 0 || ih >= H) continue;
            for (let ow = 0; ow < OW; ow++) {
              const iw = ow + kw - pad;
              if (iw < 0 || iw >= W) continue;
              const yi = ((n * O + o) * OH + oh) * OW + ow, xi = ((n * C + c) * H + ih) * W + iw;
              if (adjoint) out[xi] += wv * a[yi];
              else out[yi] += wv * a[xi];
            }
          }
        }
  return out;
}

// float64 weight gradient (O, C, 3, 3) of sum(conv(x, w) * dy)
function refDw(x, dy, N, C, H, W, O, pad) {
  const OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
  const out = new Float64Array(O * C * 9);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let c = 0; c < C; c++)
        for (let k = 0; k < 9; k++) {
          const kh = (k / 3) | 0, kw = k % 3;
          let s = 0;
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh + kh - pad;
            if (ih < 0 || ih >= H) continue;
            for (let ow = 0; ow < OW; ow++) {
              const iw = ow + kw - pad;
              if (iw >= 0 && iw < W) s += dy[((n * O + o) * OH + oh) * OW + ow] * x[((n * C + c) * H + ih) * W + iw];
            }
          }
          out[(o * C + c) * 9 + k] += s;
        }
  return out;
}

// [N, C, H, W, O, pad]
const shapes = [[40, 8, 1, 1, 13, 1], [9, 16, 7, 7, 20, 1], [3, 24, 9, 11, 9, 0], [2, 8, 6, 5, 8, 2], [2, 8, 5, 6, 8, 3], [20, 16, 14, 14, 16, 1],
  // fewer tiles than output channels: the channel split (tasks of 64 channels, the last one partial)
  [1, 70, 5, 6, 75, 1], [3, 16, 9, 7, 90, 1]];
const worst = { winograd2: 0, winograd4: 0 };
for (const [N, C, H, W, O, pad] of shapes) {
  const OH = H + 2 * pad - 2, OW = W + 2 * pad - 2;
  const X = Float32Array.from({ length: N * C * H * W }, rnd), Wt = Float32Array.from({ length: O * C * 9 }, rnd);
  const DY = Float32Array.from({ length: N * O * OH * OW }, rnd);
  const y64 = ref(X, Wt, N, C, H, W, O, pad, false), dx64 = ref(DY, Wt, N, C, H, W, O, pad, true);
  const dw64 = refDw(X, DY, N, C, H, W, O, pad);
  const p = { N, C, H, W, O, KH: 3, KW: 3, OH, OW, sh: 1, sw: 1, ph: pad, pw: pad, dh: 1, dw: 1, groups: 1 };
  const sX = upload(X), sW = upload(Wt), sDY = upload(DY);
  const sY = native.alloc(-1, DY.byteLength), sDX = native.alloc(-1, X.byteLength), sDW = native.alloc(-1, Wt.byteLength);
  for (const algo of ['winograd2', 'winograd4']) {
    native.setConvAlgo(algo);
    native.conv2dForward(p, { input: { storage: sX, offset: 0 }, weight: { storage: sW, offset: 0 }, bias: null, output: { storage: sY, offset: 0 } });
    native.conv2dBackwardData(p, { gradOutput: { storage: sDY, offset: 0 }, weight: { storage: sW, offset: 0 }, gradInput: { storage: sDX, offset: 0 } });
    native.conv2dBackwardWeight(p, { input: { storage: sX, offset: 0 }, gradOutput: { storage: sDY, offset: 0 }, gradWeight: { storage: sDW, offset: 0 }, gradBias: null });
    worst[algo] = Math.max(worst[algo], relErr(download(sY, DY.length), y64), relErr(download(sDX, X.length), dx64),
      relErr(download(sDW, Wt.length), dw64));
  }
  for (const s of [sX, sW, sDY, sY, sDX, sDW]) s.dispose();
}
native.setConvAlgo('auto');
process.stdout.write(JSON.stringify({ isa: native.buildInfo().cpuIsa, ...worst }) + '\n');
