/**
 * Gradients of every differentiable tensor op against live PyTorch: each case builds leaves that require
 * grad, computes out, backpropagates sum(out * w) for a random w, and compares out and every input's
 * .grad with torch.autograd on the same data. Tolerance: 1e-5 abs + 1e-4 rel (matmul-heavy cases 1e-4 abs).
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { runTorch, stopTorch } from '../helpers/torch';

afterAll(() => stopTorch());
const TOL = { atol: 1e-5, rtol: 1e-4 };

type Case = {
  name: string;
  shapes: number[][];
  fn: (...xs: ck.Tensor[]) => ck.Tensor;
  torch: string; // expression over x0, x1, ...
  prep?: (i: number, t: ck.Tensor) => ck.Tensor; // shapes the inputs' domain (log needs positives, ...)
};

const pos = (_i: number, t: ck.Tensor) => t.abs().add(0.2);

const cases: Case[] = [
  { name: 'add broadcast', shapes: [[3, 4], [4]], fn: (a, b) => a.add(b), torch: 'x0 + x1' },
  { name: 'add alpha', shapes: [[2, 3], [2, 1]], fn: (a, b) => a.add(b, -1.5), torch: 'torch.add(x0, x1, alpha=-1.5)' },
  { name: 'sub broadcast', shapes: [[2, 1, 3], [4, 1]], fn: (a, b) => a.sub(b), torch: 'x0 - x1' },
  { name: 'mul broadcast', shapes: [[3, 4], [3, 1]], fn: (a, b) => a.mul(b), torch: 'x0 * x1' },
  { name: 'mul scalar', shapes: [[5]], fn: (a) => a.mul(3).add(1).sub(2).div(4), torch: '(x0 * 3 + 1 - 2) / 4' },
  { name: 'div broadcast', shapes: [[3, 4], [4]], fn: (a, b) => a.div(b), torch: 'x0 / x1', prep: (i, t) => (i === 1 ? t.abs().add(0.5) : t) },
  { name: 'pow scalar', shapes: [[6]], fn: (a) => a.pow(3), torch: 'x0 ** 3' },
  { name: 'pow fractional', shapes: [[6]], fn: (a) => a.pow(1.5), torch: 'x0 ** 1.5', prep: pos },
  { name: 'pow tensor', shapes: [[2, 3], [3]], fn: (a, b) => a.pow(b), torch: 'x0 ** x1', prep: (i, t) => (i === 0 ? t.abs().add(0.5) : t) },
  { name: 'neg exp', shapes: [[7]], fn: (a) => a.neg().exp(), torch: 'x0.neg().exp()' },
  { name: 'log', shapes: [[7]], fn: (a) => a.log(), torch: 'x0.log()', prep: pos },
  { name: 'sqrt', shapes: [[7]], fn: (a) => a.sqrt(), torch: 'x0.sqrt()', prep: pos },
  { name: 'rsqrt', shapes: [[7]], fn: (a) => a.rsqrt(), torch: 'x0.rsqrt()', prep: pos },
  { name: 'abs', shapes: [[7]], fn: (a) => a.abs(), torch: 'x0.abs()' },
  { name: 'relu', shapes: [[4, 5]], fn: (a) => a.relu(), torch: 'x0.relu()' },
  { name: 'relu of a transposed view, then a broadcast mul', shapes: [[4, 5], [4]], fn: (a, b) => a.t().relu().mul(b), torch: 'x0.t().relu() * x1' },
  { name: 'sigmoid', shapes: [[4, 5]], fn: (a) => a.sigmoid(), torch: 'x0.sigmoid()' },
  { name: 'tanh', shapes: [[4, 5]], fn: (a) => a.tanh(), torch: 'x0.tanh()' },
  { name: 'square', shapes: [[4]], fn: (a) => a.square(), torch: 'x0.square()' },
  { name: 'clamp', shapes: [[20]], fn: (a) => a.clamp(-0.5, 0.5), torch: 'x0.clamp(-0.5, 0.5)' },
  { name: 'clamp min', shapes: [[20]], fn: (a) => a.clamp(0), torch: 'x0.clamp(min=0)' },
  { name: 'maximum', shapes: [[3, 4], [4]], fn: (a, b) => a.maximum(b), torch: 'torch.maximum(x0, x1)' },
  { name: 'minimum scalar', shapes: [[8]], fn: (a) => a.minimum(0.1), torch: 'torch.clamp(x0, max=0.1)' },
  { name: 'sum all', shapes: [[3, 4]], fn: (a) => a.sum(), torch: 'x0.sum()' },
  { name: 'sum dims', shapes: [[2, 3, 4]], fn: (a) => a.sum([0, 2]), torch: 'x0.sum((0, 2))' },
  { name: 'sum keepdim', shapes: [[2, 3, 4]], fn: (a) => a.sum(1, { keepdim: true }), torch: 'x0.sum(1, keepdim=True)' },
  { name: 'mean', shapes: [[2, 3, 4]], fn: (a) => a.mean(-1), torch: 'x0.mean(-1)' },
  { name: 'mean all', shapes: [[5, 3]], fn: (a) => a.mean(), torch: 'x0.mean()' },
  { name: 'amax', shapes: [[3, 5]], fn: (a) => a.amax(1), torch: 'x0.amax(1)' },
  { name: 'max all', shapes: [[3, 5]], fn: (a) => a.max(), torch: 'x0.max()' },
  { name: 'max dim values', shapes: [[4, 6]], fn: (a) => a.max(0).values, torch: 'x0.max(0).values' },
  { name: 'min dim keepdim', shapes: [[4, 6]], fn: (a) => a.min(1, true).values, torch: 'x0.min(1, keepdim=True).values' },
  { name: 'var', shapes: [[4, 6]], fn: (a) => a.var(1), torch: 'x0.var(1)' },
  { name: 'var biased all', shapes: [[4, 6]], fn: (a) => a.var(undefined, { unbiased: false }), torch: 'x0.var(unbiased=False)' },
  { name: 'std', shapes: [[4, 6]], fn: (a) => a.std(0), torch: 'x0.std(0)' },
  { name: 'prod', shapes: [[3, 4]], fn: (a) => a.prod(1), torch: 'x0.prod(1)', prep: pos },
  { name: 'matmul 2d', shapes: [[3, 5], [5, 4]], fn: (a, b) => a.matmul(b), torch: 'x0 @ x1' },
  { name: 'matmul batched broadcast', shapes: [[2, 3, 5], [5, 4]], fn: (a, b) => a.matmul(b), torch: 'x0 @ x1' },
  { name: 'matmul batch bcast both', shapes: [[2, 1, 3, 5], [4, 5, 2]], fn: (a, b) => a.matmul(b), torch: 'x0 @ x1' },
  { name: 'matmul vec', shapes: [[5], [5, 4]], fn: (a, b) => a.matmul(b), torch: 'x0 @ x1' },
  { name: 'matmul mat-vec', shapes: [[3, 5], [5]], fn: (a, b) => a.matmul(b), torch: 'x0 @ x1' },
  { name: 'dot', shapes: [[5], [5]], fn: (a, b) => a.matmul(b), torch: 'x0 @ x1' },
  { name: 'matmul transposed', shapes: [[5, 3], [4, 5]], fn: (a, b) => a.t().matmul(b.t()), torch: 'x0.t() @ x1.t()' },
  { name: 'reshape/view', shapes: [[2, 6]], fn: (a) => a.reshape(3, 4).mul(a.view(3, 4)), torch: 'x0.reshape(3, 4) * x0.view(3, 4)' },
  { name: 'permute + reshape copy', shapes: [[2, 3, 4]], fn: (a) => a.permute(2, 0, 1).reshape(-1), torch: 'x0.permute(2, 0, 1).reshape(-1)' },
  { name: 'transpose', shapes: [[2, 3]], fn: (a) => a.transpose(0, 1).contiguous(), torch: 'x0.transpose(0, 1).contiguous()' },
  { name: 'slice step', shapes: [[5, 6]], fn: (a) => a.slice(1, 1, 6, 2), torch: 'x0[:, 1:6:2]' },
  { name: 'narrow + select', shapes: [[4, 5]], fn: (a) => a.narrow(0, 1, 2).select(1, 3), torch: 'x0.narrow(0, 1, 2).select(1, 3)' },
  { name: 'expand', shapes: [[3, 1]], fn: (a) => a.expand(2, 3, 4), torch: 'x0.expand(2, 3, 4)' },
  { name: 'squeeze/unsqueeze/flatten', shapes: [[2, 1, 3]], fn: (a) => a.squeeze(1).unsqueeze(0).flatten(), torch: 'x0.squeeze(1).unsqueeze(0).flatten()' },
  { name: 'clone', shapes: [[3]], fn: (a) => a.clone().mul(a), torch: 'x0.clone() * x0' },
  { name: 'reused input', shapes: [[3, 3]], fn: (a) => a.mul(a).add(a.exp()).sum(0), torch: '(x0 * x0 + x0.exp()).sum(0)' },
  {
    name: 'mlp block',
    shapes: [[4, 6], [6, 5], [5]],
    fn: (x, w, b) => x.matmul(w).add(b).relu().sub(x.matmul(w).add(b).mean(0)).square().mean(),
    torch: '((x0 @ x1 + x2).relu() - (x0 @ x1 + x2).mean(0)).square().mean()',
  },
];

describe('gradients match torch.autograd', () => {
  for (const c of cases) {
    test(c.name, async () => {
      ck.manualSeed(c.name.length * 7 + 1);
      const xs = c.shapes.map((s, i) => {
        const r = ck.randn(s);
        const p = c.prep ? c.prep(i, r) : r;
        return ck.noGrad(() => p.clone()).requiresGrad_();
      });
      const out = c.fn(...xs);
      const w = ck.randn([...out.shape]);
      out.mul(w).sum().backward();
      const names = xs.map((_, i) => `x${i}`);
      const inputs: Record<string, ck.Tensor> = { w };
      xs.forEach((x, i) => (inputs[names[i]] = x));
      const code =
        names.map((n) => `${n} = ${n}.clone().requires_grad_()`).join('\n') +
        `\nout = ${c.torch}\n(out * w).sum().backward()\nout = [out] + [${names.map((n) => `${n}.grad`).join(', ')}]`;
      const want = (await runTorch(code, inputs)) as never[];
      expectClose(out, want[0], TOL, `${c.name}: output`);
      xs.forEach((x, i) => {
        expect(x.grad).not.toBeNull();
        expectClose(x.grad!, want[i + 1], TOL, `${c.name}: grad of x${i}`);
      });
    });
  }
});

describe('autograd semantics', () => {
  test('gradients accumulate across backward calls until zeroed', () => {
    const x = ck.tensor([1, 2, 3]).requiresGrad_();
    x.mul(2).sum().backward();
    x.mul(3).sum().backward();
    expect(x.grad!.toArray()).toEqual([5, 5, 5]);
    x.grad!.zero_();
    x.square().sum().backward();
    expect(x.grad!.toArray()).toEqual([2, 4, 6]);
  });
  test('backward with a gradient argument, detach, noGrad, enableGrad', () => {
    const x = ck.tensor([1, 2]).requiresGrad_();
    const y = x.mul(x);
    y.backward(ck.tensor([1, 10]));
    expect(x.grad!.toArray()).toEqual([2, 40]);
    expect(x.detach().requiresGrad).toBe(false);
    const z = ck.noGrad(() => x.mul(2));
    expect(z.requiresGrad).toBe(false);
    const e = ck.noGrad(() => ck.enableGrad(() => x.mul(2)));
    expect(e.requiresGrad).toBe(true);
    expect(() => z.backward()).toThrow(expect.objectContaining({ code: 'ERR_AUTOGRAD' }));
    expect(() => y.backward()).toThrow(expect.objectContaining({ code: 'ERR_AUTOGRAD' }));
  });
  test('a second backward through a freed graph says so; retainGraph keeps it', () => {
    const x = ck.tensor([1, 2]).requiresGrad_();
    const y = x.exp().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(() => y.backward()).toThrow(/retainGraph/);
  });
  test('in-place ops on tensors that require grad are refused outside noGrad', () => {
    const x = ck.ones([3]).requiresGrad_();
    expect(() => x.add_(1)).toThrow(expect.objectContaining({ code: 'ERR_AUTOGRAD' }));
    ck.noGrad(() => x.add_(1));
    expect(x.toArray()).toEqual([2, 2, 2]);
    expect(() => ck.tensor([1], { dtype: 'int32' }).requiresGrad_()).toThrow(/float32/);
  });
  test('a training step leaves no tensors behind', () => {
    const w = ck.randn([8, 4]).requiresGrad_();
    const b = ck.zeros([4]).requiresGrad_();
    const x = ck.randn([16, 8]);
    const step = () => {
      ck.tidy(() => {
        const loss = x.matmul(w).add(b).relu().square().mean();
        loss.backward();
      });
    };
    step();
    const m0 = ck.memory();
    for (let i = 0; i < 20; i++) step();
    const m1 = ck.memory();
    expect(m1.liveTensors).toBe(m0.liveTensors);
    expect(m1.devices[0].bytes).toBe(m0.devices[0].bytes);
    expect(w.grad!.shape).toEqual([8, 4]);
  });
});
