// Batch norm benchmark (lib/nn/functional/batchnorm.ts): train forward + backward at the CIFAR-10 CNN's and
// ResNet-18's shapes.
'use strict';
const { withGrad, clearGrads } = require('../harness');

module.exports = function batchnormCases({ quick, device }) {
  const N = quick ? 32 : 128;
  const cases = [];
  const bn = quick ? [[N, 64, 16, 16]] : [[N, 32, 32, 32], [N, 128, 8, 8], [32, 64, 56, 56]];
  for (const s of bn) {
    cases.push({
      name: 'batchnorm f+b', twin: 'batchnorm_fwd_bwd', shape: s.join('x'), params: { shape: s },
      bytes: 5 * 4 * s.reduce((a, b) => a * b, 1),
      setup(ck) {
        ck.manualSeed(0);
        const [x, g, b] = withGrad(ck, [s, [s[1]], [s[1]]], device);
        const rm = ck.zeros([s[1]], { device });
        const rv = ck.ones([s[1]], { device });
        const dy = ck.randn(s, { device });
        return {
          run() {
            ck.tidy(() => ck.nn.functional.batchNorm(x, rm, rv, g, b, { training: true }).backward(dy));
            clearGrads([x, g, b]);
          },
          dispose() { for (const t of [x, g, b, rm, rv, dy]) t.dispose(); },
        };
      },
    });
  }
  return cases;
};
