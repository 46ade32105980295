/**
 * data.DistributedSampler against torch.utils.data.DistributedSampler (live PyTorch): the same indices,
 * index for index, per rank and epoch, with and without shuffle and dropLast, for dataset sizes that do and
 * do not divide by the world size (padding), and for a padding longer than the dataset.
 */
import * as ck from '../../lib';
import { torchRandperm } from '../../lib/data/distributed_sampler';
import { runTorch, stopTorch } from '../helpers/torch';

afterAll(() => stopTorch());

const fakeDataset = (n: number) => ({ length: n, get: (i: number) => i });

test('torchRandperm is torch.randperm with a seeded generator', async () => {
  const cases = [[10, 0], [1000, 7], [1, 3], [2, 123456789]];
  const theirs = (await runTorch(`out = [float(x) for c in ${JSON.stringify(cases)} for x in torch.randperm(c[0], generator=torch.Generator().manual_seed(c[1])).tolist()]`)) as number[];
  const ours = cases.flatMap(([n, s]) => [...torchRandperm(n, s)]);
  expect(ours).toEqual(theirs);
});

test.each([
  [10, 3, false, false], [10, 3, true, false], [10, 3, true, true], [12, 4, true, false], [2, 5, true, false], [2, 5, false, false],
  [101, 2, true, true], [7, 3, false, true],
])('n=%i, world %i, shuffle %s, dropLast %s: PyTorch\'s shards for epochs 0 and 3', async (n, ws, shuffle, dropLast) => {
  const code = `
from torch.utils.data import DistributedSampler
out = []
for epoch in [0, 3]:
    for r in range(${ws}):
        s = DistributedSampler(list(range(${n})), num_replicas=${ws}, rank=r, shuffle=${shuffle ? 'True' : 'False'}, seed=5, drop_last=${dropLast ? 'True' : 'False'})
        s.set_epoch(epoch)
        out.append([float(i) for i in s] + [float(len(s))])`;
  const theirs = (await runTorch(code)) as number[][];
  const ours: number[][] = [];
  for (const epoch of [0, 3]) {
    for (let r = 0; r < ws; r++) {
      const s = new ck.data.DistributedSampler(fakeDataset(n), { numReplicas: ws, rank: r, shuffle, seed: 5, dropLast });
      s.setEpoch(epoch);
      ours.push([...s, s.length]);
    }
  }
  expect(ours).toEqual(theirs);
  // Every rank gets the same number of indices; without dropLast, together they cover the dataset.
  expect(new Set(ours.map((o) => o.length)).size).toBe(1);
  if (!dropLast) expect(new Set(ours.slice(0, ws).flatMap((o) => o.slice(0, -1))).size).toBe(n);
});

test('subset() is this rank\'s shard as a dataset; bad ranks are coded errors', () => {
  const s = new ck.data.DistributedSampler(fakeDataset(9), { numReplicas: 2, rank: 1, shuffle: false });
  const sub = s.subset();
  expect(Array.from({ length: sub.length }, (_, i) => sub.get(i))).toEqual([1, 3, 5, 7, 0]);
  expect(() => new ck.data.DistributedSampler(fakeDataset(9), { numReplicas: 2, rank: 2 })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  // Without numReplicas/rank the process group decides, and there is none here.
  expect(() => new ck.data.DistributedSampler(fakeDataset(9))).toThrow(expect.objectContaining({ code: 'ERR_DIST' }));
});
