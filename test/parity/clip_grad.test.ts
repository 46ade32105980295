/**
 * nn.utils.clipGradNorm_ and BatchNorm's momentum=null (cumulative average) against PyTorch. Both now run
 * entirely as tensor ops on the parameters' device (no .item()), so the values must still be PyTorch's.
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { runTorch, stopTorch } from '../helpers/torch';

const { nn } = ck;
afterAll(() => stopTorch());

describe('clipGradNorm_', () => {
  for (const [p, maxNorm] of [[2, 0.5], [Infinity, 0.3], [1.5, 100]] as const) {
    test(`norm type ${p}, max norm ${maxNorm}: total norm (a 0-d tensor) and the scaled gradients`, async () => {
      ck.manualSeed(7);
      const ga = ck.randn([3, 4]), gb = ck.randn([5]);
      const a = ck.zeros([3, 4]).requiresGrad_(), b = ck.zeros([5]).requiresGrad_();
      a.grad = ga.clone();
      b.grad = gb.clone();
      const total = nn.utils.clipGradNorm_([a, b], maxNorm, p);
      expect(total.shape).toEqual([]);
      const pt = p === Infinity ? "float('inf')" : String(p);
      const want = (await runTorch(
        `a = torch.zeros(3, 4, requires_grad=True); b = torch.zeros(5, requires_grad=True)
a.grad = ga.clone(); b.grad = gb.clone()
t = torch.nn.utils.clip_grad_norm_([a, b], ${maxNorm}, ${pt})
out = [t, a.grad, b.grad]`,
        { ga, gb },
      )) as never[];
      expectClose(total, want[0], { atol: 1e-5, rtol: 1e-5 }, 'total norm');
      expectClose(a.grad!, want[1], { atol: 1e-6, rtol: 1e-5 }, 'grad a');
      expectClose(b.grad!, want[2], { atol: 1e-6, rtol: 1e-5 }, 'grad b');
    });
  }
});

test('BatchNorm2d momentum null: the cumulative running statistics over 3 batches', async () => {
  ck.manualSeed(8);
  const xs = [ck.randn([4, 3, 5, 5]), ck.randn([4, 3, 5, 5]).mul(2), ck.randn([4, 3, 5, 5]).add(1)];
  const bn = new nn.BatchNorm2d(3, { momentum: null });
  const ys = xs.map((x) => bn.forward(x));
  const want = (await runTorch(
    `bn = nn.BatchNorm2d(3, momentum=None)
ys = [bn(x) for x in [x0, x1, x2]]
out = [ys[2].detach(), bn.running_mean, bn.running_var, bn.num_batches_tracked.int()]`,
    { x0: xs[0], x1: xs[1], x2: xs[2] },
  )) as never[];
  expectClose(ys[2], want[0], { atol: 1e-5, rtol: 1e-5 }, 'output');
  expectClose(bn.running_mean!, want[1], { atol: 1e-6, rtol: 1e-5 }, 'running mean');
  expectClose(bn.running_var!, want[2], { atol: 1e-6, rtol: 1e-5 }, 'running var');
  expectClose(bn.num_batches_tracked!, want[3], { atol: 0, rtol: 0 }, 'num_batches_tracked');
});
