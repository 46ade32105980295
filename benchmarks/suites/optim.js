// Optimizer benchmark (lib/optim/adam.ts; csrc/cpu/optim.cc, cuda/optim.cu): one AdamW step over ResNet-18's
// 11.7M parameters.
'use strict';

module.exports = function optimCases({ device }) {
  const cases = [];
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
