/**
 * softmax/log-softmax and NLL/cross-entropy/MSE (lib/nn/functional/softmax_loss.ts; csrc/cpu/softmax_loss.cc,
 * cuda/softmax_loss.cu) on the CUDA device against the CPU kernels, forward and every gradient.
 * Tolerance |cuda - cpu| <= atol + rtol*|cpu|, stated per case. Each kernel is also checked against the naive
 * double-precision references (test/reference/) by the native self-tests (scripts/native-selftests.js).
 */
import * as ck from '../../lib';
import { TOL, gradBoth, requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());

describe('softmax and losses on cuda = cpu', () => {
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
});
