/**
 * Max, average and adaptive average pooling against PyTorch, forward and gradient.
 */
import * as ck from '../../lib';
import { leaf, checkGrads } from '../helpers/grad_check';
import { stopTorch } from '../helpers/torch';

const { nn } = ck;
const F = ck.nn.functional;
afterAll(() => stopTorch());

describe('pooling', () => {
  const maxCases: [number[], number | [number, number], ck.nn.functional.MaxPool2dOptions, string][] = [
    [[2, 3, 8, 8], 2, {}, 'kernel_size=2'],
    [[1, 2, 9, 7], 3, { stride: 2, padding: 1 }, 'kernel_size=3, stride=2, padding=1'],
    [[2, 2, 10, 10], 3, { stride: 2, ceilMode: true }, 'kernel_size=3, stride=2, ceil_mode=True'],
    [[1, 3, 11, 9], [3, 2], { stride: [2, 1], dilation: 2 }, 'kernel_size=(3, 2), stride=(2, 1), dilation=2'],
    [[2, 1, 5, 5], 2, { stride: 1 }, 'kernel_size=2, stride=1'],
  ];
  for (const [shape, k, o, args] of maxCases) {
    test(`max_pool2d ${args}`, async () => {
      ck.manualSeed(shape[2] * 3 + shape[3]);
      const x = leaf(shape);
      await checkGrads('maxpool', { x }, () => F.maxPool2d(x, k, o), `F.max_pool2d(x, ${args})`);
    });
  }
  const avgCases: [number[], number, ck.nn.functional.AvgPool2dOptions, string][] = [
    [[2, 3, 8, 8], 2, {}, 'kernel_size=2'],
    [[1, 2, 9, 7], 3, { stride: 2, padding: 1 }, 'kernel_size=3, stride=2, padding=1'],
    [[1, 2, 9, 7], 3, { stride: 2, padding: 1, countIncludePad: false }, 'kernel_size=3, stride=2, padding=1, count_include_pad=False'],
    [[2, 2, 10, 10], 3, { stride: 2, ceilMode: true, padding: 1 }, 'kernel_size=3, stride=2, ceil_mode=True, padding=1'],
    [[1, 1, 6, 6], 2, { divisorOverride: 3 }, 'kernel_size=2, divisor_override=3'],
  ];
  for (const [shape, k, o, args] of avgCases) {
    test(`avg_pool2d ${args}`, async () => {
      ck.manualSeed(shape[2] * 5 + shape[3]);
      const x = leaf(shape);
      await checkGrads('avgpool', { x }, () => F.avgPool2d(x, k, o), `F.avg_pool2d(x, ${args})`);
    });
  }
  for (const [shape, o] of [[[2, 3, 7, 7], 1], [[1, 2, 10, 9], [3, 4]], [[2, 2, 5, 5], [5, 5]], [[1, 1, 4, 6], [6, 3]]] as [number[], number | [number, number]][]) {
    test(`adaptive_avg_pool2d ${shape} -> ${o}`, async () => {
      ck.manualSeed(11);
      const x = leaf(shape);
      const os = Array.isArray(o) ? `(${o})` : o;
      await checkGrads('adaptive', { x }, () => F.adaptiveAvgPool2d(x, o), `F.adaptive_avg_pool2d(x, ${os})`);
    });
  }
});
