/**
 * Every nn kernel on the CUDA device against the CPU kernel, forward and every gradient: convolution
 * (stride, padding, dilation, groups, depthwise, 1x1, no bias), batch norm (train with running stats,
 * eval), pooling, fused bias+ReLU and add+ReLU, softmax/log-softmax, NLL/cross-entropy, dropout (the
 * masks must be bit-identical). Tolerance |cuda - cpu| <= atol + rtol*|cpu|, stated per case.
 * Convolutions run the hand-written kernels (cuda/conv.cu) in FP32: the whole file pins backends.conv =
 * 'native' with TF32 off (cuDNN is tested in cudnn.test.ts); the kernels' TF32 variants and every tile
 * and split-K choice are covered by conv_kernels.test.ts. Each kernel is also checked against the naive double-precision
 * references (test/reference/) by the native self-tests (scripts/native-selftests.js).
 */
import * as ck from '../../lib';
import { expectClose, Tol } from '../helpers/compare';
import { expectNativeConv, pinNativeConv, requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());
pinNativeConv();
const TOL = { atol: 1e-5, rtol: 1e-4 };

/** Runs fn on CPU leaves and on CUDA copies; compares the output and the gradient of every leaf. */
function gradBoth(shapes: number[][], fn: (...xs: ck.Tensor[]) => ck.Tensor, tol: Tol, what: string, scale: number[] = []): void {
  ck.tidy(() => {
    const base = shapes.map((s, i) => ck.noGrad(() => ck.randn(s).mul(scale[i] ?? 1)));
    const run = (device: 'cpu' | 'cuda') => {
      const xs = base.map((b) => ck.noGrad(() => b.to(device)).requiresGrad_());
      const out = fn(...xs);
      const w = ck.noGrad(() => ck.ones([...out.shape], { device }).mul(0.5).add(ck.arange(0, out.numel(), 1, { dtype: 'float32', device }).reshape([...out.shape]).mul(0.01).sin()));
      out.mul(w).sum().backward();
      return { out: out.cpu(), grads: xs.map((x) => x.grad!.cpu()) };
    };
    const a = run('cpu');
    const b = run('cuda');
    expectClose(b.out, a.out, tol, `${what}: output`);
    a.grads.forEach((g, i) => expectClose(b.grads[i], g, tol, `${what}: grad ${i}`));
    return undefined;
  });
}

describe('conv2d on cuda = cpu', () => {
  const cases: [string, number[], number[], ck.nn.functional.Conv2dOptions, boolean][] = [
    ['3x3 pad 1', [2, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }, true],
    ['odd, no bias', [2, 3, 7, 9], [5, 3, 3, 2], {}, false],
    ['stride 2', [2, 4, 9, 9], [6, 4, 3, 3], { stride: 2, padding: 1 }, true],
    ['dilation 2', [1, 2, 11, 10], [3, 2, 3, 3], { dilation: 2, padding: 2 }, true],
    ['groups 2', [2, 4, 6, 6], [6, 2, 3, 3], { groups: 2, padding: 1 }, true],
    ['depthwise', [2, 4, 7, 7], [4, 1, 3, 3], { groups: 4, padding: 1 }, true],
    ['1x1', [3, 8, 5, 5], [4, 8, 1, 1], {}, true],
    ['batch 1 7x7 s2 p3', [1, 3, 16, 16], [4, 3, 7, 7], { stride: 2, padding: 3 }, false],
  ];
  for (const [name, xs, ws, o, bias] of cases) {
    test(name, () => {
      expectNativeConv();
      ck.manualSeed(1);
      if (bias) gradBoth([xs, ws, [ws[0]]], (x, w, b) => F.conv2d(x, w, b, o), TOL, name, [1, 0.3, 1]);
      else gradBoth([xs, ws], (x, w) => F.conv2d(x, w, null, o), TOL, name, [1, 0.3]);
    });
  }
});

describe('batch norm on cuda = cpu', () => {
  test('training: output, grads, running stats', () => {
    ck.manualSeed(2);
    for (const shape of [[4, 3, 5, 6], [8, 5], [4, 5, 3]]) {
      const C = shape[1];
      const stats = (device: 'cpu' | 'cuda') => [ck.zeros([C], { device }), ck.ones([C], { device })];
      const rc = stats('cpu');
      const rg = stats('cuda');
      let call = 0;
      gradBoth([shape, [C], [C]], (x, g, b) => {
        const [rm, rv] = call++ === 0 ? rc : rg;
        return F.batchNorm(x, rm, rv, g, b, { training: true, momentum: 0.2 });
      }, { atol: 1e-4, rtol: 1e-4 }, `bn train ${shape}`, [2, 1, 1]);
      expectClose(rg[0].cpu(), rc[0], TOL, 'running mean');
      expectClose(rg[1].cpu(), rc[1], TOL, 'running var');
    }
  });
  test('eval kernel', () => {
    ck.manualSeed(3);
    const x = ck.randn([2, 4, 3, 3]);
    const rm = ck.randn([4]);
    const rv = ck.rand([4]).add(0.5);
    const g = ck.randn([4]);
    const b = ck.randn([4]);
    const want = F.batchNorm(x, rm, rv, g, b, { training: false });
    const got = F.batchNorm(x.cuda(), rm.cuda(), rv.cuda(), g.cuda(), b.cuda(), { training: false });
    expectClose(got.cpu(), want, TOL, 'bn eval');
  });
});

