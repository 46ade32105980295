// ResNet-18: conv2d forward / backward-data / backward-weight at its layer shapes (224x224 input), one
// training step at 32x32 (batch 32) and at 224x224 (batch 32 on a GPU, 8 on a CPU), inference, and the
// AdamW step over its 11.7M parameters.
// On CUDA the training steps run once per convolution variant (../conv_variants.js: native / cuDNN, FP32 /
// TF32), each against PyTorch with the same TF32 setting; CONVKIT_BENCH_R18_224_ONLY=1 keeps only the
// 224x224 steps (gpu-check's comparison of the native TF32 step with PyTorch's).
'use strict';
const path = require('path');
const { convVariants, useVariant } = require('../conv_variants');

// [C_in, C_out, H_in, kernel, stride, padding] of ResNet-18's distinct convolutions at 224x224
const CONVS = [
  [3, 64, 224, 7, 2, 3], [64, 64, 56, 3, 1, 1], [64, 128, 56, 3, 2, 1], [128, 128, 28, 3, 1, 1],
  [128, 256, 28, 3, 2, 1], [256, 256, 14, 3, 1, 1], [256, 512, 14, 3, 2, 1], [512, 512, 7, 3, 1, 1],
];

function convCases(N, quick, device) {
  const out = [];
  const list = quick ? [CONVS[1], CONVS[5]] : CONVS;
  for (const [c, o, h, k, s, p] of list) {
    const oh = Math.floor((h + 2 * p - k) / s) + 1;
    const flops = 2 * N * o * oh * oh * c * k * k;
    for (const dir of ['fwd', 'bwd_data', 'bwd_weight']) {
      out.push({
        name: `conv ${dir}`, twin: 'conv2d_dir', shape: `${N}x${c}x${h}->${o} k${k}s${s}`,
        params: { N, C: c, O: o, H: h, K: k, stride: s, padding: p, dir }, flops,
        setup(ck) {
          ck.manualSeed(0);
          const F = ck.nn.functional;
          const x = ck.randn([N, c, h, h], { device });
          const w = ck.randn([o, c, k, k], { device }).mul(0.05);
          const g = ck.randn([N, o, oh, oh], { device });
          const { native } = require(require('path').join(process.env.CONVKIT_LIB || '../../dist', 'binding'));
          const params = { N, C: c, H: h, W: h, O: o, KH: k, KW: k, OH: oh, OW: oh, sh: s, sw: s, ph: p, pw: p, dh: 1, dw: 1, groups: 1 };
          const op = (t) => ({ storage: t.storage, offset: 0 });
          const gx = ck.empty([N, c, h, h], { device });
          const gw = ck.empty([o, c, k, k], { device });
          return {
            run() {
              // the hand-written kernels in all three directions (conv_cudnn has the cuDNN rows)
              if (dir === 'fwd') F.conv2d(x, w, null, { stride: s, padding: p, backend: 'native' }).dispose();
              else if (dir === 'bwd_data') native.conv2dBackwardData(params, { gradOutput: op(g), weight: op(w), gradInput: op(gx) });
              else native.conv2dBackwardWeight(params, { input: op(x), gradOutput: op(g), gradWeight: op(gw), gradBias: null });
            },
            dispose() { for (const t of [x, w, g, gx, gw]) t.dispose(); },
          };
        },
      });
    }
  }
  return out;
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
  cases.push({
    name: 'adamw', twin: 'adamw_resnet18', shape: 'resnet18 11.7M params', params: {},
    setup(ck) {
      ck.manualSeed(0);
      const model = ck.models.resnet18().to(device);
      const ps = model.parameters();
      ck.noGrad(() => { for (const p of ps) p.grad = ck.keep(ck.randn([...p.shape], { device }).mul(0.01)); });
      const opt = new ck.optim.AdamW(ps, { lr: 1e-3 });
      return { run() { opt.step(); }, dispose() { opt.zeroGrad(); } };
    },
  });
  return cases;
};
