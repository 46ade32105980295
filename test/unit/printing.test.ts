/**
 * Printing without PyTorch: what the parity test (test/parity/printing.test.ts) cannot show live —
 * disposed tensors, CUDA suffixes on a CPU-only machine, schedulers (PyTorch has no repr for them),
 * and Python's float spellings that the module and optimizer printouts rely on.
 */
import * as util from 'util';
import * as ck from '../../lib';
import { pyExp, pyFixed, pyFloat, pyRepr, tensorRepr } from '../../lib/format';

test('a disposed tensor prints tensor(<disposed>) instead of throwing', () => {
  const t = ck.tensor([1, 2, 3]);
  t.dispose();
  expect(String(t)).toBe('tensor(<disposed>)');
  expect(util.inspect(t)).toBe('tensor(<disposed>)');
  expect(util.inspect({ t })).toBe('{ t: tensor(<disposed>) }');
});

test('console.log of a tensor shows values, not internals', () => {
  const t = ck.tensor([[0.1, 0.2], [0.3, 0.4]]);
  const s = util.inspect(t);
  expect(s).toBe('tensor([[0.1000, 0.2000],\n        [0.3000, 0.4000]])');
  expect(s).not.toMatch(/_shape|StorageRef/);
  t.dispose();
});

test('a CUDA tensor says its device first, as PyTorch (device=\'cuda:0\')', () => {
  const base = { shape: [2], dtype: 'float32' as const, requiresGrad: false, gradFn: null, isParameter: false };
  expect(tensorRepr({ ...base, data: [1, 2], device: 'cuda:0' })).toBe("tensor([1., 2.], device='cuda:0')");
  expect(tensorRepr({ ...base, data: [1, 2], device: 'cuda:1', dtype: 'int32', gradFn: 'AddBackward' })).toBe(
    "tensor([1, 2], device='cuda:1', dtype=int32, gradFn=<AddBackward>)",
  );
  // Suffixes that do not fit in 80 columns go to their own line, indented under the values.
  // (PyTorch: repr((torch.arange(9.) + 0.5).cuda().requires_grad_()) wraps the same way.)
  const long = tensorRepr({ ...base, shape: [9], data: Array.from({ length: 9 }, (_, i) => i + 0.5), device: 'cuda:0', requiresGrad: true });
  expect(long).toBe("tensor([0.5000, 1.5000, 2.5000, 3.5000, 4.5000, 5.5000, 6.5000, 7.5000, 8.5000],\n       device='cuda:0', requiresGrad=true)");
});

test("Python's float spellings", () => {
  expect([1e-5, 0.1, 1, 100, 1e16, 1.5e-7, 0.0001, 123456789.5, -0, NaN, -Infinity].map(pyFloat)).toEqual([
    '1e-05', '0.1', '1.0', '100.0', '1e+16', '1.5e-07', '0.0001', '123456789.5', '-0.0', 'nan', '-inf',
  ]);
  expect(pyRepr([3, 3])).toBe('(3, 3)');
  expect(pyRepr([1])).toBe('(1,)');
  expect(pyRepr(null)).toBe('None');
  expect(pyRepr(true)).toBe('True');
  // Round half to even on the exact binary value, as Python's format().
  expect(pyFixed(1.03125, 4)).toBe('1.0312');
  expect(pyFixed(2.5, 0)).toBe('2');
  expect(pyFixed(-0.00001, 4)).toBe('-0.0000');
  expect(pyExp(9.99995e-5, 4)).toBe('9.9999e-05'); // the double is just below the tie
  expect(pyExp(0, 4)).toBe('0.0000e+00');
  expect(pyExp(99999.5, 4)).toBe('1.0000e+05');
});

test('schedulers print one line; devices as torch.device; modules the same tree for console.log and String', () => {
  const p = ck.zeros([2], { requiresGrad: true });
  const opt = new ck.optim.SGD([p], { lr: 0.1 });
  const sched = new ck.optim.lrScheduler.StepLR(opt, 5, { gamma: 0.5 });
  expect(String(sched)).toBe('StepLR(stepSize=5, gamma=0.5, lastEpoch=0, lastLr=[0.1])');
  for (let i = 0; i < 5; i++) sched.step();
  expect(util.inspect(sched)).toBe('StepLR(stepSize=5, gamma=0.5, lastEpoch=5, lastLr=[0.05])');
  const plateau = new ck.optim.lrScheduler.ReduceLROnPlateau(opt, { patience: 2 });
  expect(util.inspect(plateau)).toMatch(/^ReduceLROnPlateau\(.*patience=2.*lastEpoch=0/);
  expect(util.inspect(new ck.Device(-1))).toBe("device(type='cpu')");
  const m = new ck.nn.Sequential(new ck.nn.Linear(2, 3), new ck.nn.ReLU());
  expect(util.inspect(m)).toBe('Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)');
  expect(util.inspect(m)).toBe(String(m));
  p.dispose();
});
