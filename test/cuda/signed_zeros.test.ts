/**
 * The sign of zero and NaN through ReLU, its gradient, the fused add+ReLU / bias+ReLU, maximum and minimum,
 * on the CPU and on the CUDA device: both compute these from the one scalar definition in
 * csrc/core/scalar_ops.h, and both must give PyTorch 1.13's answers bit for bit (sign of zero included).
 * The expected values are what torch 1.13 prints for the same inputs:
 *   torch.relu([-0., 0., -1., nan, 2., -inf])            -> [-0., 0., 0., nan, 2., 0.]
 *   its grad for upstream [-1, -1, -1, 1, 1, 1]           -> [0., 0., 0., 1., 1., 0.] (threshold_backward on
 *                                                            the output: a NaN output passes the gradient)
 *   torch.relu([-0., -0., 0., 1.] + [-0., 0., -0., -1.])  -> [-0., 0., 0., 0.]
 *   torch.maximum([-0., 0., nan], [0., -0., 1.])          -> [-0., 0., nan]  (the first operand on a tie)
 *   torch.minimum([-0., 0.], [0., -0.])                   -> [-0., 0.]
 *   torch.sign([-0., 0., nan, -2., 3.])                   -> [0., 0., 0., -1., 1.]   (NaN gives 0)
 *   torch.sigmoid([-0., nan, -1e30, 1e30])                -> [0.5, nan, 0., 1.]
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());
const EXACT = { atol: 0, rtol: 0, signedZeros: true };
const devices = ['cpu', 'cuda'] as const;

/** Exact values, NaN where NaN, and the sign bit of every zero. */
function expectBits(got: ck.Tensor, want: number[], what: string): void {
  expectClose(got, { shape: [...got.shape], dtype: 'float32', data: want }, EXACT, what);
}

for (const device of devices) describe(`signed zeros on ${device}`, () => {
  test('relu(-0) = -0, NaN propagates; the gradient is +0 where the output is <= 0 and passes through NaN', () => {
    ck.tidy(() => {
      const x = ck.tensor([-0, 0, -1, NaN, 2, -Infinity], { device }).requiresGrad_();
      const y = x.relu();
      expectBits(y, [-0, 0, 0, NaN, 2, 0], `${device} relu`);
      y.backward(ck.tensor([-1, -1, -1, 1, 1, 1], { device }));
      expectBits(x.grad!, [0, 0, 0, 1, 1, 0], `${device} relu grad`);
      return undefined;
    });
  });

  test('add+relu and bias+relu keep the sign of a -0 sum, and their gradients', () => {
    ck.tidy(() => {
      const a = ck.tensor([-0, -0, 0, 1], { device }).requiresGrad_();
      const b = ck.tensor([-0, 0, -0, -1], { device }).requiresGrad_();
      const y = F.addRelu(a, b);
      expectBits(y, [-0, 0, 0, 0], `${device} add_relu`);
      y.backward(ck.tensor([-1, -1, -1, -1], { device }));
      expectBits(a.grad!, [0, 0, 0, 0], `${device} add_relu grad a`);
      expectBits(b.grad!, [0, 0, 0, 0], `${device} add_relu grad b`);

      const x = ck.tensor([-0, -0, 1, -0], { device }).reshape([1, 2, 1, 2]).requiresGrad_();
      const bias = ck.tensor([-0, 0], { device }).requiresGrad_();
      const z = F.biasRelu(x, bias);
      expectBits(z, [-0, -0, 1, 0], `${device} bias_relu`);
      z.backward(ck.tensor([-1, -1, 3, -1], { device }).reshape([1, 2, 1, 2]));
      expectBits(x.grad!, [0, 0, 3, 0], `${device} bias_relu grad x`);
      expectBits(bias.grad!, [0, 3], `${device} bias_relu grad bias`);
      return undefined;
    });
  });

  test('maximum / minimum return the first operand on a tie and propagate NaN', () => {
    ck.tidy(() => {
      const a = ck.tensor([-0, 0, NaN], { device });
      const b = ck.tensor([0, -0, 1], { device });
      expectBits(a.maximum(b), [-0, 0, NaN], `${device} maximum`);
      expectBits(a.minimum(b), [-0, 0, NaN], `${device} minimum`);
      return undefined;
    });
  });

  test('sign gives +0 for +-0 and 0 for NaN; sigmoid saturates without inf/inf', () => {
    ck.tidy(() => {
      expectBits(ck.tensor([-0, 0, NaN, -2, 3], { device }).sign(), [0, 0, 0, -1, 1], `${device} sign`);
      expectBits(ck.tensor([-0, NaN, -1e30, 1e30], { device }).sigmoid(), [0.5, NaN, 0, 1], `${device} sigmoid`);
      return undefined;
    });
  });
});

test('expectClose with signedZeros tells -0 from +0, and without it does not', () => {
  const neg = { shape: [1], dtype: 'float32' as const, data: [-0] };
  const pos = { shape: [1], dtype: 'float32' as const, data: [0] };
  expect(() => expectClose(neg, pos, EXACT, 'x')).toThrow(/-0 vs expected \+0/);
  expect(() => expectClose(pos, neg, EXACT, 'x')).toThrow(/\+0 vs expected -0/);
  expect(expectClose(neg, pos, { atol: 0, rtol: 0 }, 'x')).toBe(0);
});
