// conv2d forward + backward (input, weight and bias gradients) at the CIFAR-10 CNN's shapes, batch 128
// (the last, 128->128 at 8x8, was the sixth convolution of the 6-conv network cifar10Net had before it
// became the tutorial's 5-conv CIFAR10Net; the row stays for comparison with earlier results).
// On the CPU each shape also gets one row per direction (../conv_dir.js: forward, backward-data,
// backward-weight), the rows issue 21's Winograd targets are stated for.
// On CUDA each shape runs four ways (../conv_variants.js): native and cuDNN, FP32 and TF32, each against
// PyTorch with the same TF32 setting.
'use strict';
const path = require('path');
const { convVariants, useVariant } = require('../conv_variants');
const { convDirCases } = require('../conv_dir');
const SHAPES = [
  // [C_in, C_out, H] — 3x3, padding 1, stride 1
  [3, 32, 32], [32, 32, 32], [32, 64, 16], [64, 64, 16], [64, 128, 8], [128, 128, 8],
];
module.exports = function convCases({ quick, device }) {
  const N = quick ? 32 : 128;
  const ck = require(process.env.CONVKIT_LIB || path.join(__dirname, '..', '..', 'dist'));
  return SHAPES.flatMap(([c, o, h]) => [...convVariants(ck, device).map((v) => ({
    name: v.tag ? `conv2d ${v.tag}` : 'conv2d f+b',
    twin: 'conv2d_fwd_bwd',
    tf32: v.tf32,
    shape: `${N}x${c}x${h}x${h}->${o}`,
    params: { N, C: c, O: o, H: h, K: 3, padding: 1 },
    // forward 2*N*O*H*W*C*9, backward data and weight the same each
    flops: 3 * 2 * N * o * h * h * c * 9,
    setup(ck) {
      const restore = useVariant(ck, v);
      ck.manualSeed(0);
      const x = ck.randn([N, c, h, h], { device }).requiresGrad_();
      const w = ck.randn([o, c, 3, 3], { device }).mul(0.1).requiresGrad_();
      const b = ck.zeros([o], { device }).requiresGrad_();
      const g = ck.randn([N, o, h, h], { device });
      return {
        run() {
          ck.tidy(() => {
            const y = ck.nn.functional.conv2d(x, w, b, { padding: 1 });
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
          restore();
        },
      };
    },
  })), ...(device === 'cuda' ? [] : convDirCases([[c, o, h, 3, 1, 1]], N, device))]);
};
