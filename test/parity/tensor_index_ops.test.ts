/**
 * The index family against live PyTorch 1.13, values and every gradient, on the device the suite runs on
 * (the CPU here; test/cuda/index_ops.test.ts holds CUDA to the CPU): cat, stack, where, maskedFill, clamp with
 * tensor bounds, gather, scatter / scatterAdd, indexSelect, sort / argsort, topk, max / min along a dim. Each
 * case runs the op, backpropagates the same random upstream gradient on both sides and compares output and
 * input gradients.
 * Sort is stable (compared with torch.sort(stable=True)); topk's ties come out in PyTorch's CPU order, which
 * the cases with many ties check index for index. Indices are int32 here, int64 in PyTorch. Selections are
 * exact; clamp's values too; summed gradients (duplicate indices, broadcast) to 1e-6.
 */
import * as ck from '../../lib';
import { expectClose, expectEqualInts } from '../helpers/compare';
import { runTorch, stopTorch, TorchOut } from '../helpers/torch';

afterAll(() => stopTorch());

const TOL = { atol: 1e-6, rtol: 1e-6 };
type Inputs = Record<string, ck.Tensor>;

/**
 * Runs `op` on the inputs (those named in `grads` as leaves requiring grad) and `torchExpr` on the same in
 * PyTorch; backpropagates sum(y0 * gy) for one random gy on both sides when grads are asked for; compares
 * every output (ints exactly) and every gradient.
 */
async function parity(what: string, inputs: Inputs, grads: string[], op: (t: Inputs) => ck.Tensor | ck.Tensor[], torchExpr: string): Promise<void> {
  const leaves: Inputs = {};
  for (const [k, v] of Object.entries(inputs)) leaves[k] = grads.includes(k) ? v.detach().requiresGrad_() : v;
  const r = op(leaves);
  const ys = Array.isArray(r) ? r : [r];
  ck.manualSeed(99);
  const gy = ck.randn([...ys[0].shape]);
  if (grads.length) ys[0].mul(gy).sum().backward();
  const code = [
    ...grads.map((g) => `${g}.requires_grad_()`),
    `y = ${torchExpr}`,
    'ys = list(y) if isinstance(y, (list, tuple)) else [y]',
    grads.length ? '(ys[0] * gy).sum().backward()' : '',
    `out = ys + [${grads.map((g) => `${g}.grad`).join(', ')}]`,
  ].join('\n');
  const want = (await runTorch(code, { ...inputs, gy })) as TorchOut[];
  ys.forEach((y, i) => (y.dtype === 'int32' ? expectEqualInts(y, want[i], `${what} output ${i}`) : expectClose(y, want[i], TOL, `${what} output ${i}`)));
  grads.forEach((g, i) => expectClose(leaves[g].grad!, want[ys.length + i], TOL, `${what} grad ${g}`));
}

const int = (shape: number[], hi: number, seed: number): ck.Tensor => {
  ck.manualSeed(seed);
  return ck.randint(0, hi, shape, { dtype: 'int32' });
};
const randn = (shape: number[], seed: number): ck.Tensor => {
  ck.manualSeed(seed);
  return ck.randn(shape);
};

