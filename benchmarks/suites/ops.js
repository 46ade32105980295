// Per-op benchmarks at the CIFAR-10 CNN's and ResNet-18's shapes: batch norm (train forward+backward),
// ReLU, residual add + ReLU, max pool, global average pool, linear, cross-entropy (forward+backward).
'use strict';

function withGrad(ck, shapes, device) {
  return shapes.map((s) => ck.randn(s, { device }).requiresGrad_());
}
function clearGrads(ts) {
  for (const t of ts) {
    if (t.grad) {
      t.grad.dispose();
      t.grad = null;
    }
  }
}

module.exports = function opsCases({ quick, device }) {
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
  const act = quick ? [N, 64, 16, 16] : [N, 64, 32, 32];
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
