// ResNet-18: conv2d forward / backward-data / backward-weight at its layer shapes (224x224 input), one
// training step at 32x32 (batch 32) and at 224x224 (batch 32 on a GPU, 8 on a CPU) and inference (the AdamW
// step over its parameters is suites/optim.js).
// On CUDA the training steps run once per convolution variant (../conv_variants.js: native / cuDNN, FP32 /
// TF32), each against PyTorch with the same TF32 setting; CONVKIT_BENCH_R18_224_ONLY=1 keeps only the
// 224x224 steps (gpu-check's comparison of the native TF32 step with PyTorch's).
'use strict';
const path = require('path');
const { convVariants, useVariant } = require('../conv_variants');
const { convDirCases } = require('../conv_dir');

// [C_in, C_out, H_in, kernel, stride, padding] of ResNet-18's distinct convolutions at 224x224
const CONVS = [
  [3, 64, 224, 7, 2, 3], [64, 64, 56, 3, 1, 1], [64, 128, 56, 3, 2, 1], [128, 128, 28, 3, 1, 1],
  [128, 256, 28, 3, 2, 1], [256, 256, 14, 3, 1, 1], [256, 512, 14, 3, 2, 1], [512, 512, 7, 3, 1, 1],
];

function convCases(N, quick, device) {
  return convDirCases(quick ? [CONVS[1], CONVS[5]] : CONVS, N, device);
}

function stepCase(N, size, device, v) {
  return {
    name: v.tag ? `r18 step ${v.tag}` : 'r18 step', twin: 'resnet18_step', tf32: v.tf32, shape: `${N}x3x${size}x${size}`, params: { N, size },
    setup(ck) {
      const restore = useVariant(ck, v);
      ck.manualSeed(0);
      const model = ck.models.resnet18({ numClasses: 10 }).to(device);
      const opt = new ck.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
      const x = ck.randn([N, 3, size, size], { device });
      const y = ck.randint(0, 10, [N], { device });
      return {
        run() {
          ck.tidy(() => {
            opt.zeroGrad();
            ck.nn.functional.crossEntropy(model.forward(x), y).backward();
            opt.step();
            return undefined;
          });
        },
        dispose() { opt.zeroGrad(); x.dispose(); y.dispose(); restore(); },
      };
    },
  };
}

module.exports = function resnetCases({ quick, device }) {
  const N = quick ? 8 : 32;
  const ck = require(process.env.CONVKIT_LIB || path.join(__dirname, '..', '..', 'dist'));
  const variants = convVariants(ck, device);
  const steps224 = variants.map((v) => stepCase(device === 'cuda' ? 32 : 8, 224, device, v));
  if (process.env.CONVKIT_BENCH_R18_224_ONLY === '1') return steps224;
  const cases = [...convCases(quick ? 8 : 32, quick, device), ...variants.map((v) => stepCase(N, 32, device, v))];
  // The 224x224 training step: batch 32 on a GPU, batch 8 on a CPU (a batch-32 step there takes seconds).
  if (!quick) cases.push(...steps224);
  cases.push({
    name: 'r18 infer', twin: 'resnet18_infer', shape: `${N}x3x224x224`, params: { N, size: 224 },
    setup(ck) {
      ck.manualSeed(0);
      const model = ck.models.resnet18().to(device).eval();
      const x = ck.randn([N, 3, 224, 224], { device });
      return { run() { ck.noGrad(() => model.forward(x).dispose()); }, dispose() { x.dispose(); } };
    },
  });
  return cases;
};
