/** Tensor behaviour that isn't numerics: views share memory, ownership, errors, dtypes, devices. */
import * as ck from '../../lib';

function cpuBytes(): number {
  return ck.memory().devices.find((d) => d.device === 'cpu')?.bytes ?? 0;
}

describe('views copy nothing', () => {
  test('reshape/permute/transpose/slice/expand/flatten share the buffer', () => {
    const x = ck.arange(0, 24, 1, { dtype: 'float32' }).reshape(2, 3, 4);
    const before = cpuBytes();
    const views = [
      x.view(6, 4), x.reshape(4, 6), x.permute(2, 0, 1), x.transpose(0, 2), x.slice(1, 1, 3), x.narrow(2, 0, 2),
      x.slice(0, 0, 1).expand(5, 3, 4), x.flatten(), x.unsqueeze(1), x.select(0, 1), x.squeeze(), x.detach(),
    ];
    expect(cpuBytes()).toBe(before);
    expect(views[2].isContiguous()).toBe(false);
    expect(views[6].strides[0]).toBe(0);
    // a reshape that can't be a view copies
    const c = x.transpose(0, 1).reshape(-1);
    expect(cpuBytes()).toBeGreaterThan(before);
    expect(c.toArray()).toEqual([0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23]);
    expect(() => x.transpose(0, 1).view(-1)).toThrow(/reshape/);
  });

  test('the buffer lives until the last view is disposed', () => {
    const base = ck.ones([1000]);
    const v = base.slice(0, 10, 20);
    const bytes = cpuBytes();
    base.dispose();
    expect(cpuBytes()).toBe(bytes);
    expect(v.sum().item()).toBe(10);
    v.dispose();
    expect(cpuBytes()).toBeLessThan(bytes);
  });
});

describe('ownership and memory', () => {
  test('dispose is idempotent, use after dispose throws ERR_DISPOSED', () => {
    const t = ck.zeros([3]);
    t.dispose();
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(() => t.add(1)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    expect(() => t.toArray()).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    const u = ck.zeros([3]);
    expect(() => u.add(t)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  });

  test('Symbol.dispose and using', () => {
    const before = ck.memory().liveTensors;
    {
      using t = ck.ones([4]);
      expect(t.sum().item()).toBe(4);
    }
    const after = ck.memory().liveTensors;
    expect(after).toBe(before + 1); // only the sum's result is still alive
  });

  test('tidy disposes intermediates and keeps what it returns', () => {
    const before = ck.memory();
    const out = ck.tidy(() => {
      const a = ck.randn([10, 10]);
      const b = a.mul(2).add(1).relu();
      return { b, n: 3 };
    });
    const after = ck.memory();
    expect(after.liveTensors).toBe(before.liveTensors + 1);
    expect(out.b.shape).toEqual([10, 10]);
    out.b.dispose();
    expect(ck.memory().liveTensors).toBe(before.liveTensors);
    expect(cpuBytes()).toBe(before.devices.find((d) => d.device === 'cpu')!.bytes);
  });

  test('nested tidy moves returned tensors to the outer scope', () => {
    const before = ck.memory().liveTensors;
    ck.tidy(() => {
      const inner = ck.tidy(() => ck.ones([2]).mul(3));
      expect(inner.isDisposed).toBe(false);
      return undefined;
    });
    expect(ck.memory().liveTensors).toBe(before);
  });

  test('memory() reports live tensors and bytes per device', () => {
    const m0 = ck.memory();
    const t = ck.zeros([256]);
    const m1 = ck.memory();
    expect(m1.liveTensors).toBe(m0.liveTensors + 1);
    expect(cpuBytes()).toBeGreaterThanOrEqual(m0.devices[0].bytes + 1024);
    t.dispose();
    expect(ck.memory().liveTensors).toBe(m0.liveTensors);
  });
});

describe('errors name the problem', () => {
  test('broadcast failure names both shapes', () => {
    const a = ck.zeros([2, 3]);
    const b = ck.zeros([4]);
    let err: (Error & { code?: string }) | undefined;
    try {
      a.add(b);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('ERR_SHAPE');
    expect(err?.message).toContain('[2, 3]');
    expect(err?.message).toContain('[4]');
  });
  test('bad views, dims and data', () => {
    const x = ck.zeros([2, 3]);
    expect(() => x.view(4, 2)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => x.sum(2)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => x.permute(0, 0)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => x.expand(3, 3)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => x.narrow(1, 2, 2)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => ck.tensor([[1, 2], [3]])).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => ck.zeros([2, -1])).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => ck.zeros([2]).item()).toThrow(/one element/);
    expect(() => ck.tensor([1], { dtype: 'float64' as never })).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
  });
  test('the native layer rejects out-of-bounds layouts with a JS error, not a crash', () => {
    const { native } = require('../../lib/binding') as typeof import('../../lib/binding');
    const s = native.alloc(-1, 16);
    const y = native.alloc(-1, 16);
    const unary = (op: number, input: unknown, layout: number[]) =>
      native.unary({ op, inDtype: 0, outDtype: 0, a: 0, b: 0 }, { input: { storage: input, layout } as never, output: { storage: y, offset: 0 } });
    expect(() => unary(0, s, [1, 0, 100, 1])).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => unary(0, s, [1, 2, 4, 1])).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    const m = (rowStride: number) => ({ storage: s, offset: 0, batchStride: 0, rowStride, colStride: 1 });
    expect(() => native.gemm({ batch: 1, M: 4, N: 4, K: 4, alpha: 1, beta: 0 }, { a: m(4), b: m(4), c: { ...m(4), storage: y } }))
      .toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => unary(99, s, [1, 0, 4, 1])).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(() => unary(0, {}, [1, 0, 4, 1])).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    // stride 1.5 in a layout is an error, never truncated
    expect(() => unary(0, s, [1, 0, 2, 1.5])).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    s.dispose();
    expect(() => unary(0, s, [1, 0, 4, 1])).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    y.dispose();
  });
});

