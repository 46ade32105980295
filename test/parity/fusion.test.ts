/**
 * Layer fusion (lib/nn/fusion.ts, csrc/cpu/fused.cc) against PyTorch's unfused layers: eval-mode
 * Conv2d -> BatchNorm2d [-> + residual] [-> ReLU] in the convolution's epilogue (Winograd and direct paths,
 * strided and grouped convolutions), training-mode BatchNorm2d -> ReLU and BatchNorm2d -> ReLU -> MaxPool2d(2)
 * (output, every gradient, running statistics), and the automatic use in nn.Sequential and ResNet blocks (fused and unfused agree, in both modes).
 */
import * as ck from '../../lib';
import { native } from '../../lib/binding';
import { expectClose } from '../helpers/compare';
import { CONV_TOL, TOL, checkGrads, leaf } from '../helpers/grad_check';
import { runTorch, stopTorch } from '../helpers/torch';

const { nn } = ck;
afterAll(() => {
  ck.nn.fusion.setFusion(true);
  stopTorch();
});

function randomBn(c: number): ck.nn.BatchNorm2d {
  const bn = new nn.BatchNorm2d(c);
  ck.noGrad(() => {
    bn.weight!.copy_(ck.randn([c]));
    bn.bias!.copy_(ck.randn([c]));
    bn.running_mean!.copy_(ck.randn([c]).mul(0.1));
    bn.running_var!.copy_(ck.rand([c]).add(0.5));
  });
  return bn.eval();
}