describe('cat and stack match torch', () => {
  test('cat along each dim, strided and mixed-dtype inputs, legacy empty 1-d, gradients', async () => {
    const a = randn([2, 3, 4], 1);
    const b = randn([2, 5, 4], 2);
    const c = randn([4, 1, 2], 3); // transposed below to (2, 1, 4): a strided input
    for (const [d, td] of [[1, 1], [-2, -2]])
      await parity(`cat dim ${d}`, { a, b, c }, ['a', 'b', 'c'], (t) => ck.ops.cat([t.a, t.b, t.c.transpose(0, 2)], d), `torch.cat([a, b, c.transpose(0, 2)], ${td})`);
    await parity('cat dim 0', { a, b: randn([3, 3, 4], 4) }, ['a', 'b'], (t) => ck.ops.cat([t.a, t.b], 0), 'torch.cat([a, b], 0)');
    await parity('cat dim -1', { a, b: randn([2, 3, 1], 5) }, ['b'], (t) => ck.nn.functional.cat([t.a, t.b], -1), 'torch.cat([a, b], -1)');
    const i = int([2, 2], 9, 6);
    await parity('cat float + int promotes', { a: randn([2, 2], 7), i }, ['a'], (t) => ck.ops.cat([t.a, t.i], 1), 'torch.cat([a, i], 1)');
    await parity('cat ints', { i, j: int([1, 2], 9, 8) }, [], (t) => ck.ops.cat([t.i, t.j]), 'torch.cat([i, j])');
    await parity('cat skips legacy empty 1-d', { a, e: ck.zeros([0]) }, ['a'], (t) => ck.ops.cat([t.e, t.a, t.e], 1), 'torch.cat([e, a, e], 1)');
    const many = Array.from({ length: 40 }, (_, k) => randn([2, 1 + (k % 3)], 100 + k)); // more than one kernel chunk (32)
    const named: Inputs = Object.fromEntries(many.map((t, k) => [`m${k}`, t]));
    await parity('cat of 40 tensors', named, ['m0', 'm39'], (t) => ck.ops.cat(many.map((_, k) => t[`m${k}`]), 1), `torch.cat([${many.map((_, k) => `m${k}`).join(', ')}], 1)`);
  });

  test('stack along each dim, gradients', async () => {
    const a = randn([3, 4], 11);
    const b = randn([3, 4], 12);
    const c = randn([4, 3], 13);
    for (const d of [0, 1, 2, -1, -3])
      await parity(`stack dim ${d}`, { a, b, c }, ['a', 'c'], (t) => ck.ops.stack([t.a, t.b, t.c.t()], d), `torch.stack([a, b, c.t()], ${d})`);
  });
});

