/**
 * Max, average and adaptive pooling on the CUDA device against the CPU kernels, forward and backward.
 * Tolerance |cuda - cpu| <= atol + rtol*|cpu|, stated per case. Each kernel is also checked against the naive
 * double-precision references (test/reference/) by the native self-tests (scripts/native-selftests.js).
 */
import * as ck from '../../lib';
import { TOL, gradBoth, requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());

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
