/**
 * conv2d against PyTorch: outputs and the gradients of input, weight and bias over odd sizes, stride 2, padding, dilation, groups and batch 1.
 */
import * as ck from '../../lib';
import { CONV_TOL, leaf, checkGrads } from '../helpers/grad_check';
import { stopTorch } from '../helpers/torch';

const { nn } = ck;
const F = ck.nn.functional;
afterAll(() => stopTorch());

describe('conv2d', () => {
  const cases: [string, number[], number[], ck.nn.functional.Conv2dOptions, boolean][] = [
    ['3x3 pad 1', [2, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }, true],
    ['odd sizes, no bias', [2, 3, 7, 9], [5, 3, 3, 2], {}, false],
    ['stride 2 pad 1', [2, 4, 9, 9], [6, 4, 3, 3], { stride: 2, padding: 1 }, true],
    ['dilation 2', [1, 2, 11, 10], [3, 2, 3, 3], { dilation: 2, padding: 2 }, true],
    ['groups 2', [2, 4, 6, 6], [6, 2, 3, 3], { groups: 2, padding: 1 }, true],
    ['depthwise', [2, 4, 7, 7], [4, 1, 3, 3], { groups: 4, padding: 1 }, true],
    ['depthwise multiplier', [1, 3, 6, 5], [6, 1, 3, 3], { groups: 3, stride: 2 }, true],
    // rows of 41: the depthwise kernels' 32-wide register blocks, the 8-wide loop and a masked tail
    ['depthwise wide rows, dilation 2, multiplier 2', [2, 3, 6, 41], [6, 1, 3, 3], { groups: 3, padding: 2, dilation: 2 }, true],
    ['1x1', [3, 8, 5, 5], [4, 8, 1, 1], {}, true],
    ['1x1 stride 2', [2, 6, 7, 7], [3, 6, 1, 1], { stride: 2 }, true],
    ['batch 1 5x5 stride (2,1)', [1, 3, 12, 10], [2, 3, 5, 5], { stride: [2, 1], padding: [2, 1] }, true],
    ['7x7 stride 2 pad 3 (resnet stem)', [1, 3, 16, 16], [4, 3, 7, 7], { stride: 2, padding: 3 }, false],
    // small maps: the whole batch is one GEMM (wide mode with several images per item)
    ['batch of 2x2 maps', [6, 16, 2, 2], [8, 16, 3, 3], { padding: 1 }, true],
    ['batch of 1x1 maps', [5, 12, 1, 1], [7, 12, 3, 3], { padding: 1 }, true],
    ['1x1 conv of 1x1 maps', [4, 8, 1, 1], [6, 8, 1, 1], {}, false],
    ['groups 2 on 2x2 maps, stride 2', [5, 4, 3, 3], [6, 2, 3, 3], { groups: 2, padding: 1, stride: 2 }, true],
    // bands of output rows raised to a multiple of 16 columns (12 rows of 28), the last band shorter
    ['bands of 16-column multiples', [2, 64, 28, 28], [16, 64, 3, 3], { padding: 1 }, true],
  ];
  for (const [name, xs, ws, o, bias] of cases) {
    test(name, async () => {
      ck.manualSeed(xs.reduce((a, b) => a + b, 0));
      const x = leaf(xs);
      const w = leaf(ws, 0.3);
      const leaves: Record<string, ck.Tensor> = { x, w };
      let b: ck.Tensor | null = null;
      if (bias) leaves.b = b = leaf([ws[0]]);
      const s = Array.isArray(o.stride) ? `(${o.stride})` : o.stride ?? 1;
      const p = Array.isArray(o.padding) ? `(${o.padding})` : o.padding ?? 0;
      const expr = `F.conv2d(x, w, ${bias ? 'b' : 'None'}, stride=${s}, padding=${p}, dilation=${o.dilation ?? 1}, groups=${o.groups ?? 1})`;
      await checkGrads(name, leaves, () => F.conv2d(x, w, b, o), expr, CONV_TOL);
    });
  }
  test('shape errors name the layer and both shapes', () => {
    const conv = new nn.Conv2d(3, 8, 3);
    expect(() => conv.forward(ck.zeros([2, 4, 8, 8]))).toThrow(/Conv2d\(3, 8.*\[2, 4, 8, 8\]/);
    expect(() => F.conv2d(ck.zeros([1, 3, 2, 2]), ck.zeros([4, 3, 3, 3]))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => F.conv2d(ck.zeros([1, 4, 5, 5]), ck.zeros([4, 3, 3, 3]))).toThrow(/\[4, 3, 3, 3\].*\[1, 4, 5, 5\]/);
  });
});
