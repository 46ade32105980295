// One forward + backward of the tutorial's CIFAR-10 CNN (train mode, cross-entropy), batch 128 at 32x32.
'use strict';
module.exports = function cifarStepCases({ quick, device }) {
  const N = quick ? 32 : 128;
  return [{
    name: 'cnn f+b',
    twin: 'cifar_cnn_fwd_bwd',
    shape: `cifar10Net ${N}x3x32x32`,
    params: { N },
    setup(ck) {
      ck.manualSeed(0);
      const model = ck.models.cifar10Net().to(device);
      const x = ck.randn([N, 3, 32, 32], { device });
      const y = ck.randint(0, 10, [N], { device });
      return {
        run() {
          ck.tidy(() => {
            model.zeroGrad();
            ck.nn.functional.crossEntropy(model.forward(x), y).backward();
            return undefined;
          });
        },
        dispose() {
          model.zeroGrad();
          x.dispose();
          y.dispose();
        },
      };
    },
  }];
};
