/**
 * Activations, linear and the fused ops (bias+ReLU, add+ReLU) and softmax against PyTorch, forward and gradients.
 */
import * as ck from '../../lib';
import { leaf, checkGrads } from '../helpers/grad_check';
import { stopTorch } from '../helpers/torch';

const { nn } = ck;
const F = ck.nn.functional;
afterAll(() => stopTorch());

describe('activations, linear, fused ops', () => {
  test('linear with and without bias, batched input', async () => {
    ck.manualSeed(12);
    const x = leaf([2, 3, 6]);
    const w = leaf([4, 6]);
    const b = leaf([4]);
    await checkGrads('linear', { x, w, b }, () => F.linear(x, w, b), 'F.linear(x, w, b)');
    const x2 = leaf([5, 6]);
    const w2 = leaf([3, 6]);
    await checkGrads('linear no bias', { x2, w2 }, () => F.linear(x2, w2), 'F.linear(x2, w2)');
  });
  test('Linear names its features in shape errors', () => {
    const fc = new nn.Linear(512, 10);
    expect(() => fc.forward(ck.zeros([4, 256]))).toThrow(/Linear\(in_features=512, out_features=10.*512 features.*\[4, 256\]/);
  });
  test('bias + relu and residual add + relu match relu(x + b) and relu(a + b)', async () => {
    ck.manualSeed(13);
    const x = leaf([2, 3, 4, 5]);
    const b = leaf([3]);
    await checkGrads('bias_relu', { x, b }, () => F.biasRelu(x, b), 'torch.relu(x + b.view(1, 3, 1, 1))');
    const a1 = leaf([2, 3, 4, 4]);
    const a2 = leaf([2, 3, 4, 4]);
    await checkGrads('add_relu', { a1, a2 }, () => F.addRelu(a1, a2), 'torch.relu(a1 + a2)');
  });
  test('softmax and log_softmax over every dim', async () => {
    ck.manualSeed(14);
    for (const dim of [0, 1, 2, -1]) {
      const x = leaf([3, 4, 5], 3);
      await checkGrads(`softmax ${dim}`, { x }, () => F.softmax(x, dim), `F.softmax(x, ${dim})`);
      const y = leaf([3, 4, 5], 3);
      await checkGrads(`log_softmax ${dim}`, { y }, () => F.logSoftmax(y, dim), `F.log_softmax(y, ${dim})`);
    }
  });
});
