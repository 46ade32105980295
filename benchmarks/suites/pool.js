// Pooling benchmarks (lib/nn/functional/pool.ts): max pool at the CIFAR-10 CNN's activation shape, global
// average pool at ResNet-18's head.
'use strict';
const { cnnActivationShape } = require('../harness');

module.exports = function poolCases({ quick, device }) {
  const cases = [];
  const act = cnnActivationShape(quick);
  cases.push({
    name: 'maxpool', twin: 'maxpool', shape: `${act.join('x')} k2`, params: { shape: act, k: 2 }, bytes: 5 * act.reduce((a, b) => a * b, 1),
    setup(ck) {
      const x = ck.randn(act, { device });
      return { run() { ck.nn.functional.maxPool2d(x, 2).dispose(); }, dispose() { x.dispose(); } };
    },
  });
  const gap = quick ? [32, 512, 7, 7] : [128, 512, 7, 7];
  cases.push({
    name: 'avgpool', twin: 'adaptive_avgpool', shape: `${gap.join('x')} ->1`, params: { shape: gap }, bytes: 4 * gap.reduce((a, b) => a * b, 1),
    setup(ck) {
      const x = ck.randn(gap, { device });
      return { run() { ck.nn.functional.adaptiveAvgPool2d(x, 1).dispose(); }, dispose() { x.dispose(); } };
    },
  });
  return cases;
};
