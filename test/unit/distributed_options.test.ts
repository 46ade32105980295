/**
 * Issue 20's PyTorch options around DDP: DataLoader's `sampler` (a DistributedSampler passes straight in;
 * mutually exclusive with shuffle, as PyTorch's), and DistributedDataParallel's `deviceIds` (one CUDA
 * device per process, the module's; forward moves tensor arguments there; none for a CPU module).
 */
import * as ck from '../../lib';

const idsOf = async (loader: ck.data.DataLoader<[ck.Tensor], [ck.Tensor]>) => {
  const out: number[][] = [];
  for await (const [x] of loader) out.push([...x.dataSync()]);
  return out;
};

describe('DataLoader sampler', () => {
  const ds = new ck.data.TensorDataset(ck.arange(0, 10).float());

  test('a DistributedSampler passes straight in: the batches are its shard, in its order, epoch by epoch', async () => {
    const sampler = new ck.data.DistributedSampler(ds, { numReplicas: 3, rank: 1, seed: 4 });
    const loader = new ck.data.DataLoader(ds, { batchSize: 2, sampler });
    expect(loader.length).toBe(2); // 4 indices (10 padded to 12, over 3 ranks)
    for (const epoch of [0, 1]) {
      sampler.setEpoch(epoch);
      expect((await idsOf(loader)).flat()).toEqual(sampler.indices());
    }
    const drop = new ck.data.DataLoader(ds, { batchSize: 3, sampler, dropLast: true });
    expect(drop.length).toBe(1);
    expect(await idsOf(drop)).toEqual([sampler.indices().slice(0, 3)]);
  });

  test('any iterable of indices; shuffle with a sampler and out-of-range indices are errors', async () => {
    expect(await idsOf(new ck.data.DataLoader(ds, { batchSize: 2, sampler: [7, 3, 3] }))).toEqual([[7, 3], [3]]);
    expect(() => new ck.data.DataLoader(ds, { sampler: [1], shuffle: true })).toThrow(
      expect.objectContaining({ code: 'ERR_ARG', message: 'DataLoader: sampler option is mutually exclusive with shuffle' }));
    await expect(idsOf(new ck.data.DataLoader(ds, { sampler: [1, 10] }))).rejects.toThrow(/sampler gave index 10, not an index of the dataset of 10 items/);
  });
});

describe('DistributedDataParallel deviceIds', () => {
  beforeAll(() => ck.distributed.initProcessGroup({ backend: 'gloo', rank: 0, worldSize: 1, timeoutMs: 20000 }));
  afterAll(() => ck.distributed.destroyProcessGroup());

  test('a CPU module takes none; more than one device is refused', () => {
    const net = new ck.nn.Linear(3, 2);
    expect(() => new ck.nn.parallel.DistributedDataParallel(net, { deviceIds: [0] })).toThrow(
      expect.objectContaining({ code: 'ERR_DEVICE', message: expect.stringMatching(/deviceIds \[0\] names cuda:0, but the module's parameters and buffers are on cpu; a CPU module takes no deviceIds/) }));
    expect(() => new ck.nn.parallel.DistributedDataParallel(net, { deviceIds: [0, 1] })).toThrow(
      expect.objectContaining({ code: 'ERR_ARG', message: expect.stringMatching(/deviceIds must list exactly one CUDA device index/) }));
    const ddp = new ck.nn.parallel.DistributedDataParallel(net);
    expect(ddp.forward(ck.ones([1, 3])).device.type).toBe('cpu');
  });

  if (ck.cuda.isAvailable()) {
    test('a CUDA module: its device, and forward moves CPU arguments there', () => {
      const net = new ck.nn.Linear(3, 2).cuda();
      expect(() => new ck.nn.parallel.DistributedDataParallel(net, { deviceIds: [1] })).toThrow(
        expect.objectContaining({ code: 'ERR_DEVICE', message: expect.stringMatching(/names cuda:1, but the module's parameters and buffers are on cuda:0/) }));
      const ddp = new ck.nn.parallel.DistributedDataParallel(net, { deviceIds: [0] });
      const x = ck.tensor([[1, 2, 3]]);
      const y = ddp.forward(x);
      expect(y.device.toString()).toBe('cuda:0');
      expect([...y.cpu().dataSync()]).toEqual([...net.cpu().forward(x).dataSync()]);
    });
  }
});
