/**
 * Batch norm on the CUDA device against the CPU kernel: training (output, every gradient, running
 * stats) and eval.
 * Tolerance |cuda - cpu| <= atol + rtol*|cpu|, stated per case. Each kernel is also checked against the naive
 * double-precision references (test/reference/) by the native self-tests (scripts/native-selftests.js).
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { TOL, gradBoth, requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());

describe('batch norm on cuda = cpu', () => {
  test('training: output, grads, running stats', () => {
    ck.manualSeed(2);
    for (const shape of [[4, 3, 5, 6], [8, 5], [4, 5, 3]]) {
      const C = shape[1];
      const stats = (device: 'cpu' | 'cuda') => [ck.zeros([C], { device }), ck.ones([C], { device })];
      const rc = stats('cpu');
      const rg = stats('cuda');
      let call = 0;
      gradBoth([shape, [C], [C]], (x, g, b) => {
        const [rm, rv] = call++ === 0 ? rc : rg;
        return F.batchNorm(x, rm, rv, g, b, { training: true, momentum: 0.2 });
      }, { atol: 1e-4, rtol: 1e-4 }, `bn train ${shape}`, [2, 1, 1]);
      expectClose(rg[0].cpu(), rc[0], TOL, 'running mean');
      expectClose(rg[1].cpu(), rc[1], TOL, 'running var');
    }
  });
  test('eval kernel', () => {
    ck.manualSeed(3);
    const x = ck.randn([2, 4, 3, 3]);
    const rm = ck.randn([4]);
    const rv = ck.rand([4]).add(0.5);
    const g = ck.randn([4]);
    const b = ck.randn([4]);
    const want = F.batchNorm(x, rm, rv, g, b, { training: false });
    const got = F.batchNorm(x.cuda(), rm.cuda(), rv.cuda(), g.cuda(), b.cuda(), { training: false });
    expectClose(got.cpu(), want, TOL, 'bn eval');
  });
});
