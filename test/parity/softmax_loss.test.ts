/**
 * Losses (cross-entropy, NLL, MSE) against PyTorch, forward and gradients.
 */
import * as ck from '../../lib';
import { native } from '../../lib/binding';
import { TOL, leaf, checkGrads } from '../helpers/grad_check';
import { stopTorch } from '../helpers/torch';

const F = ck.nn.functional;
afterAll(() => stopTorch());

describe('losses', () => {
  const target = () => ck.tensor([1, 0, 4, 2, 4, 3], { dtype: 'int32' });
  for (const reduction of ['mean', 'sum', 'none'] as const) {
    for (const ls of [0, 0.1]) {
      test(`cross_entropy reduction=${reduction} label_smoothing=${ls}`, async () => {
        ck.manualSeed(15);
        const x = leaf([6, 5], 2);
        const t = target();
        await checkGrads('ce', { x }, () => F.crossEntropy(x, t, { reduction, labelSmoothing: ls }),
          `F.cross_entropy(x, t.long(), reduction='${reduction}', label_smoothing=${ls})`, TOL, { t });
      });
    }
  }
  test('cross_entropy with ignoreIndex, and on (N, C, d) inputs', async () => {
    ck.manualSeed(16);
    const x = leaf([6, 5]);
    const t = ck.tensor([1, -100, 4, 2, -100, 3], { dtype: 'int32' });
    await checkGrads('ce ignore', { x }, () => F.crossEntropy(x, t, { labelSmoothing: 0.2 }), "F.cross_entropy(x, t.long(), label_smoothing=0.2)", TOL, { t });
    const x3 = leaf([2, 4, 3]);
    const t3 = ck.tensor([[0, 3, 1], [2, 2, 0]], { dtype: 'int32' });
    await checkGrads('ce 3d', { x3 }, () => F.crossEntropy(x3, t3), 'F.cross_entropy(x3, t3.long())', TOL, { t3 });
  });
  test('cross_entropy (N, C) mean on the CPU: one kernel each way, ignored rows, all rows ignored', async () => {
    const fused = jest.spyOn(native, 'crossEntropyForward');
    ck.manualSeed(18);
    const x = leaf([7, 11], 3);
    const t = ck.tensor([1, 7, 10, 0, 7, 3, 7], { dtype: 'int32' });
    await checkGrads('ce fused ignore', { x }, () => F.crossEntropy(x, t, { ignoreIndex: 7 }), 'F.cross_entropy(x, t.long(), ignore_index=7)', TOL, { t });
    expect(fused).toHaveBeenCalled();
    // every row ignored: PyTorch's mean over nothing is NaN, with a zero gradient
    const y = leaf([2, 3]);
    const all = ck.tensor([-100, -100], { dtype: 'int32' });
    const l = F.crossEntropy(y, all);
    expect(Number.isNaN(l.item())).toBe(true);
    l.backward();
    expect(Array.from(y.grad!.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    fused.mockRestore();
  });
  test('nll_loss and mse_loss', async () => {
    ck.manualSeed(17);
    const lp = leaf([6, 5]);
    const t = target();
    await checkGrads('nll', { lp }, () => F.nllLoss(lp, t), 'F.nll_loss(lp, t.long())', TOL, { t });
    const a = leaf([3, 4]);
    const b = leaf([3, 4]);
    await checkGrads('mse', { a, b }, () => F.mseLoss(a, b), 'F.mse_loss(a, b)');
    const c = leaf([3, 4]);
    const d = leaf([3, 4]);
    await checkGrads('mse sum', { c, d }, () => F.mseLoss(c, d, { reduction: 'sum' }), "F.mse_loss(c, d, reduction='sum')");
  });
  test('a target out of range is an error naming it', () => {
    expect(() => F.crossEntropy(ck.zeros([2, 3]), ck.tensor([0, 3], { dtype: 'int32' }))).toThrow(/out of range/);
    expect(() => F.crossEntropy(ck.zeros([2, 3]), ck.tensor([0, 1]))).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
  });
});