describe('dtypes and data', () => {
  test('int64 data comes in as int32, range-checked', () => {
    const t = ck.tensor(new BigInt64Array([1n, -2n, 3n]));
    expect(t.dtype).toBe('int32');
    expect(t.toArray()).toEqual([1, -2, 3]);
    expect(ck.tensor([1, 2], { dtype: 'int64' }).dtype).toBe('int32');
    expect(() => ck.tensor(new BigInt64Array([1n << 40n]))).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
  });
  test('typed arrays with a shape, casts, item, async data', async () => {
    const t = ck.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
    expect(t.shape).toEqual([2, 3]);
    expect(t.int().dtype).toBe('int32');
    expect(ck.tensor([1.7, -1.7]).int().toArray()).toEqual([1, -1]);
    expect(t.sum().item()).toBe(21);
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ck.tensor(5).toArray()).toBe(5);
    const c = t.clone();
    expect(c.storage).not.toBe(t.storage);
  });
  test('manualSeed makes every draw reproducible', () => {
    ck.manualSeed(42);
    const a = [ck.rand([5]).toArray(), ck.randn([3]).toArray(), ck.randint(0, 10, [4]).toArray(), ck.randperm(6).toArray()];
    ck.manualSeed(42);
    const b = [ck.rand([5]).toArray(), ck.randn([3]).toArray(), ck.randint(0, 10, [4]).toArray(), ck.randperm(6).toArray()];
    expect(b).toEqual(a);
    expect([...(a[3] as number[])].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('devices', () => {
  test('cpu is the default, bad device strings are rejected', () => {
    expect(ck.zeros([1]).device.toString()).toBe('cpu');
    expect(() => ck.zeros([1], { device: 'tpu' as never })).toThrow(expect.objectContaining({ code: 'ERR_DEVICE' }));
  });
  test('without CUDA, asking for it says why', () => {
    if (ck.cuda.isAvailable()) return expect(ck.cuda.deviceCount()).toBeGreaterThan(0);
    expect(() => ck.zeros([1], { device: 'cuda' })).toThrow(expect.objectContaining({ code: 'ERR_DEVICE' }));
    expect(() => ck.zeros([1]).cuda()).toThrow(/CUDA/);
  });
  test('info() names the binary and flavour', () => {
    const i = ck.info();
    expect(['cpu', 'cuda', 'emu']).toContain(i.flavour);
    expect(i.threads).toBeGreaterThan(0);
  });
});

describe('relu backward', () => {
  it('passes the gradient where the output is positive and gives 0 elsewhere, even for inf/NaN gradients (as torch threshold_backward)', () => {
    const x = ck.tensor([-1, 0, 2, 3], { requiresGrad: true });
    const y = x.relu();
    y.backward(ck.tensor([NaN, Infinity, 3, -Infinity]));
    expect(Array.from(x.grad!.toArray() as number[])).toEqual([0, 0, 3, -Infinity]);
    for (const t of [x, y]) t.dispose();
  });
});

describe('creation with requiresGrad', () => {
  it('makes leaves that record, as requires_grad=True; int tensors refuse it', () => {
    for (const t of [ck.tensor([1, 2]), ck.zeros([2]), ck.randn([2]), ck.arange(0, 2, 1), ck.eye(2)]) {
      expect(t.requiresGrad).toBe(false);
      t.dispose();
    }
    for (const t of [ck.tensor([1, 2], { requiresGrad: true }), ck.zeros([2], { requiresGrad: true }), ck.randn([2], { requiresGrad: true }),
      ck.linspace(0, 1, 3, { requiresGrad: true }), ck.onesLike(ck.keep(ck.zeros([2])), { requiresGrad: true })]) {
      expect(t.requiresGrad).toBe(true);
      expect(t.isLeaf).toBe(true);
      t.dispose();
    }
    const before = ck.memory().liveTensors;
    expect(() => ck.tensor([1, 2], { dtype: 'int32', requiresGrad: true })).toThrow(/only float32 tensors can require gradients/);
    expect(() => ck.randint(0, 3, [2], { requiresGrad: true })).toThrow(/only float32/);
    expect(ck.memory().liveTensors).toBe(before);
  });
});

describe('depthwise conv2d weight gradient', () => {
  it("keeps an input inf out of the taps that never read it (the vector tail masks both operands)", () => {
    // x = 1 everywhere but inf at the last column; 1x3 kernel, no padding: OW = 6, so tap kw reads columns
    // kw .. kw + 5 and only tap 2 reads column 7.
    const xs = new Float32Array(2 * 8).fill(1);
    xs[7] = Infinity;
    xs[15] = Infinity;
    const x = ck.tensor(xs, { shape: [1, 2, 1, 8] });
    const w = ck.ones([2, 1, 1, 3], { requiresGrad: true });
    const y = ck.nn.functional.conv2d(x, w, null, { groups: 2 });
    y.backward(ck.onesLike(y));
    expect(Array.from(w.grad!.toArray() as unknown as number[][][][]).map((c) => c[0][0])).toEqual([[6, 6, Infinity], [6, 6, Infinity]]);
    for (const t of [x, w, y]) t.dispose();
  });
});

test('tidy refuses a non-function with a coded TypeError', () => {
  const call = () => ck.tidy(3 as unknown as () => void);
  expect(call).toThrow(TypeError);
  expect(call).toThrow(expect.objectContaining({ code: 'ERR_ARG', message: 'tidy(fn): fn must be a function, got number' }));
});