describe('where, maskedFill and clamp with tensor bounds match torch', () => {
  test('where broadcasts condition and both sides, scalars, NaN in the branch not taken, gradients', async () => {
    const c = int([3, 1, 5], 2, 21);
    const a = randn([4, 1], 22);
    const b = randn([5], 23).div(ck.tensor([1, 0, 1, 1, 0])); // inf and NaN where taken or not
    await parity('where tensor tensor', { c, a, b }, ['a', 'b'], (t) => ck.ops.where(t.c, t.a, t.b), 'torch.where(c.bool(), a, b)');
    await parity('where scalar other', { c, a }, ['a'], (t) => ck.ops.where(t.c, t.a, -2.5), 'torch.where(c.bool(), a, torch.tensor(-2.5))');
    await parity('where scalar input', { c, b }, ['b'], (t) => t.b.where(t.c.eq(0), 7), 'torch.where(c == 0, b, torch.tensor(7.))');
    const f = randn([3, 4, 5], 24);
    await parity('where float condition (x > 0)', { f, a }, ['f', 'a'], (t) => ck.ops.where(t.f.gt(0), t.f, t.a), 'torch.where(f > 0, f, a)');
    await parity('where ints', { c, i: int([4, 1], 50, 25), j: int([5], 50, 26) }, [], (t) => ck.ops.where(t.c, t.i, t.j), 'torch.where(c.bool(), i, j)');
  });

  test('maskedFill: broadcast mask, number and 0-d tensor values, gradients', async () => {
    const x = randn([3, 4], 31);
    const m = int([4], 2, 32);
    await parity('maskedFill number', { x, m }, ['x'], (t) => t.x.maskedFill(t.m, -1.5), 'x.masked_fill(m.bool(), -1.5)');
    await parity('maskedFill NaN', { x, m }, ['x'], (t) => ck.ops.maskedFill(t.x, t.m, NaN), 'x.masked_fill(m.bool(), float("nan"))');
    await parity('maskedFill 0-d tensor', { x, m: int([3, 1], 2, 33), v: ck.tensor(2.25) }, ['x', 'v'], (t) => t.x.maskedFill(t.m, t.v), 'x.masked_fill(m.bool(), v)');
    await parity('maskedFill ints', { i: int([3, 4], 9, 34), m }, [], (t) => t.i.maskedFill(t.m, 7), 'i.masked_fill(m.bool(), 7)');
    const y = x.clone();
    y.maskedFill_(m, 0);
    expectClose(y, await runTorch('out = x.masked_fill(m.bool(), 0)', { x, m }), TOL, 'maskedFill_');
  });

  test('clamp with tensor bounds: both, one side, a number beside a tensor, lo > hi, NaN, gradients of x, min, max', async () => {
    const x = randn([3, 4], 41);
    const lo = randn([4], 42).sub(0.5);
    const hi = randn([3, 1], 43).add(0.5); // some hi < lo: hi wins, its gradient flows
    await parity('clamp both', { x, lo, hi }, ['x', 'lo', 'hi'], (t) => t.x.clamp(t.lo, t.hi), 'torch.clamp(x, lo, hi)');
    await parity('clamp min only', { x, lo }, ['x', 'lo'], (t) => t.x.clamp(t.lo), 'torch.clamp(x, min=lo)');
    await parity('clamp max only', { x, hi }, ['x', 'hi'], (t) => ck.ops.clamp(t.x, null, t.hi), 'torch.clamp(x, max=hi)');
    await parity('clamp tensor min, number max', { x, lo }, ['x', 'lo'], (t) => t.x.clamp(t.lo, 0.3), 'torch.clamp(x, lo, torch.tensor(0.3))');
    await parity('clamp broadcasts x up', { x: randn([4], 44), hi }, ['x', 'hi'], (t) => t.x.clamp(null, t.hi), 'torch.clamp(x, max=hi)');
    const nx = ck.tensor([NaN, 1, 5, -1, 0.5, 2]);
    const nlo = ck.tensor([0, NaN, 0, 0, 1, 0]);
    const nhi = ck.tensor([2, 2, NaN, 2, 0, 2]);
    await parity('clamp NaN both', { nx, nlo, nhi }, ['nx', 'nlo', 'nhi'], (t) => t.nx.clamp(t.nlo, t.nhi), 'torch.clamp(nx, nlo, nhi)');
    await parity('clamp NaN min', { nx, nlo }, ['nx', 'nlo'], (t) => t.nx.clamp(t.nlo), 'torch.clamp(nx, min=nlo)');
    await parity('clamp NaN max', { nx, nhi }, ['nx', 'nhi'], (t) => t.nx.clamp(null, t.nhi), 'torch.clamp(nx, max=nhi)');
    await parity('clamp ints', { i: int([3, 4], 20, 45), a: int([4], 10, 46), b: int([3, 1], 20, 47) }, [], (t) => t.i.clamp(t.a, t.b), 'torch.clamp(i, a, b)');
    const y = x.clone();
    y.clamp_(lo, hi);
    expectClose(y, await runTorch('out = torch.clamp(x, lo, hi)', { x, lo, hi }), TOL, 'clamp_');
  });
});

