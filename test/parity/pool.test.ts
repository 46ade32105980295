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
  // The 2x2 stride-2 rows (csrc/cpu/pool_kernels.h): odd sizes (an uncovered last row and column), 8-wide steps
  // and their tails (OW 3, 15, 17), ties everywhere (small integers: the first maximum must win and take the
  // gradient), NaN (the last NaN of a window wins) and all -inf windows (the first position reports).
  for (const shape of [[2, 3, 7, 7], [1, 2, 6, 30], [2, 2, 9, 34]]) {
    test(`max_pool2d kernel_size=2 (2x2 stride-2 rows) ${shape}: ties, NaN, -inf`, async () => {
      ck.manualSeed(shape[3]);
      const v = Array.from(ck.randint(-2, 3, shape).float().dataSync());
      const W = shape[3], HW = shape[2] * W;
      v[1] = NaN;               // plane 0, window (0, 0): NaN at its second tap
      v[W] = NaN;               // ... and its third: the last NaN wins
      for (const o of [0, 1, W, W + 1]) v[HW + 2 + o] = -Infinity;  // plane 1, window (0, 1): all -inf
      v[HW + 2 * W + 4 + W + 1] = -Infinity;
      const x = ck.tensor(v).reshape(shape).requiresGrad_();
      await checkGrads('maxpool2x2', { x }, () => F.maxPool2d(x, 2), 'F.max_pool2d(x, 2)');
      const y = ck.noGrad(() => F.maxPool2d(x, 2));
      expect(Number.isNaN(y.dataSync()[0])).toBe(true);
      expect(y.dataSync()[shape[3] >> 1]).not.toBe(-Infinity);
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
