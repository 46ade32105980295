// Activation benchmarks (lib/nn/functional/activation.ts): ReLU and the residual add + ReLU at the CIFAR-10
// CNN's activation shape.
'use strict';
const { cnnActivationShape } = require('../harness');

module.exports = function activationCases({ quick, device }) {
  const cases = [];
  const act = cnnActivationShape(quick);
  cases.push({
    name: 'relu', twin: 'relu', shape: act.join('x'), params: { shape: act }, bytes: 8 * act.reduce((a, b) => a * b, 1),
    setup(ck) {
      const x = ck.randn(act, { device });
      return { run() { x.relu().dispose(); }, dispose() { x.dispose(); } };
    },
  });
  cases.push({
    name: 'add+relu', twin: 'add_relu', shape: act.join('x'), params: { shape: act }, bytes: 12 * act.reduce((a, b) => a * b, 1),
    setup(ck) {
      const a = ck.randn(act, { device });
      const b = ck.randn(act, { device });
      return { run() { ck.nn.functional.addRelu(a, b).dispose(); }, dispose() { a.dispose(); b.dispose(); } };
    },
  });
  return cases;
};
