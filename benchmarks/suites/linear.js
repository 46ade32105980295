// Linear benchmark (lib/nn/functional/linear.ts): ResNet-18's classifier, 512 -> 1000.
'use strict';

module.exports = function linearCases({ quick, device }) {
  const N = quick ? 32 : 128;
  const cases = [];
  const lin = [N, 512, 1000];
  cases.push({
    name: 'linear', twin: 'linear', shape: lin.join('x'), params: { N: lin[0], I: lin[1], O: lin[2] }, flops: 2 * lin[0] * lin[1] * lin[2],
    setup(ck) {
      const x = ck.randn([lin[0], lin[1]], { device });
      const w = ck.randn([lin[2], lin[1]], { device });
      const b = ck.randn([lin[2]], { device });
      return { run() { ck.nn.functional.linear(x, w, b).dispose(); }, dispose() { for (const t of [x, w, b]) t.dispose(); } };
    },
  });
  return cases;
};