describe('gather, scatter, scatterAdd and indexSelect match torch', () => {
  test('gather along each dim, index smaller than input, strided input, duplicate indices in the gradient', async () => {
    const x = randn([4, 5, 3], 51);
    await parity('gather dim 0', { x, i: int([6, 2, 3], 4, 52) }, ['x'], (t) => t.x.gather(0, t.i), 'x.gather(0, i.long())');
    await parity('gather dim 1', { x, i: int([3, 7, 2], 5, 53) }, ['x'], (t) => ck.ops.gather(t.x, 1, t.i), 'torch.gather(x, 1, i.long())');
    await parity('gather dim -1 strided', { x, i: int([3, 5, 4], 4, 54) }, ['x'], (t) => t.x.transpose(0, 2).gather(-1, t.i), 'x.transpose(0, 2).gather(-1, i.long())');
    await parity('gather 1-d', { v: randn([6], 55), i: int([9], 6, 56) }, ['v'], (t) => t.v.gather(0, t.i), 'v.gather(0, i.long())');
    await parity('gather ints', { n: int([3, 4], 100, 57), i: int([3, 2], 4, 58) }, [], (t) => t.n.gather(1, t.i), 'n.gather(1, i.long())');
  });

  test('scatter (tensor and number src), scatterAdd with duplicates, gradients of input and src', async () => {
    const x = randn([3, 5], 61);
    // unique targets per column for scatter (PyTorch leaves the winner of duplicates undefined)
    const perm = ck.tensor([[2, 0, 1, 0, 2], [0, 2, 2, 1, 1]], { dtype: 'int32' });
    const src = randn([2, 5], 62);
    await parity('scatter dim 0', { x, perm, src }, ['x', 'src'], (t) => t.x.scatter(0, t.perm, t.src), 'x.scatter(0, perm.long(), src)');
    // src larger than index: only its leading block is read (PyTorch then refuses src's gradient)
    await parity('scatter larger src', { x, perm, big: randn([3, 6], 60) }, ['x'], (t) => t.x.scatter(0, t.perm, t.big), 'x.scatter(0, perm.long(), big)');
    await parity('scatter number', { x, perm }, ['x'], (t) => ck.ops.scatter(t.x, 0, t.perm, -3), 'x.scatter(0, perm.long(), -3.)');
    const rows = ck.tensor([[4, 0, 2], [1, 3, 0], [2, 2, 4]], { dtype: 'int32' }).narrow(1, 0, 2);
    await parity('scatter dim 1 unique rows', { x, rows, src: randn([3, 2], 63) }, ['x', 'src'], (t) => t.x.scatter(1, t.rows, t.src), 'x.scatter(1, rows.long(), src)');
    const dup = int([4, 5], 3, 64);
    await parity('scatterAdd dim 0', { x, dup, src: randn([4, 5], 65) }, ['x', 'src'], (t) => t.x.scatterAdd(0, t.dup, t.src), 'x.scatter_add(0, dup.long(), src)');
    await parity('scatterAdd dim -1', { x, d2: int([3, 8], 5, 66), src: randn([3, 8], 67) }, ['x', 'src'], (t) => ck.ops.scatterAdd(t.x, -1, t.d2, t.src), 'x.scatter_add(-1, d2.long(), src)');
    await parity('scatterAdd ints', { n: int([3, 5], 9, 68), dup: int([2, 5], 3, 69), s: int([2, 5], 9, 70) }, [], (t) => t.n.scatterAdd(0, t.dup, t.s), 'n.scatter_add(0, dup.long(), s)');
  });

  test('indexSelect along each dim with repeats, a 0-d index, gradients', async () => {
    const x = randn([4, 3, 5], 71);
    const i = ck.tensor([3, 0, 3, 1, 1], { dtype: 'int32' });
    for (const d of [0, 2, -1])
      await parity(`indexSelect dim ${d}`, { x, i }, ['x'], (t) => t.x.indexSelect(d, t.i.narrow(0, 0, d === 0 ? 5 : 3)), `x.index_select(${d}, i[:${d === 0 ? 5 : 3}].long())`);
    await parity('indexSelect 0-d index', { x, j: ck.tensor(2, { dtype: 'int32' }) }, ['x'], (t) => ck.ops.indexSelect(t.x, 1, t.j), 'x.index_select(1, j.long())');
    await parity('indexSelect strided index', { x, i }, ['x'], (t) => t.x.indexSelect(0, t.i.slice(0, 0, 5, 2)), 'x.index_select(0, i[0:5:2].long())');
  });
});

