// conv2d forward + backward at ResNet-18's convolution shapes, three ways on --device cuda: convkit's
// hand-written kernels ('conv nat'), convkit through cuDNN ('conv cudnn'), and PyTorch (the twin column of
// both rows), so the cuDNN row against the native row is the third column. FP32 with TF32 off on both
// sides, then each again with TF32 allowed on both sides ('nat tf32', 'cudnn tf32'; ../conv_variants.js).
// Benchmark mode on both sides (each shape's algorithm searched once, in the warmup).
// CUDA only: on --device cpu this suite has no cases; without cuDNN the cuDNN rows are left out (said on stderr).
// CONVKIT_BENCH_CONV_N=128 sets the batch; CONVKIT_BENCH_CONV_3X3=1 keeps the 3x3 shapes only (gpu-check's
// TF32 comparison: native TF32 against cuDNN TF32 at batch 128).
'use strict';
const path = require('path');
const { convVariants, useVariant } = require('../conv_variants');
const SHAPES = [
  // [C_in, C_out, H_in, kernel, stride, padding]  (ResNet-18 at 224x224)
  [3, 64, 224, 7, 2, 3], // conv1
  [64, 64, 56, 3, 1, 1], // layer1
  [64, 128, 56, 3, 2, 1], [128, 128, 28, 3, 1, 1], [64, 128, 56, 1, 2, 0], // layer2 (+ downsample)
  [128, 256, 28, 3, 2, 1], [256, 256, 14, 3, 1, 1], [128, 256, 28, 1, 2, 0], // layer3
  [256, 512, 14, 3, 2, 1], [512, 512, 7, 3, 1, 1], [256, 512, 14, 1, 2, 0], // layer4
];

module.exports = function convCudnnCases({ quick, device }) {
  if (device !== 'cuda') return [];
  const N = Number(process.env.CONVKIT_BENCH_CONV_N) || (quick ? 8 : 32);
  const ck = require(process.env.CONVKIT_LIB || path.join(__dirname, '..', '..', 'dist'));
  const shapes = process.env.CONVKIT_BENCH_CONV_3X3 === '1' ? SHAPES.filter((s) => s[3] === 3) : SHAPES;
  const cases = [];
  for (const [c, o, h, k, s, p] of shapes) {
    const oh = Math.floor((h + 2 * p - k) / s) + 1;
    for (const v of convVariants(ck, device)) {
      const backend = v.backend;
      const tf32 = v.tf32;
      cases.push({
        name: `conv ${v.tag}`,
        twin: 'conv2d_fwd_bwd_strided',
        tf32,
        shape: `${N}x${c}x${h}x${h} k${k}s${s}->${o}`,
        params: { N, C: c, O: o, H: h, K: k, stride: s, padding: p, benchmark: true },
        flops: 3 * 2 * N * o * oh * oh * c * k * k,
        setup(ck) {
          const saved = { benchmark: ck.backends.cudnn.benchmark, tf32: ck.backends.cudnn.allowTF32 };
          const restore = useVariant(ck, v);
          ck.backends.cudnn.benchmark = true;
          ck.backends.cudnn.allowTF32 = tf32;
          ck.manualSeed(0);
          const x = ck.randn([N, c, h, h], { device }).requiresGrad_();
          const w = ck.randn([o, c, k, k], { device }).mul(0.1).requiresGrad_();
          const b = ck.zeros([o], { device }).requiresGrad_();
          const g = ck.randn([N, o, oh, oh], { device });
          return {
            run() {
              ck.tidy(() => {
                const y = ck.nn.functional.conv2d(x, w, b, { stride: s, padding: p, backend });
                y.backward(g);
                return undefined;
              });
              for (const t of [x, w, b]) {
                t.grad.dispose();
                t.grad = null;
              }
            },
            dispose() {
              for (const t of [x, w, b, g]) t.dispose();
              ck.backends.cudnn.benchmark = saved.benchmark;
              ck.backends.cudnn.allowTF32 = saved.tf32;
              restore();
            },
          };
        },
      });
    }
  }
  return cases;
};
