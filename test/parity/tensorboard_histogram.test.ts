/**
 * SummaryWriter.addHistogram's buckets against numpy: PyTorch 1.13's make_histogram (numpy.histogram on
 * TensorFlow's default edges, or on `bins` equal-width bins, then trimmed to the occupied range plus the
 * empty bucket before it), written out below in Python since torch.utils.tensorboard needs the
 * tensorboard package, which is not installed here.
 */
import * as ck from '../../lib';
import { runTorch, stopTorch } from '../helpers/torch';

afterAll(() => stopTorch());

const MAKE_HISTOGRAM = `
import numpy as np
def default_bins():
    v = 1e-12
    buckets, neg = [], []
    while v < 1e20:
        buckets.append(v)
        neg.append(-v)
        v *= 1.1
    return neg[::-1] + [0] + buckets
def make_histogram(values, bins):
    counts, limits = np.histogram(values, bins=bins)
    cum_counts = np.cumsum(np.greater(counts, 0).astype(np.int32))
    start, end = np.searchsorted(cum_counts, [0, cum_counts[-1] - 1], side="right")
    start = int(start)
    end = int(end) + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    return [float(x) for x in limits], [int(c) for c in counts]
`;

test.each([
  ['normal values, TensorFlow buckets', 'tensorflow', () => ck.randn([2000]).mul(3)],
  ['positive values with zeros, TensorFlow buckets', 'tensorflow', () => ck.rand([500]).mul(ck.rand([500]).gt(0.3).float())],
  ['normal values, 30 bins', 30, () => ck.randn([777])],
  ['one repeated value, 4 bins', 4, () => ck.full([10], 2.5)],
] as const)('%s', async (_name, bins, make) => {
  ck.manualSeed(21);
  const x = make();
  const got = ck.utils.tensorboard.histogramBuckets(Float64Array.from(x.dataSync()), bins);
  const code = `${MAKE_HISTOGRAM}
l, c = make_histogram(x.double().numpy(), ${bins === 'tensorflow' ? 'default_bins()' : bins})
out = {'limits': torch.tensor(l, dtype=torch.float64).float(), 'counts': torch.tensor(c, dtype=torch.int32), 'lim64': [repr(v) for v in l]}`;
  const want = (await runTorch(code, { x })) as unknown as { counts: { data: number[] }; lim64: string[] };
  expect(got.counts).toEqual(want.counts.data);
  expect(got.limits.length).toBe(want.lim64.length);
  got.limits.forEach((v, i) => expect([i, v]).toEqual([i, Number(want.lim64[i])]));
});
