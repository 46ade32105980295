/**
 * Convolution on the CUDA device against the CPU kernel, forward and every gradient (stride, padding,
 * dilation, groups, depthwise, 1x1, no bias). Runs the hand-written kernels (cuda/conv.cu) in FP32: the file
 * pins backends.conv = 'native' with TF32 off (cuDNN is tested in cudnn.test.ts); the kernels' TF32 variants
 * and every tile and split-K choice are covered by conv_kernels.test.ts.
 * Tolerance |cuda - cpu| <= atol + rtol*|cpu|, stated per case. Each kernel is also checked against the naive
 * double-precision references (test/reference/) by the native self-tests (scripts/native-selftests.js).
 */
import * as ck from '../../lib';
import { TOL, expectNativeConv, gradBoth, pinNativeConv, requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());
pinNativeConv();

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