describe('sort, argsort and topk match torch', () => {
  // Ties (values rounded to quarters), NaN, infinities, signed zeros.
  const tied = (shape: number[], seed: number): ck.Tensor => randn(shape, seed).mul(2).round().div(4);
  const special = ck.tensor([[0.5, NaN, -0, 0, Infinity, -Infinity, 0.5, NaN, -1, 0.5], [3, 3, 3, 3, 3, 3, 3, 3, 3, 3]]);

  test('sort: stable, NaN largest, each dim, descending, gradients', async () => {
    const x = tied([4, 9, 3], 81);
    for (const [d, desc] of [[-1, false], [1, true], [0, false], [1, false]] as const)
      await parity(`sort dim ${d} desc ${desc}`, { x }, ['x'], (t) => { const r = t.x.sort(d, { descending: desc }); return [r.values, r.indices]; }, `torch.sort(x, dim=${d}, descending=${desc ? 'True' : 'False'}, stable=True)`);
    for (const desc of [false, true])
      await parity(`sort special desc ${desc}`, { special }, ['special'], (t) => { const r = ck.ops.sort(t.special, 1, desc); return [r.values, r.indices]; }, `torch.sort(special, dim=1, descending=${desc ? 'True' : 'False'}, stable=True)`);
    await parity('argsort', { x }, [], (t) => t.x.argsort(1, { descending: true }), 'torch.argsort(x, 1, descending=True)');
    await parity('sort ints', { n: int([3, 12], 4, 82) }, [], (t) => { const r = t.n.sort(); return [r.values, r.indices]; }, 'torch.sort(n, dim=-1, stable=True)');
    await parity('sort 0-d', { s: ck.tensor(1.5) }, ['s'], (t) => { const r = t.s.sort(); return [r.values, r.indices]; }, 'torch.sort(s)');
  });

  test('topk: PyTorch CPU tie order (nth_element and partial_sort paths), smallest, unsorted, NaN, gradients', async () => {
    const x = tied([5, 11], 91);
    for (const [k, largest, d] of [[3, true, -1], [1, true, 1], [11, false, 1], [4, false, 0], [0, true, 1]] as const)
      await parity(`topk k ${k} largest ${largest} dim ${d}`, { x }, ['x'], (t) => { const r = t.x.topk(k, { dim: d, largest }); return [r.values, r.indices]; }, `torch.topk(x, ${k}, dim=${d}, largest=${largest ? 'True' : 'False'})`);
    const wide = tied([3, 200], 92); // k * 64 <= n: PyTorch's partial_sort path
    for (const [k, largest] of [[2, true], [3, false]] as const)
      await parity(`topk wide k ${k} largest ${largest}`, { wide }, ['wide'], (t) => { const r = ck.ops.topk(t.wide, k, { largest }); return [r.values, r.indices]; }, `torch.topk(wide, ${k}, largest=${largest ? 'True' : 'False'})`);
    await parity('topk special', { special }, ['special'], (t) => { const r = t.special.topk(4); return [r.values, r.indices]; }, 'torch.topk(special, 4)');
    await parity('topk unsorted', { x }, [], (t) => { const r = t.x.topk(6, { sorted: false }); return [r.values, r.indices]; }, 'torch.topk(x, 6, sorted=False)');
    await parity('topk ints', { n: int([4, 9], 5, 93) }, [], (t) => { const r = t.n.topk(3); return [r.values, r.indices]; }, 'torch.topk(n, 3)');
  });
});

describe('max / min along a dim (values and indices) match torch, gradients through the native scatter', () => {
  test('max and min, keepdim or not, NaN rows', async () => {
    const x = randn([4, 6, 3], 95);
    const n = ck.tensor([[1, NaN, 3], [2, 2, 0.5]]);
    for (const [d, keep] of [[1, false], [0, true], [-1, false]] as const) {
      await parity(`max dim ${d} keepdim ${keep}`, { x }, ['x'], (t) => { const r = t.x.max(d, keep); return [r.values, r.indices]; }, `x.max(${d}, keepdim=${keep ? 'True' : 'False'})`);
      await parity(`min dim ${d} keepdim ${keep}`, { x }, ['x'], (t) => { const r = t.x.min(d, keep); return [r.values, r.indices]; }, `x.min(${d}, keepdim=${keep ? 'True' : 'False'})`);
    }
    await parity('max with NaN', { n }, ['n'], (t) => { const r = t.n.max(1); return [r.values, r.indices]; }, 'n.max(1)');
  });
});

test('forward and backward of every op leave no live tensor or buffer behind', () => {
  const x = randn([3, 4], 97).requiresGrad_();
  const lo = randn([4], 98).requiresGrad_();
  const i = int([3, 4], 3, 99);
  const before = ck.memory();
  ck.tidy(() => {
    const outs = [
      ck.ops.cat([x, x.t().reshape([3, 4])], 0), ck.ops.stack([x, x], 1), ck.ops.where(x.gt(0), x, lo), x.maskedFill(i, 1),
      x.clamp(lo, 0.5), x.gather(1, i), x.scatter(0, i.narrow(0, 0, 1), x.narrow(0, 0, 1)), x.scatterAdd(0, i, x), x.indexSelect(1, i.select(0, 0)),
      x.sort(1).values, x.topk(2).values, x.max(1).values, x.argsort(0),
    ];
    outs.filter((o) => o.dtype === 'float32').reduce((a, o) => a.add(o.sum()), ck.tensor(0)).backward();
  });
  for (const t of [x, lo]) {
    t.grad?.dispose();
    t.grad = null;
  }
  const after = ck.memory();
  expect(after.liveTensors).toBe(before.liveTensors);
  expect(after.devices.map((d) => d.buffers)).toEqual(before.devices.map((d) => d.buffers));
});

