// matmul: square float32 products, the GEMM at the heart of im2col convolution.
'use strict';
module.exports = function matmulCases({ quick, device }) {
  const sizes = quick ? [256, 1024] : [256, 1024, 2048];
  return sizes.map((n) => ({
    name: 'matmul',
    shape: `${n}x${n}x${n}`,
    params: { M: n, N: n, K: n },
    flops: 2 * n * n * n,
    setup(ck) {
      ck.manualSeed(0);
      const a = ck.randn([n, n], { device });
      const b = ck.randn([n, n], { device });
      return {
        run() {
          a.matmul(b).dispose();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  }));
};
