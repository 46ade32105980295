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
  // The training-mode batch norm + ReLU kernel (lib/nn/fusion.ts bnRelu; csrc/cpu/batchnorm.cc, its rows in
  // batchnorm_kernels.h): maps of 1 and 9 values (masked tails only), 7x7, and sums whose float blocks span rows
  // (33 x 16 values) or split one (20x20), without and with weight/bias; the backward recomputes the ReLU's mask
  // from x, so it must agree with PyTorch's relu(batch_norm) everywhere.
  for (const [shape, affine] of [[[3, 5, 1, 1], true], [[4, 3, 3, 3], false], [[2, 4, 7, 7], true], [[33, 2, 4, 4], true], [[2, 3, 20, 20], true]] as [number[], boolean][]) {
    test(`BatchNorm2d + ReLU (one kernel each way) ${shape}${affine ? '' : ', no affine'}`, async () => {
      ck.manualSeed(shape[0] * 7 + shape[2]);
      const C = shape[1];
      const bn = new nn.BatchNorm2d(C, { affine });
      if (affine) ck.noGrad(() => { bn.weight!.copy_(ck.randn([C])); bn.bias!.copy_(ck.randn([C])); });
      const x = leaf(shape, 2);
      const leaves: Record<string, ck.Tensor> = affine ? { x, g: bn.weight!, b: bn.bias! } : { x };
      await checkGrads(`bn-relu ${shape}`, leaves, () => ck.nn.fusion.bnRelu(x, bn),
        `F.relu(F.batch_norm(x, None, None, ${affine ? 'g, b' : 'None, None'}, training=True))`, { atol: 1e-4, rtol: 1e-4 });
    });
  }
  test('BatchNorm2d + ReLU: outputs exactly 0 take no gradient (the recomputed mask at the tie)', async () => {
    // x = +-1 in equal numbers per channel, eps 0: mean 0, var 1, invstd 1, so with bias == weight the -1 entries
    // normalise to exactly -w + w = 0, where ReLU's gradient is 0 in PyTorch.
    const N = 4, C = 3, L = 10;
    const v = Array.from({ length: N * C * L }, (_, i) => (Math.floor(i / L) + i) % 2 ? 1 : -1);
    const x = ck.tensor(v).reshape([N, C, 2, 5]).requiresGrad_();
    const bn = new nn.BatchNorm2d(C, { eps: 0 });
    ck.noGrad(() => { const w = ck.rand([C]).add(0.5); bn.weight!.copy_(w); bn.bias!.copy_(w); });
    const y = ck.nn.fusion.bnRelu(x, bn);
    expect(Array.from(y.dataSync()).filter((t) => t === 0).length).toBe(N * C * L / 2);
    await checkGrads('bn-relu tie', { x, g: bn.weight!, b: bn.bias! }, () => ck.nn.fusion.bnRelu(x, bn),
      'F.relu(F.batch_norm(x, None, None, g, b, training=True, eps=0.0))', { atol: 1e-4, rtol: 1e-4 });
  });
});
