// Softmax / loss benchmark (lib/nn/functional/softmax_loss.ts): cross-entropy forward + backward over 1000
// classes.
'use strict';
const { clearGrads } = require('../harness');

module.exports = function softmaxLossCases({ quick, device }) {
  const N = quick ? 32 : 128;
  const cases = [];
  cases.push({
    name: 'xent f+b', twin: 'cross_entropy', shape: `${N}x1000`, params: { N, K: 1000 },
    setup(ck) {
      ck.manualSeed(0);
      const x = ck.randn([N, 1000], { device }).requiresGrad_();
      const y = ck.randint(0, 1000, [N], { device });
      return {
        run() {
          ck.tidy(() => ck.nn.functional.crossEntropy(x, y).backward());
          clearGrads([x]);
        },
        dispose() { x.dispose(); y.dispose(); },
      };
    },
  });
  return cases;
};
