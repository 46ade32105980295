/**
 * Batch norm against PyTorch: training (output, gradients, running stats, num_batches_tracked), eval, BatchNorm1d.
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { TOL, leaf, checkGrads } from '../helpers/grad_check';
import { runTorch, stopTorch } from '../helpers/torch';

const { nn } = ck;
const F = ck.nn.functional;
afterAll(() => stopTorch());

describe('batch norm', () => {
  test('BatchNorm2d training: output, grads, running stats, num_batches_tracked', async () => {
    ck.manualSeed(5);
    const bn = new nn.BatchNorm2d(3);
    ck.noGrad(() => {
      bn.weight!.copy_(ck.randn([3]));
      bn.bias!.copy_(ck.randn([3]));
    });
    const x = leaf([4, 3, 5, 6], 2);
    const g0 = bn.weight!.detach().clone();
    const b0 = bn.bias!.detach().clone();
    const out = bn.forward(x);
    const w = ck.randn([...out.shape]);
    out.mul(w).sum().backward();
    const want = (await runTorch(
      `bn = nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.copy_(g0); bn.bias.copy_(b0)
x = x.clone().requires_grad_()
y = bn(x)
(y * w).sum().backward()
out = [y, x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean, bn.running_var, bn.num_batches_tracked.int()]`,
      { x, w, g0, b0 },
    )) as never[];
    expectClose(out, want[0], TOL, 'output');
    expectClose(x.grad!, want[1], { atol: 1e-4, rtol: 1e-4 }, 'grad input');
    expectClose(bn.weight!.grad!, want[2], { atol: 1e-4, rtol: 1e-4 }, 'grad weight');
    expectClose(bn.bias!.grad!, want[3], TOL, 'grad bias');
    expectClose(bn.running_mean!, want[4], TOL, 'running_mean');
    expectClose(bn.running_var!, want[5], TOL, 'running_var');
    expectClose(bn.num_batches_tracked!, want[6], { atol: 0, rtol: 0 }, 'num_batches_tracked');
  });
  test('BatchNorm2d eval uses running stats, with gradients', async () => {
    ck.manualSeed(6);
    const x = leaf([2, 4, 3, 3]);
    const rm = ck.randn([4]);
    const rv = ck.rand([4]).add(0.5);
    const g = leaf([4]);
    const b = leaf([4]);
    await checkGrads('bn eval', { x, g, b }, () => F.batchNorm(x, rm, rv, g, b, { training: false }), 'F.batch_norm(x, rm, rv, g, b, training=False)', TOL, { rm, rv });
    const y = ck.noGrad(() => F.batchNorm(x, rm, rv, g, b, { training: false }));
    expectClose(y, await runTorch('out = F.batch_norm(x, rm, rv, g, b, training=False)', { x, rm, rv, g, b }), TOL, 'no-grad eval kernel');
  });
  test('BatchNorm1d on (N, C) and (N, C, L), momentum 0.3, no affine', async () => {
    ck.manualSeed(7);
    for (const shape of [[8, 5], [4, 5, 3]]) {
      const x = leaf(shape);
      const rm = ck.zeros([5]);
      const rv = ck.ones([5]);
      await checkGrads(`bn1d ${shape}`, { x }, () => F.batchNorm(x, rm, rv, null, null, { training: true, momentum: 0.3 }),
        'F.batch_norm(x, torch.zeros(5), torch.ones(5), None, None, training=True, momentum=0.3)', { atol: 1e-4, rtol: 1e-4 });
      const want = (await runTorch('rm = torch.zeros(5); rv = torch.ones(5); F.batch_norm(x, rm, rv, None, None, training=True, momentum=0.3); out = [rm, rv]', { x })) as never[];
      expectClose(rm, want[0], TOL, 'running mean');
      expectClose(rv, want[1], TOL, 'running var');
    }
  });
  test('one value per channel in training is an error', () => {
    const bn = new nn.BatchNorm1d(3);
    expect(() => bn.forward(ck.zeros([1, 3]))).toThrow(/more than 1 value per channel/);
  });
});
