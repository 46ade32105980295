/**
 * The batch augmentation kernel (crop with padding + flip + normalise, cuda/augment.cu) on the CUDA
 * device against its CPU reference (csrc/cpu/augment.cc), on the same per-sample choices. Both compute
 * one float32 subtraction and one IEEE division per element, so they must agree exactly. Shapes stay
 * small: the emulated device runs each GPU thread as a fiber.
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { requireCuda } from './helpers';

const T = ck.transforms;
beforeAll(() => requireCuda());
const EXACT = { atol: 0, rtol: 0 };

function both(x: ck.Tensor, opts: ck.transforms.BatchAugmentOptions, params: Int32Array, what: string): void {
  ck.tidy(() => {
    const want = T.batchAugment(x, opts, params);
    const got = T.batchAugment(x.cuda(), opts, params);
    expect(got.device.toString()).toBe('cuda:0');
    expect(got.shape).toEqual(want.shape);
    expectClose(got.cpu(), want, EXACT, what);
  });
}

describe('batchAugment on cuda = cpu', () => {
  const cases: [string, number[], ck.transforms.BatchAugmentOptions][] = [
    ['CIFAR recipe', [4, 3, 8, 8], { padding: 2, crop: 8, mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] }],
    ['no normalisation, fill 0.5', [3, 3, 6, 7], { padding: 3, crop: [5, 6], fill: 0.5 }],
    ['crop without padding, one channel', [5, 1, 9, 6], { crop: [4, 3], mean: [0.5], std: [0.2] }],
    ['no flip, padding larger than the crop offset range', [2, 2, 4, 4], { padding: 4, crop: [3, 5], flip: false }],
    ['whole image (no draws), flip only', [3, 3, 5, 5], {}],
  ];
  for (const [name, shape, opts] of cases) {
    test(name, () => {
      ck.manualSeed(shape.reduce((a, b) => a * 7 + b, 1));
      const x = ck.randn(shape);
      for (let rep = 0; rep < 3; rep++) {
        const params = T.batchAugmentParams(shape, opts);
        both(x, opts, params, `${name} #${rep}`);
      }
      // every corner of the choice space: extreme offsets with and without a flip
      const [N, , H, W] = shape;
      const pad = opts.padding ?? 0;
      const [oh, ow] = opts.crop === undefined ? [H, W] : typeof opts.crop === 'number' ? [opts.crop, opts.crop] : [opts.crop[0], opts.crop[1] ?? opts.crop[0]];
      const corners = new Int32Array(N * 3);
      for (let n = 0; n < N; n++) {
        corners[n * 3] = n % 2 ? H + 2 * pad - oh : 0;
        corners[n * 3 + 1] = (n >> 1) % 2 ? W + 2 * pad - ow : 0;
        corners[n * 3 + 2] = n % 3 === 0 ? 1 : 0;
      }
      both(x, opts, corners, `${name} corners`);
    });
  }

  test('a strided input and a batch past one block of pixels', () => {
    ck.manualSeed(9);
    const base = ck.randn([3, 6, 20, 20]);
    const x = base.permute(1, 0, 2, 3); // (6, 3, 20, 20), not contiguous
    const opts = { padding: 1, crop: [17, 19] as [number, number], mean: [0.1, 0.2, 0.3], std: [1.5, 2, 2.5] };
    both(x, opts, T.batchAugmentParams(x.shape, opts), 'strided');
  });

  test('the random draws are the same whatever the device', () => {
    ck.manualSeed(5);
    const x = ck.randn([4, 3, 6, 6]);
    ck.manualSeed(6);
    const a = T.batchAugment(x, { padding: 2 });
    ck.manualSeed(6);
    const b = T.batchAugment(x.cuda(), { padding: 2 });
    expectClose(b.cpu(), a, EXACT, 'seeded');
  });

  test('bad arguments are JS errors', () => {
    const x = ck.zeros([2, 3, 4, 4], { device: 'cuda' });
    expect(() => T.batchAugment(x, { crop: 9 })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => T.batchAugment(x, { padding: 1 }, new Int32Array([0, 0, 0, 3, 0, 0]))).toThrow(/outside the padded image/);
    expect(() => T.batchAugment(x, {}, new Int32Array(3))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => T.batchAugment(x, { mean: [0.5] })).toThrow(/both mean and std/);
  });
});
