// One benchmark row per convolution direction (forward, backward-data, backward-weight) on the hand-written
// kernels, against PyTorch's conv2d / torch.nn.grad.conv2d_input / conv2d_weight (twin 'conv2d_dir').
// Used by the conv suite (the CIFAR-10 CNN's shapes) and the resnet suite (ResNet-18's).
'use strict';
const path = require('path');

// convs: [C_in, C_out, H_in, kernel, stride, padding]; dirs: which directions to time.
function convDirCases(convs, N, device, dirs = ['fwd', 'bwd_data', 'bwd_weight']) {
  const out = [];
  for (const [c, o, h, k, s, p] of convs) {
    const oh = Math.floor((h + 2 * p - k) / s) + 1;
    const flops = 2 * N * o * oh * oh * c * k * k;
    for (const dir of dirs) {
      out.push({
        name: `conv ${dir}`, twin: 'conv2d_dir', shape: `${N}x${c}x${h}->${o} k${k}s${s}`,
        params: { N, C: c, O: o, H: h, K: k, stride: s, padding: p, dir }, flops,
        setup(ck) {
          ck.manualSeed(0);
          const F = ck.nn.functional;
          const x = ck.randn([N, c, h, h], { device });
          const w = ck.randn([o, c, k, k], { device }).mul(0.05);
          const g = ck.randn([N, o, oh, oh], { device });
          const { native } = require(path.join(process.env.CONVKIT_LIB || path.join(__dirname, '..', 'dist'), 'binding'));
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

module.exports = { convDirCases };
