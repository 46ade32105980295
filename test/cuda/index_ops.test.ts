/**
 * The index family's CUDA kernels (cuda/index_ops.cu) against the CPU backend (held to PyTorch by
 * test/parity/tensor_index_ops.test.ts) on the same inputs: values and every gradient of cat (more inputs than
 * one launch takes), stack, where, maskedFill, clamp with tensor bounds, gather, scatter / scatterAdd,
 * indexSelect, sort / argsort, topk; bad indices are ERR_INDEX on the device too, and the device stays usable.
 * Selections are exact; sums of duplicate-index gradients (atomicAdd, any order) to 1e-6. Sort is stable on
 * both devices; CUDA's topk orders ties by index (the stable sort's first k), the CPU's as PyTorch's CPU.
 */
import * as ck from '../../lib';
import { expectClose, expectEqualInts } from '../helpers/compare';
import { requireCuda } from './helpers';

beforeAll(() => requireCuda());
const TOL = { atol: 1e-6, rtol: 1e-6 };

/** op on the CPU and on the device from the same inputs (grads: indices of inputs that get a gradient). */
function same(what: string, inputs: ck.Tensor[], grads: number[], op: (...xs: ck.Tensor[]) => ck.Tensor | ck.Tensor[]): void {
  ck.tidy(() => {
    const run = (dev: 'cpu' | 'cuda') => {
      const xs = inputs.map((x, i) => {
        const t = x.to(dev);
        return grads.includes(i) ? t.detach().requiresGrad_() : t;
      });
      const r = op(...xs);
      const ys = Array.isArray(r) ? r : [r];
      ck.manualSeed(5);
      const gy = ck.randn([...ys[0].shape]).to(dev);
      if (grads.length) ys[0].mul(gy).sum().backward();
      return { ys, gs: grads.map((i) => xs[i].grad!) };
    };
    const want = run('cpu');
    const got = run('cuda');
    got.ys.forEach((y, i) => {
      expect(y.device.toString()).toBe('cuda:0');
      if (y.dtype === 'int32') expectEqualInts(y.cpu(), want.ys[i], `${what} output ${i}`);
      else expectClose(y.cpu(), want.ys[i], TOL, `${what} output ${i}`);
    });
    got.gs.forEach((g, i) => expectClose(g.cpu(), want.gs[i], TOL, `${what} grad ${grads[i]}`));
  });
}

const randn = (shape: number[], seed: number): ck.Tensor => {
  ck.manualSeed(seed);
  return ck.randn(shape);
};
const int = (shape: number[], hi: number, seed: number): ck.Tensor => {
  ck.manualSeed(seed);
  return ck.randint(0, hi, shape, { dtype: 'int32' });
};

test('cat and stack', () => {
  const a = randn([2, 3, 4], 1);
  const b = randn([2, 5, 4], 2);
  same('cat dim 1', [a, b, randn([4, 1, 2], 3)], [0, 2], (x, y, z) => ck.ops.cat([x, y, z.transpose(0, 2)], 1));
  same('cat mixed dtypes', [randn([2, 2], 4), int([2, 2], 9, 5)], [0], (x, i) => ck.ops.cat([x, i], -1));
  const many = Array.from({ length: 35 }, (_, k) => randn([2, 1 + (k % 3)], 10 + k));
  same('cat of 35 (two launches)', many, [0, 34], (...ts) => ck.ops.cat(ts, 1));
  same('stack dim 1', [randn([3, 4], 6), randn([4, 3], 7)], [0, 1], (x, y) => ck.ops.stack([x, y.t()], 1));
});

test('where, maskedFill, clamp with tensor bounds', () => {
  const c = int([3, 1, 5], 2, 11);
  same('where', [c, randn([4, 1], 12), randn([5], 13).div(ck.tensor([1, 0, 1, 1, 0]))], [1, 2], (k, x, y) => ck.ops.where(k, x, y));
  same('where scalar, float condition', [randn([3, 4], 14)], [0], (x) => ck.ops.where(x.gt(0), x, 0.5));
  same('where ints', [c, int([4, 1], 50, 15)], [], (k, i) => ck.ops.where(k, i, -3));
  same('maskedFill', [randn([3, 4], 16), int([4], 2, 17), ck.tensor(2.5)], [0, 2], (x, m, v) => x.maskedFill(m, v));
  same('maskedFill number', [randn([3, 4], 16), int([3, 1], 2, 18)], [0], (x, m) => x.maskedFill(m, NaN));
  const lo = randn([4], 19).sub(0.5);
  const hi = randn([3, 1], 20).add(0.5);
  same('clamp both', [randn([3, 4], 21), lo, hi], [0, 1, 2], (x, l, h) => x.clamp(l, h));
  same('clamp min', [randn([3, 4], 21), lo], [0, 1], (x, l) => x.clamp(l));
  same('clamp max, number min', [randn([4], 22), hi], [0, 1], (x, h) => x.clamp(-0.2, h));
  same('clamp NaN', [ck.tensor([NaN, 1, 5, -1, 0.5, 2]), ck.tensor([0, NaN, 0, 0, 1, 0]), ck.tensor([2, 2, NaN, 2, 0, 2])], [0, 1, 2], (x, l, h) => x.clamp(l, h));
  same('clamp ints', [int([3, 4], 20, 23), int([4], 10, 24), int([3, 1], 20, 25)], [], (x, l, h) => x.clamp(l, h));
});

