// A whole training step of the CIFAR-10 CNN and of ResNet-18 at 32x32, batch 128, with issue 17's recipe (forward,
// backward, clipGradNorm_ to 1.0, AdamW with capturable: true, which `convkit train` uses on CUDA), run eagerly
// and as a replayed CUDA graph (ck.cuda.CUDAGraph), each against its PyTorch twin (AdamW(capturable=True) and
// clip_grad_norm_, eager; torch.cuda.CUDAGraph). The graph cases capture after three eager warm-up steps, as
// PyTorch's recipe does. No scheduler: PyTorch's captured AdamW bakes its lr in, so only the step itself is timed.
// CUDA only (graphs need a CUDA device). --dry (the CI plumbing check on the emulated device) runs only the
// first case, at batch 2 and 8x8.
'use strict';
module.exports = function graphStepCases({ device }) {
  const dry = process.argv.includes('--dry');
  const N = dry ? 2 : 128;
  const S = dry ? 8 : 32;
  const models = [
    { key: 'cnn', label: 'cnn', make: (ck) => ck.models.cifar10Net() },
    { key: 'r18', label: 'r18', make: (ck) => ck.models.resnet18({ numClasses: 10 }) },
  ];
  const cases = [];
  for (const m of models) {
    for (const graph of [true, false]) {
      cases.push({
        name: `${m.label} step ${graph ? 'graph' : 'eager'}`,
        twin: 'train_step',
        shape: `${m.key} ${N}x3x${S}x${S}`,
        params: { model: m.key, N, size: S, graph },
        setup(ck) {
          ck.manualSeed(0);
          const model = m.make(ck).to(device);
          const opt = new ck.optim.AdamW(model.parameters(), { lr: 1e-3, capturable: true });
          const x = ck.randn([N, 3, S, S], { device });
          const y = ck.randint(0, 10, [N], { device, dtype: 'int32' });
          const step = () =>
            ck.tidy(() => {
              opt.zeroGrad();
              ck.nn.functional.crossEntropy(model.forward(x), y).backward();
              ck.nn.utils.clipGradNorm_(model.parameters(), 1.0);
              opt.step();
              return undefined;
            });
          let g = null;
          if (graph) {
            for (let i = 0; i < 3; i++) step();
            g = new ck.cuda.CUDAGraph();
            g.capture(step);
          }
          return {
            run: graph ? () => g.replay() : step,
            dispose() {
              if (g) g.reset();
              opt.zeroGrad();
              opt.dispose();
              for (const p of model.parameters()) p.dispose();
              x.dispose();
              y.dispose();
            },
          };
        },
      });
    }
  }
  return cases;
};