describe('fusion', () => {
  const evalCases: [string, number[], number, number, { padding?: number; stride?: number; groups?: number; bias?: boolean }, boolean, boolean][] = [
    // [name, input shape, out channels, kernel, conv options, relu, residual]
    ['3x3 Winograd + relu', [8, 64, 12, 12], 64, 3, { padding: 1 }, true, false],
    ['3x3 Winograd + residual + relu, conv bias', [8, 64, 12, 12], 64, 3, { padding: 1, bias: true }, true, true],
    ['3x3 stride 2 (direct) + relu', [2, 8, 9, 9], 12, 3, { padding: 1, stride: 2 }, true, false],
    ['1x1 (direct) no relu', [3, 8, 5, 5], 6, 1, {}, false, false],
    ['3-channel stem (direct) + residual, no relu', [2, 3, 8, 8], 4, 3, { padding: 1 }, false, true],
    ['grouped (direct) + relu', [2, 8, 6, 6], 8, 3, { padding: 1, groups: 2 }, true, false],
  ];
  for (const [name, xs, O, k, o, relu, res] of evalCases) {
    test(`eval conv-bn${res ? '-add' : ''}${relu ? '-relu' : ''}: ${name}`, async () => {
      ck.manualSeed(xs[1] + O);
      const conv = new nn.Conv2d(xs[1], O, k, { ...o, bias: o.bias ?? false });
      const bn = randomBn(O);
      const x = ck.randn(xs);
      const y0 = ck.noGrad(() => conv.forward(x));
      const r = res ? ck.randn([...y0.shape]) : null;
      const got = ck.noGrad(() => ck.nn.fusion.convBnAct(x, conv, bn, { relu, residual: r }));
            const want = await runTorch(
        `y = F.batch_norm(F.conv2d(x, w, b, stride=${o.stride ?? 1}, padding=${o.padding ?? 0}, groups=${o.groups ?? 1}), rm, rv, g, be, training=False, eps=1e-5)
${res ? 'y = y + r' : ''}
out = F.relu(y) if ${relu ? 'True' : 'False'} else y`,
        { x, w: conv.weight, b: conv.bias ?? ck.zeros([O]), rm: bn.running_mean!, rv: bn.running_var!, g: bn.weight!, be: bn.bias!, ...(r ? { r } : {}) },
      );
      expectClose(got, want, CONV_TOL, name);
    });
  }

  test('training BatchNorm2d -> ReLU in one kernel: output, gradients, running stats', async () => {
    ck.manualSeed(11);
    const [bn, ref] = [new nn.BatchNorm2d(5, { momentum: 0.3 }), new nn.BatchNorm2d(5, { momentum: 0.3 })];
    ck.noGrad(() => {
      for (const m of [bn, ref]) m.weight!.copy_(ck.randn([5]));
      bn.bias!.copy_(ck.randn([5]));
      ref.bias!.copy_(bn.bias!);
      ref.weight!.copy_(bn.weight!);
    });
    const x = leaf([4, 5, 6, 7], 2);
    await checkGrads('bn-relu', { x, g: bn.weight!, b: bn.bias! }, () => ck.nn.fusion.bnRelu(x, bn), 'F.relu(F.batch_norm(x, None, None, g, b, training=True))', CONV_TOL);
    // the running statistics as the unfused layer (test/parity/batchnorm.test.ts checks those against PyTorch)
    ck.noGrad(() => ref.forward(x)).dispose();
    for (const k of ['running_mean', 'running_var', 'num_batches_tracked'] as const) expectClose(bn[k]!, ref[k]!, TOL, k);
  });

  test('training BatchNorm2d -> ReLU -> MaxPool2d(2) in one kernel: output, gradients, running stats; odd sizes', async () => {
    for (const [shape, affine] of [[[4, 5, 6, 8], true], [[3, 4, 7, 9], true], [[2, 3, 5, 2], false]] as const) {
      ck.manualSeed(shape[2] * 10 + shape[3]);
      const C = shape[1];
      const [bn, ref] = [new nn.BatchNorm2d(C, { momentum: 0.3, affine }), new nn.BatchNorm2d(C, { momentum: 0.3, affine })];
      if (affine)
        ck.noGrad(() => {
          bn.weight!.copy_(ck.randn([C]));
          bn.bias!.copy_(ck.randn([C]));
          ref.weight!.copy_(bn.weight!);
          ref.bias!.copy_(bn.bias!);
        });
      const pool = new nn.MaxPool2d(2);
      const trainFused = jest.spyOn(native, 'batchNormReluMaxPool2Train');
      const x = leaf([...shape], 2);
      const name = `bn-relu-pool ${shape.join('x')}`;
      const torch = `F.max_pool2d(F.relu(F.batch_norm(x, None, None, ${affine ? 'g, b' : 'None, None'}, training=True)), 2)`;
      await checkGrads(name, affine ? { x, g: bn.weight!, b: bn.bias! } : { x }, () => ck.nn.fusion.bnReluMaxPool2(x, bn, pool), torch, CONV_TOL);
      expect(trainFused).toHaveBeenCalledTimes(1);
      trainFused.mockRestore();
      ck.noGrad(() => ref.forward(x)).dispose();
      for (const k of ['running_mean', 'running_var', 'num_batches_tracked'] as const) expectClose(bn[k]!, ref[k]!, TOL, `${name} ${k}`);
      // Bit for bit the unfused batch norm + ReLU kernel followed by the pool, output and every gradient.
      const leaves = affine ? [x, bn.weight!, bn.bias!] : [x];
      const w = ck.randn([shape[0], C, Math.floor(shape[2] / 2), Math.floor(shape[3] / 2)]);
      const grads = (fn: () => ck.Tensor) => {
        for (const l of leaves) l.grad = null;
        const out = fn();
        out.mul(w).sum().backward();
        return [out, ...leaves.map((l) => l.grad!)].map((t) => Array.from(t.dataSync()));
      };
      const fusedRun = grads(() => ck.nn.fusion.bnReluMaxPool2(x, bn, pool));
      const unfusedRun = grads(() => pool.forward(ck.nn.fusion.bnRelu(x, bn)));
      fusedRun.forEach((a, i) => expect([name, i, a.every((v, j) => Object.is(v, unfusedRun[i][j]))]).toEqual([name, i, true]));
    }
    // Pools the kernel does not take (3x3, stride 1, padding, ceil mode) run the layers one by one.
    const bn = new nn.BatchNorm2d(2);
    const x = ck.randn([2, 2, 6, 6]);
    const spy = jest.spyOn(native, 'batchNormReluMaxPool2Train');
    for (const pool of [new nn.MaxPool2d(3, { stride: 2 }), new nn.MaxPool2d(2, { stride: 1 }), new nn.MaxPool2d(2, { padding: 1 }), new nn.MaxPool2d(2, { ceilMode: true })]) {
      const got = ck.nn.fusion.bnReluMaxPool2(x, bn, pool);
      expect(got.shape).toEqual(pool.forward(ck.randn([2, 2, 6, 6])).shape);
    }
    // A subclass that overrides forward (here: a "ReLU" that negates) is never fused away.
    class Negate extends nn.ReLU {
      forward(t: ck.Tensor): ck.Tensor {
        return t.mul(-1);
      }
    }
    const seq = new nn.Sequential(new nn.BatchNorm2d(2), new Negate(), new nn.MaxPool2d(2));
    const ref = ck.nn.functional.maxPool2d(ck.nn.functional.batchNorm(x, null, null, null, null, { training: true }).mul(-1), 2);
    expectClose(seq.forward(x), ref, TOL, 'subclassed ReLU');
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
  });

  test('Sequential and ResNet blocks: fused and unfused agree, eval and training', () => {
    const evalFused = jest.spyOn(native, 'conv2dBnActEval');
    const trainFused = jest.spyOn(native, 'batchNormTrain');
    const poolFused = jest.spyOn(native, 'batchNormReluMaxPool2Train');
    // [model, input side, fused eval convs, training bn-relu, training bn-relu-pool (the CIFAR-10 CNN's two pools)]
    for (const [make, size, nEval, nTrain, nPool] of [[() => ck.models.cifar10Net(), 32, 5, 3, 2], [() => ck.models.resnet18({ numClasses: 10 }), 16, 20, 9, 0]] as const) {
      ck.manualSeed(3);
      const model = make();
      const x = ck.randn([2, 3, size, size]);
      const y = ck.randint(0, 10, [2]);
      for (const training of [false, true]) {
        model.train(training);
        const run = (fused: boolean) => {
          ck.nn.fusion.setFusion(fused);
          ck.manualSeed(9);  // dropout draws alike
          model.zeroGrad();
          const bufs = [...model.namedBuffers()].map(([, t]) => t);
          const before = bufs.map((t) => t.detach().clone());
          if (!training) return [ck.noGrad(() => model.forward(x))];
          const out = model.forward(x);
          ck.nn.functional.crossEntropy(out, y).backward();
          const after = bufs.map((t) => t.detach().clone());
          // undo the running-statistics update so that both runs start from the same state
          bufs.forEach((t, i) => ck.noGrad(() => t.copy_(before[i])));
          // the first layer's gradient (the end of the backward chain) and every small one (all batch-norm
          // parameters: the fused backward's own); comparing all 11M of ResNet-18 would dominate the test's time
          const grads = [...model.namedParameters()].filter(([, p], i) => i === 0 || p.numel() < 50000);
          expect(grads.length).toBeGreaterThan(8);
          return [out, ...grads.map(([, p]) => p.grad!.clone()), ...after];
        };
        const a = run(false);
        evalFused.mockClear();
        trainFused.mockClear();
        poolFused.mockClear();
        const b = run(true);
        // every conv-bn(-relu) of the network fused: eval in the convolution, training as bn-relu
        expect(evalFused).toHaveBeenCalledTimes(training ? 0 : nEval);
        expect(trainFused.mock.calls.filter((c) => c[2] === true)).toHaveLength(training ? nTrain : 0);
        expect(poolFused).toHaveBeenCalledTimes(training ? nPool : 0);
        expect(b.length).toBe(a.length);
        a.forEach((t, i) => expectClose(b[i], t, { atol: 2e-4, rtol: 2e-4 }, `${training ? 'train' : 'eval'} tensor ${i}`));
      }
    }
    ck.nn.fusion.setFusion(true);
    evalFused.mockRestore();
    trainFused.mockRestore();
    poolFused.mockRestore();
  });
});
