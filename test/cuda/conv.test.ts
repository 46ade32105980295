/**
 * Convolution on the CUDA device against the CPU kernel, forward and every gradient (stride, padding,
 * dilation, groups, depthwise, 1x1, no bias). Runs the hand-written kernels (cuda/conv.cu) in FP32: the file
 * pins backends.conv = 'native' with TF32 off (cuDNN is tested in cudnn.test.ts); the kernels' TF32 variants
 * and every tile and split-K choice are covered by conv_kernels.test.ts.
 * Tolerance |cuda - cpu| <= atol + rtol*|cpu|, stated per case. Each kernel is also checked against the naive
 * double-precision references (test/reference/) by the native self-tests (scripts/native-selftests.js).
 */
import * as ck from '../../lib';
import { CONV_CASES, TOL, expectNativeConv, gradBoth, pinNativeConv, requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());
pinNativeConv();

describe('conv2d on cuda = cpu', () => {
  const cases = CONV_CASES;
  for (const [name, xs, ws, o, bias] of cases) {
    test(name, () => {
      expectNativeConv();
      ck.manualSeed(1);
      if (bias) gradBoth([xs, ws, [ws[0]]], (x, w, b) => F.conv2d(x, w, b, o), TOL, name, [1, 0.3, 1]);
      else gradBoth([xs, ws], (x, w) => F.conv2d(x, w, null, o), TOL, name, [1, 0.3]);
    });
  }
});
