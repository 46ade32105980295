/**
 * DataLoader batches belong to the iteration (issue 19): a batch's tensors are disposed when the loop
 * asks for the next batch or leaves the loop, unless ck.keep() took them out; nothing else is touched.
 */
import * as ck from '../../lib';
import { data } from '../../lib';

function dataset() {
  ck.manualSeed(0);
  return new data.TensorDataset(ck.randn([10, 3]), ck.randint(0, 5, [10]));
}

test('each batch is disposed when the loop moves on, and the last one when it ends', async () => {
  const ds = dataset();
  const live0 = ck.memory().liveTensors;
  const seen: ck.Tensor[][] = [];
  for await (const [x, y] of new data.DataLoader(ds, { batchSize: 4 })) {
    for (const prev of seen) expect(prev.every((t) => t.isDisposed)).toBe(true);
    expect(x.isDisposed || y.isDisposed).toBe(false);
    expect(x.sum().item()).toEqual(expect.any(Number)); // usable inside the body
    seen.push([x, y]);
  }
  expect(seen.map(([x]) => x.shape[0])).toEqual([4, 4, 2]);
  expect(seen.flat().every((t) => t.isDisposed)).toBe(true);
  expect(ck.memory().liveTensors).toBeLessThanOrEqual(live0 + 3); // the x.sum() results, left to the collector
  expect(ds.tensors.every((t) => !t.isDisposed)).toBe(true);
});

test('ck.keep() takes a batch tensor out of the iteration; break and throw release the current batch', async () => {
  const ds = dataset();
  const kept: ck.Tensor[] = [];
  let other: ck.Tensor | null = null;
  for await (const [x, y] of new data.DataLoader(ds, { batchSize: 4 })) {
    kept.push(ck.keep(x));
    other = y;
  }
  expect(kept.every((t) => !t.isDisposed)).toBe(true);
  expect(other!.isDisposed).toBe(true);
  expect(kept[0].shape).toEqual([4, 3]);
  kept.forEach((t) => t.dispose());

  let broken: ck.Tensor | null = null;
  for await (const [x] of new data.DataLoader(ds, { batchSize: 4 })) {
    broken = x;
    break;
  }
  expect(broken!.isDisposed).toBe(true);

  let thrown: ck.Tensor | null = null;
  await expect((async () => {
    for await (const [x] of new data.DataLoader(ds, { batchSize: 4 })) {
      thrown = x;
      throw new Error('body failed');
    }
  })()).rejects.toThrow('body failed');
  expect(thrown!.isDisposed).toBe(true);
});

test('a custom collate\'s tensors (in arrays or plain objects) are held the same way; disposing one early is fine', async () => {
  const ds = dataset();
  const batches: { x: ck.Tensor; y: ck.Tensor }[] = [];
  const loader = new data.DataLoader(ds, {
    batchSize: 5,
    collate: (items) => {
      const rows = items as ck.Tensor[][];
      return {
        x: ck.tensor(rows.map(([a]) => Array.from(a.dataSync()))),
        y: ck.tensor(rows.map(([, b]) => b.item()), { dtype: 'int32' }),
      };
    },
  });
  for await (const b of loader) {
    b.y.dispose();
    batches.push(b);
  }
  expect(batches).toHaveLength(2);
  expect(batches.every((b) => b.x.isDisposed && b.y.isDisposed)).toBe(true);
});