test('gather, scatter, scatterAdd, indexSelect', () => {
  const x = randn([4, 5, 3], 31);
  same('gather dim 0', [x, int([6, 2, 3], 4, 32)], [0], (t, i) => t.gather(0, i));
  same('gather dim -1 strided', [x, int([3, 5, 4], 4, 33)], [0], (t, i) => t.transpose(0, 2).gather(-1, i));
  same('gather ints', [int([3, 4], 100, 34), int([3, 2], 4, 35)], [], (t, i) => t.gather(1, i));
  const perm = ck.tensor([[2, 0, 1, 0, 2], [0, 2, 2, 1, 1]], { dtype: 'int32' });
  same('scatter', [randn([3, 5], 36), perm, randn([2, 5], 37)], [0, 2], (t, i, s) => t.scatter(0, i, s));
  same('scatter number', [randn([3, 5], 36), perm], [0], (t, i) => t.scatter(0, i, 4));
  same('scatterAdd duplicates', [randn([3, 5], 38), int([6, 5], 3, 39), randn([6, 5], 40)], [0, 2], (t, i, s) => t.scatterAdd(0, i, s));
  same('scatterAdd ints', [int([3, 5], 9, 41), int([2, 5], 3, 42), int([2, 5], 9, 43)], [], (t, i, s) => t.scatterAdd(0, i, s));
  const sel = ck.tensor([3, 0, 3, 1, 1], { dtype: 'int32' });
  same('indexSelect dim 0', [x, sel], [0], (t, i) => t.indexSelect(0, i));
  same('indexSelect dim -1', [x, ck.tensor([2, 0, 2], { dtype: 'int32' })], [0], (t, i) => t.indexSelect(-1, i));
});

test('sort, argsort, topk', () => {
  const tied = randn([5, 11], 51).mul(2).round().div(4);
  const special = ck.tensor([[0.5, NaN, -0, 0, Infinity, -Infinity, 0.5, NaN, -1, 0.5], [3, 3, 3, 3, 3, 3, 3, 3, 3, 3]]);
  for (const desc of [false, true]) {
    same(`sort desc ${desc}`, [tied], [0], (t) => { const r = t.sort(1, { descending: desc }); return [r.values, r.indices]; });
    same(`sort special desc ${desc}`, [special], [0], (t) => { const r = t.sort(-1, desc); return [r.values, r.indices]; });
  }
  same('sort dim 0', [randn([300, 2], 52)], [0], (t) => { const r = t.sort(0); return [r.values, r.indices]; }); // rows longer than one tile
  same('argsort ints', [int([3, 12], 4, 53)], [], (t) => t.argsort(-1, true));
  const distinct = randn([6, 40], 54);
  same('topk distinct', [distinct], [0], (t) => { const r = t.topk(5); return [r.values, r.indices]; });
  same('topk smallest dim 0', [distinct], [0], (t) => { const r = t.topk(2, { dim: 0, largest: false }); return [r.values, r.indices]; });
  ck.tidy(() => {
    // ties: the values agree with the CPU; the indices are the stable sort's first k
    for (const [k, largest] of [[3, true], [4, false]] as const) {
      const d = tied.cuda().topk(k, { largest });
      expectClose(d.values.cpu(), tied.topk(k, { largest }).values, TOL, 'topk tied values');
      expectEqualInts(d.indices.cpu(), tied.sort(-1, largest).indices.narrow(1, 0, k), 'topk tied indices');
    }
  });
});

test('bad indices are ERR_INDEX at the next synchronisation (a device-side check), and the device stays usable', () => {
  const x = ck.zeros([2, 3], { device: 'cuda' });
  const i = (v: number[][]) => ck.tensor(v, { dtype: 'int32', device: 'cuda' });
  const err = (m: RegExp) => expect.objectContaining({ code: 'ERR_INDEX', message: expect.stringMatching(m) });
  ck.cudaStats.enable();
  let g: ck.Tensor;
  try {
    const before = ck.cuda.stats().hostSyncs;
    g = x.gather(1, i([[0, 3]]));  // queued: the host does not wait for the check
    expect(ck.cuda.stats().hostSyncs).toBe(before);
  } finally {
    ck.cudaStats.disable();
  }
  expect(() => g.toArray()).toThrow(err(/^gather: index 3 is out of bounds for dimension 1 with size 3 on cuda:0/));
  expect(() => x.scatter(0, i([[0], [-2]]), 1).toArray()).toThrow(err(/^scatter: index -2/));
  expect(() => x.scatterAdd(0, i([[2]]), ck.ones([1, 1], { device: 'cuda' })).toArray()).toThrow(err(/^scatter_add: index 2/));
  // index_select runs the gather kernel, whose report names it
  expect(() => x.indexSelect(1, ck.tensor([1, 9], { dtype: 'int32', device: 'cuda' })).toArray()).toThrow(err(/^gather: index 9/));
  expect(() => x.gather(0, ck.zeros([1, 1], { dtype: 'int32' }))).toThrow(expect.objectContaining({ code: 'ERR_DEVICE' }));
  expect(x.add(1).gather(1, i([[2, 0]])).toArray()).toEqual([[1, 1]]);
});

test('forward and backward leave no device buffer behind', () => {
  const x = randn([3, 4], 61).cuda().requiresGrad_();
  const i = int([3, 4], 3, 62).cuda();
  const before = ck.memory();
  ck.tidy(() => {
    const outs = [
      ck.ops.cat([x, x], 1), ck.ops.where(x.gt(0), x, 0), x.clamp(x.detach().mul(0.5), 1), x.gather(1, i),
      x.scatterAdd(0, i, x), x.indexSelect(0, i.select(1, 0)), x.sort(0).values, x.topk(3).values,
    ];
    outs.reduce((a, o) => a.add(o.sum()), ck.tensor(0, { device: 'cuda' })).backward();
  });
  x.grad?.dispose();
  x.grad = null;
  const after = ck.memory();
  expect(after.liveTensors).toBe(before.liveTensors);
  expect(after.devices.map((d) => d.buffers)).toEqual(before.devices.map((d) => d.buffers));
});
