/**
 * The tensor core on the CUDA device against the CPU reference: transfers, every elementwise op
 * (contiguous, strided, broadcast), reductions, matmul. Shapes stay small: the emulated device runs
 * each GPU thread as a fiber. Tolerances: elementwise 1e-6 abs + 1e-5 rel; reductions 1e-5; gemm 1e-4 rel.
 */
import * as ck from '../../lib';
import { both, requireCuda } from './helpers';

beforeAll(() => requireCuda());
const TOL = { atol: 1e-6, rtol: 1e-5 };

describe('transfers', () => {
  test('round trip keeps every bit, views move as their elements', () => {
    ck.manualSeed(0);
    const x = ck.randn([3, 4, 5]);
    const d = x.cuda();
    expect(d.device.toString()).toBe('cuda:0');
    expect(Array.from(d.cpu().dataSync())).toEqual(Array.from(x.dataSync()));
    const v = d.transpose(0, 2).slice(1, 1, 3);
    expect(v.cpu().toArray()).toEqual(x.transpose(0, 2).slice(1, 1, 3).toArray());
    const i = ck.tensor([1, -2, 3], { dtype: 'int32', device: 'cuda' });
    expect(i.toArray()).toEqual([1, -2, 3]);
    expect(ck.zeros([2, 2], { device: 'cuda' }).toArray()).toEqual([[0, 0], [0, 0]]);
    expect(ck.full([3], 2.5, { device: 'cuda' }).toArray()).toEqual([2.5, 2.5, 2.5]);
  });
  test('mixing devices is an ERR_DEVICE naming both', () => {
    const a = ck.zeros([2]);
    const b = ck.zeros([2], { device: 'cuda' });
    expect(() => a.add(b)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE' }));
    expect(() => a.add(b)).toThrow(/cpu.*cuda:0/);
  });
  test('memory() counts device buffers', () => {
    const before = ck.memory().devices.find((m) => m.device === 'cuda:0')?.bytes ?? 0;
    const t = ck.zeros([1000], { device: 'cuda' });
    const mid = ck.memory().devices.find((m) => m.device === 'cuda:0')!.bytes;
    expect(mid - before).toBeGreaterThanOrEqual(4000);
    t.dispose();
    expect(ck.memory().devices.find((m) => m.device === 'cuda:0')!.bytes).toBe(before);
  });
});

describe('elementwise on cuda = cpu', () => {
  const unary: [string, (t: ck.Tensor) => ck.Tensor][] = [
    ['neg', (t) => t.neg()], ['exp', (t) => t.exp()], ['log', (t) => t.abs().add(0.1).log()],
    ['sqrt', (t) => t.abs().sqrt()], ['abs', (t) => t.abs()], ['relu', (t) => t.relu()],
    ['sigmoid', (t) => t.mul(10).sigmoid()], ['tanh', (t) => t.tanh()], ['clamp', (t) => t.clamp(-0.3, 0.4)],
    ['clamp min', (t) => t.clamp(0)], ['pow scalar', (t) => t.abs().pow(1.7)], ['square', (t) => t.square()],
    ['rsqrt', (t) => t.abs().add(1).rsqrt()], ['sign', (t) => t.sign()], ['round', (t) => t.mul(3).round()],
    ['floor', (t) => t.mul(3).floor()], ['ceil', (t) => t.mul(3).ceil()], ['add scalar', (t) => t.add(3)],
    ['mul scalar', (t) => t.mul(-2)], ['div scalar', (t) => t.div(3)], ['cast', (t) => t.mul(5).int()],
    ['log1p', (t) => t.abs().log1p()], ['expm1', (t) => t.expm1()], ['sin', (t) => t.sin()], ['cos', (t) => t.cos()],
  ];
  for (const [name, op] of unary) {
    test(name, () => {
      ck.manualSeed(1);
      const x = ck.randn([3, 7, 5]);
      both([x], op, TOL, name);
      both([x], (t) => op(t.permute(2, 0, 1).slice(1, 1, 3)), TOL, `${name} strided`);
      both([ck.randn([])], op, TOL, `${name} 0-d`);
    });
  }
  test('int32 unary ops', () => {
    const x = ck.tensor([-5, -1, 0, 2, 7, 100], { dtype: 'int32' });
    for (const op of [(t: ck.Tensor) => t.neg(), (t: ck.Tensor) => t.abs(), (t: ck.Tensor) => t.clamp(-2, 3), (t: ck.Tensor) => t.add(4), (t: ck.Tensor) => t.mul(3), (t: ck.Tensor) => t.float()])
      both([x], op, { atol: 0, rtol: 0 }, 'int32');
  });

  const shapes: [number[], number[]][] = [
    [[4, 5], [4, 5]], [[4, 5], [5]], [[4, 1], [1, 5]], [[2, 3, 4], [3, 1]], [[], [3, 2]], [[2, 1, 3, 1], [4, 1, 5]], [[1, 3, 1, 2, 1, 2, 1, 2], [2, 1, 2, 1, 2, 1, 2, 1]],
  ];
  const ops: [string, (a: ck.Tensor, b: ck.Tensor) => ck.Tensor][] = [
    ['add', (a, b) => a.add(b)], ['sub', (a, b) => a.sub(b)], ['mul', (a, b) => a.mul(b)], ['div', (a, b) => a.div(b)],
    ['pow', (a, b) => a.abs().pow(b)], ['maximum', (a, b) => a.maximum(b)], ['minimum', (a, b) => a.minimum(b)],
    ['eq', (a, b) => a.round().eq(b.round())], ['ne', (a, b) => a.ne(b)], ['lt', (a, b) => a.lt(b)], ['le', (a, b) => a.le(b)],
    ['gt', (a, b) => a.gt(b)], ['ge', (a, b) => a.ge(b)],
  ];
  for (const [sa, sb] of shapes) {
    test(`binary [${sa}] x [${sb}]`, () => {
      ck.manualSeed(2);
      const a = ck.randn(sa);
      const b = ck.randn(sb);
      for (const [name, op] of ops) {
        both([a, b], op, TOL, name);
        both([b, a], op, TOL, `${name} swapped`);
      }
    });
  }
  test('int32 binary ops and promotion', () => {
    const a = ck.tensor([[7, -7, 3], [0, 9, -4]], { dtype: 'int32' });
    const b = ck.tensor([2, -3, 5], { dtype: 'int32' });
    for (const op of [(x: ck.Tensor, y: ck.Tensor) => x.add(y), (x: ck.Tensor, y: ck.Tensor) => x.sub(y), (x: ck.Tensor, y: ck.Tensor) => x.mul(y), (x: ck.Tensor, y: ck.Tensor) => x.maximum(y), (x: ck.Tensor, y: ck.Tensor) => x.lt(y), (x: ck.Tensor, y: ck.Tensor) => x.div(y)])
      both([a, b], op, { atol: 0, rtol: 1e-7 }, 'int32 binary');
    both([a, ck.tensor([0.5, 1.5, -2])], (x, y) => x.mul(y), TOL, 'promotion');
  });
});

describe('reductions on cuda = cpu', () => {
  const dims: (number | number[] | undefined)[] = [undefined, 0, 1, 2, [0, 2]];
  for (const dim of dims) {
    test(`dim ${JSON.stringify(dim)}`, () => {
      ck.manualSeed(3);
      const x = ck.randn([5, 6, 7]);
      const R = { atol: 1e-5, rtol: 1e-5 };
      both([x], (t) => t.sum(dim), R, 'sum');
      both([x], (t) => t.mean(dim, { keepdim: true }), R, 'mean');
      both([x], (t) => t.amax(dim), TOL, 'amax');
      both([x], (t) => t.amin(dim), TOL, 'amin');
      both([x], (t) => t.var(dim), R, 'var');
      both([x], (t) => t.var(dim, { unbiased: false }), R, 'var biased');
      if (typeof dim === 'number') {
        both([x], (t) => t.argmax(dim), { atol: 0, rtol: 0 }, 'argmax');
        both([x], (t) => t.argmin(dim), { atol: 0, rtol: 0 }, 'argmin');
        both([x], (t) => t.max(dim).values, TOL, 'max values');
      }
      both([x], (t) => t.prod(typeof dim === 'number' ? dim : undefined), { atol: 1e-6, rtol: 1e-4 }, 'prod');
    });
  }
  test('long rows, one-element rows, int32 and ties', () => {
    ck.manualSeed(4);
    both([ck.randn([3, 2000])], (t) => t.sum(1), { atol: 1e-4, rtol: 1e-5 }, 'long sum');
    both([ck.randn([3, 2000]).add(100)], (t) => t.var(1), { atol: 1e-4, rtol: 1e-4 }, 'var with offset');
    both([ck.randn([40, 1])], (t) => t.sum(1), TOL, 'rows of one');
    both([ck.tensor([[1, 5, 5, 2], [3, 3, 0, 3]])], (t) => t.argmax(1), { atol: 0, rtol: 0 }, 'ties');
    both([ck.tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'int32' })], (t) => t.sum(0), { atol: 0, rtol: 0 }, 'int sum');
    both([ck.tensor([[1, NaN, 3], [4, 5, 6]])], (t) => t.amax(1), TOL, 'nan max');
  });
});

describe('matmul on cuda = cpu', () => {
  const cases: [number[], number[]][] = [
    [[5], [5]], [[3, 5], [5, 4]], [[1, 1], [1, 1]], [[17, 33], [33, 9]], [[2, 7, 5], [2, 5, 3]], [[7, 5], [3, 5, 4]],
    [[2, 1, 4, 6], [3, 6, 2]], [[65, 67], [67, 70]], [[1, 64], [64, 1]], [[130, 3], [3, 129]],
  ];
  for (const [sa, sb] of cases) {
    test(`[${sa}] @ [${sb}]`, () => {
      ck.manualSeed(5);
      both([ck.randn(sa), ck.randn(sb)], (a, b) => a.matmul(b), { atol: 1e-5, rtol: 1e-4 }, 'matmul');
    });
  }
  test('transposed operands', () => {
    ck.manualSeed(6);
    both([ck.randn([20, 30]), ck.randn([40, 20])], (a, b) => a.t().matmul(b.t()), { atol: 1e-5, rtol: 1e-4 }, 'tt');
    both([ck.randn([3, 9, 6])], (b) => b.transpose(1, 2).matmul(b), { atol: 1e-5, rtol: 1e-4 }, 'batched t');
  });
});