describe('bad arguments are coded errors naming the op', () => {
  const x = ck.zeros([2, 3]);
  const idx = (v: number[][]) => ck.tensor(v, { dtype: 'int32' });
  const cases: [string, () => unknown, string, RegExp][] = [
    ['gather index out of range', () => x.gather(1, idx([[0, 3]])), 'ERR_INDEX', /^gather: index 3 is out of bounds for dimension 1 with size 3/],
    ['gather negative index', () => x.gather(0, idx([[-1]])), 'ERR_INDEX', /^gather: index -1 is out of bounds for dimension 0 with size 2/],
    ['gather bad dim', () => x.gather(2, idx([[0]])), 'ERR_INDEX', /^gather: dim 2 is out of range/],
    ['gather float index', () => x.gather(0, ck.zeros([1, 1])), 'ERR_DTYPE', /^gather: index must hold integers/],
    ['gather rank mismatch', () => x.gather(0, ck.tensor([0], { dtype: 'int32' })), 'ERR_SHAPE', /^gather: index \[1\] must have as many dimensions/],
    ['scatter index out of range', () => x.scatter(0, idx([[2]]), 1), 'ERR_INDEX', /^scatter: index 2 is out of bounds for dimension 0/],
    ['scatterAdd index out of range', () => x.scatterAdd(1, idx([[7]]), ck.ones([1, 1])), 'ERR_INDEX', /^scatter_add: index 7/],
    ['indexSelect index out of range', () => x.indexSelect(0, ck.tensor([0, 5], { dtype: 'int32' })), 'ERR_INDEX', /^index_select: index 5 is out of bounds/],
    ['indexSelect bad dim', () => x.indexSelect(-3, ck.tensor([0], { dtype: 'int32' })), 'ERR_INDEX', /^index_select: dim -3/],
    ['sort bad dim', () => x.sort(2), 'ERR_INDEX', /^sort: dim 2/],
    ['topk k too large', () => x.topk(4), 'ERR_INDEX', /^topk: k 4 is out of range for dimension 1 of size 3/],
    ['topk bad dim', () => x.topk(1, { dim: 5 }), 'ERR_INDEX', /^topk: dim 5/],
    ['cat bad dim', () => ck.ops.cat([x, x], 2), 'ERR_INDEX', /^cat: dim 2/],
    ['cat shapes', () => ck.ops.cat([x, ck.zeros([3, 3])], 1), 'ERR_SHAPE', /^cat: sizes must match except in dim 1/],
    ['cat 0-d', () => ck.ops.cat([ck.tensor(1)]), 'ERR_SHAPE', /^cat: zero-dimensional/],
    ['stack shapes', () => ck.ops.stack([x, ck.zeros([3, 2])]), 'ERR_SHAPE', /^stack: expects each tensor to be equal size/],
    ['stack bad dim', () => ck.ops.stack([x, x], 3), 'ERR_INDEX', /^stack: dim 3/],
    ['where shapes', () => ck.ops.where(ck.zeros([2]), x, 0), 'ERR_SHAPE', /where/],
    ['maskedFill mask larger than input', () => x.maskedFill(ck.zeros([4, 2, 3]), 1), 'ERR_SHAPE', /^masked_fill: mask of shape \[4, 2, 3\]/],
    ['maskedFill non-scalar value', () => x.maskedFill(ck.zeros([3]), ck.zeros([3])), 'ERR_SHAPE', /^masked_fill: value must be a number or a 0-d tensor/],
    ['clamp bound shapes', () => x.clamp(ck.zeros([4])), 'ERR_SHAPE', /clamp/],
  ];
  for (const [name, fn, code, msg] of cases)
    test(name, () => {
      let err: (Error & { code?: string }) | null = null;
      try {
        fn();
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err).not.toBeNull();
      expect(err!.code).toBe(code);
      expect(err!.message).toMatch(msg);
    });
});