describe('pooling on cuda = cpu', () => {
  test('max pool: kernel, stride, padding, dilation, ceil mode', () => {
    ck.manualSeed(4);
    gradBoth([[2, 3, 8, 8]], (x) => F.maxPool2d(x, 2), TOL, 'max 2');
    gradBoth([[1, 2, 9, 7]], (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1 }), TOL, 'max 3 s2 p1');
    gradBoth([[2, 2, 10, 10]], (x) => F.maxPool2d(x, 3, { stride: 2, ceilMode: true }), TOL, 'max ceil');
    gradBoth([[1, 3, 11, 9]], (x) => F.maxPool2d(x, [3, 2], { stride: [2, 1], dilation: 2 }), TOL, 'max dilation');
  });
  test('avg pool and adaptive avg pool', () => {
    ck.manualSeed(5);
    gradBoth([[2, 3, 8, 8]], (x) => F.avgPool2d(x, 2), TOL, 'avg 2');
    gradBoth([[1, 2, 9, 7]], (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }), TOL, 'avg no pad count');
    gradBoth([[2, 2, 10, 10]], (x) => F.avgPool2d(x, 3, { stride: 2, ceilMode: true, padding: 1 }), TOL, 'avg ceil');
    gradBoth([[2, 3, 7, 7]], (x) => F.adaptiveAvgPool2d(x, 1), TOL, 'global');
    gradBoth([[1, 2, 10, 9]], (x) => F.adaptiveAvgPool2d(x, [3, 4]), TOL, 'adaptive 3x4');
  });
});

describe('activations, softmax, losses, dropout on cuda = cpu', () => {
  test('fused bias+relu and add+relu', () => {
    ck.manualSeed(6);
    gradBoth([[2, 3, 4, 5], [3]], (x, b) => F.biasRelu(x, b), TOL, 'bias_relu');
    gradBoth([[5, 7], [7]], (x, b) => F.biasRelu(x, b), TOL, 'bias_relu 2d');
    gradBoth([[2, 3, 4, 4], [2, 3, 4, 4]], (a, b) => F.addRelu(a, b), TOL, 'add_relu');
  });
  test('softmax and log_softmax over dims', () => {
    ck.manualSeed(7);
    for (const dim of [0, 1, -1]) {
      gradBoth([[3, 4, 5]], (x) => F.softmax(x, dim), TOL, `softmax ${dim}`, [3]);
      gradBoth([[3, 4, 5]], (x) => F.logSoftmax(x, dim), TOL, `log_softmax ${dim}`, [3]);
    }
    gradBoth([[2, 1500]], (x) => F.logSoftmax(x, 1), TOL, 'long rows', [3]);
  });
  test('cross entropy: smoothing, reductions, ignore index; nll; mse', () => {
    ck.manualSeed(8);
    const t = ck.tensor([1, 0, 4, -100, 4, 3], { dtype: 'int32' });
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      let call = 0;
      const tc = t.cuda();
      gradBoth([[6, 5]], (x) => F.crossEntropy(x, call++ === 0 ? t : tc, { reduction, labelSmoothing: 0.1 }), TOL, `ce ${reduction}`, [2]);
    }
    let call = 0;
    const tc = t.cuda();
    gradBoth([[6, 5]], (x) => F.nllLoss(x, call++ === 0 ? t : tc), TOL, 'nll');
    gradBoth([[3, 4], [3, 4]], (a, b) => F.mseLoss(a, b), TOL, 'mse');
    // A device-side check: reported at the next synchronisation (async_step.test.ts has the whole story).
    const bad = F.crossEntropy(ck.zeros([2, 3], { device: 'cuda' }), ck.tensor([0, 7], { dtype: 'int32', device: 'cuda' }));
    expect(() => bad.item()).toThrow(/out of range/);
  });
  test('dropout masks are bit-identical on both devices', () => {
    ck.manualSeed(9);
    const x = ck.randn([4, 1000]);
    ck.manualSeed(10);
    const a = F.dropout(x, 0.4, true).dataSync();
    ck.manualSeed(10);
    const b = F.dropout(x.cuda(), 0.4, true).cpu().dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
  });
});

describe('whole network on cuda = cpu', () => {
  test('CIFAR-10 CNN forward and backward (small input)', () => {
    expectNativeConv();
    ck.manualSeed(11);
    const m = ck.models.cifar10Net();
    m.classifier.at(0).eval();
    const x = ck.randn([2, 3, 8, 8]);
    const y = ck.tensor([3, 7], { dtype: 'int32' });
    const lossCpu = F.crossEntropy(m.forward(x), y);
    lossCpu.backward();
    const gradsCpu = m.parameters().map((p) => p.grad!.clone());
    m.zeroGrad();
    m.cuda();
    const lossGpu = F.crossEntropy(m.forward(x.cuda()), y.cuda());
    lossGpu.backward();
    expectClose(lossGpu.cpu(), lossCpu, { atol: 1e-5, rtol: 1e-4 }, 'loss');
    m.parameters().forEach((p, i) => {
      const g = gradsCpu[i];
      let scale = 0;
      for (const v of g.dataSync()) scale = Math.max(scale, Math.abs(v));
      expectClose(p.grad!.cpu(), g, { atol: 1e-4 * Math.max(scale, 1e-2), rtol: 1e-3 }, `grad ${i}`);
    });
  });
});
