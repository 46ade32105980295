/**
 * ReLU, fused bias+ReLU and add+ReLU (lib/nn/functional/activation.ts; csrc/cpu/activation.cc,
 * cuda/activation.cu) on the CUDA device against the CPU kernels, forward and every gradient.
 * Tolerance |cuda - cpu| <= atol + rtol*|cpu|, stated per case. Each kernel is also checked against the naive
 * double-precision references (test/reference/) by the native self-tests (scripts/native-selftests.js).
 */
import * as ck from '../../lib';
import { TOL, gradBoth, requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());

describe('activations on cuda = cpu', () => {
  test('relu, fused bias+relu and add+relu', () => {
    ck.manualSeed(6);
    gradBoth([[3, 4, 5]], (x) => F.relu(x), TOL, 'relu');
    gradBoth([[2, 3, 4, 5], [3]], (x, b) => F.biasRelu(x, b), TOL, 'bias_relu');
    gradBoth([[5, 7], [7]], (x, b) => F.biasRelu(x, b), TOL, 'bias_relu 2d');
    gradBoth([[2, 3, 4, 4], [2, 3, 4, 4]], (a, b) => F.addRelu(a, b), TOL, 'add_relu');
  });
});
