/**
 * Dropout (lib/nn/functional/dropout.ts; csrc/cpu/dropout.cc, cuda/dropout.cu): the masks on the CUDA device are
 * bit-identical to the CPU's for the same seed.
 */
import * as ck from '../../lib';
import { requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());

describe('dropout on cuda = cpu', () => {
  test('dropout masks are bit-identical on both devices', () => {
    ck.manualSeed(9);
    const x = ck.randn([4, 1000]);
    ck.manualSeed(10);
    const a = F.dropout(x, 0.4, true).dataSync();
    ck.manualSeed(10);
    const b = F.dropout(x.cuda(), 0.4, true).cpu().dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
  });
});
