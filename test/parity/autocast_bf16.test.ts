/**
 * ck.autocast('cpu', { dtype: 'bfloat16' }) against live PyTorch 1.13's torch.autocast('cpu', dtype=torch.bfloat16):
 * conv2d (bias or not, stride, padding, groups, depthwise, 1x1), linear and matmul (2-D, broadcast, 1-D, bmm), output and
 * every gradient, and a small
 * CNN's loss and gradients (train-mode batch norm, ReLU, max pool, global average pool, cross entropy).
 *
 * Tolerances. A single conv / linear: both sides round the same operands to bf16 and sum exact products in FP32
 * (in another order), then round to bf16, so an element differs only where the two FP32 sums fall on either side
 * of a bf16 rounding boundary: one bf16 ulp, 2^-7 relative at most (rtol 2^-7 plus an atol of 1e-3 of the tensor's
 * scale for the FP32 summation error of elements that cancel to near zero). Most elements must agree bit for bit
 * (>= 80%; an FP32 implementation agrees on almost none, since PyTorch's results are bf16 values). The CNN:
 * PyTorch also runs batch norm, ReLU and the pools on bf16 tensors (ops on neither autocast list keep their input's
 * dtype), rounding their outputs and gradients too, while convkit runs them in FP32 (lib/autocast.ts); each extra
 * rounding moves a value by up to 2^-9 relative and a layer adds a few of them forward and backward (through batch
 * norm's backward they add up to ~5% of the first layer's weight gradient, measured). So each CNN gradient must be
 * within 10% (normwise) of PyTorch's autocast gradient and no further from PyTorch's FP32 gradient than PyTorch's
 * own autocast gradient is (x1.25 + 0.005). PyTorch's bf16 mm below oneDNN's size threshold rounds partial sums to
 * bf16 (measured: half its elements off the correctly rounded result), so the linear shapes stay above it.
 */
import * as ck from '../../lib';
import { Arr } from '../helpers/torch';
import { expectClose } from '../helpers/compare';
import { leaf } from '../helpers/grad_check';
import { runTorch, stopTorch } from '../helpers/torch';

const F = ck.nn.functional;
afterAll(() => stopTorch());

const scale = (a: Arr) => a.data.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

function compareOp(got: ck.Tensor, want: Arr, what: string): void {
  const s = scale(want);
  expectClose(got, want, { atol: 1e-3 * s, rtol: 2 ** -7 }, what);
  const g = got.dataSync();
  let same = 0;
  for (let i = 0; i < g.length; i++) if (g[i] === want.data[i]) same++;
  expect({ what, sameFraction: same / g.length >= 0.8 }).toEqual({ what, sameFraction: true });
}

async function opCase(name: string, leaves: Record<string, ck.Tensor>, fn: () => ck.Tensor, expr: string): Promise<void> {
  const out = ck.autocast('cpu', { dtype: 'bfloat16' }, fn);
  const gw = ck.randn([...out.shape]);
  out.mul(gw).sum().backward(); // backward outside the region, as in PyTorch: the op remembers bf16
  const names = Object.keys(leaves);
  const code = names.map((n) => `${n} = ${n}.clone().requires_grad_()`).join('\n') +
    `\nwith torch.autocast('cpu', dtype=torch.bfloat16):\n    out = ${expr}\nassert out.dtype == torch.bfloat16\n` +
    `(out.float() * gw).sum().backward()\nout = [out.float()] + [${names.map((n) => `${n}.grad`).join(', ')}]`;
  const want = (await runTorch(code, { ...leaves, gw })) as Arr[];
  compareOp(out, want[0], `${name}: output`);
  names.forEach((n, i) => compareOp(leaves[n].grad!, want[i + 1], `${name}: grad ${n}`));
}

describe('autocast bf16 vs torch.autocast: conv2d', () => {
  const cases: [string, number[], number[], ck.nn.functional.Conv2dOptions, boolean][] = [
    ['3x3 pad 1 with bias', [2, 8, 10, 10], [16, 8, 3, 3], { padding: 1 }, true],
    ['3x3 no bias', [2, 8, 9, 9], [12, 8, 3, 3], {}, false],
    ['stride 2 pad 1', [2, 6, 11, 11], [8, 6, 3, 3], { stride: 2, padding: 1 }, true],
    ['groups 2', [2, 8, 8, 8], [12, 4, 3, 3], { groups: 2, padding: 1 }, true],
    ['depthwise', [2, 6, 9, 9], [6, 1, 3, 3], { groups: 6, padding: 1 }, true],
    ['1x1', [3, 16, 6, 6], [8, 16, 1, 1], {}, true],
    ['3-channel stem 5x5 stride 2', [2, 3, 16, 16], [8, 3, 5, 5], { stride: 2, padding: 2 }, true],
  ];
  for (const [name, xs, ws, o, bias] of cases) {
    test(name, async () => {
      ck.manualSeed(xs.reduce((a, b) => a + b, 0));
      const leaves: Record<string, ck.Tensor> = { x: leaf(xs), w: leaf(ws, 0.3) };
      if (bias) leaves.b = leaf([ws[0]]);
      const s = Array.isArray(o.stride) ? `(${o.stride})` : o.stride ?? 1;
      const p = Array.isArray(o.padding) ? `(${o.padding})` : o.padding ?? 0;
      await opCase(name, leaves, () => F.conv2d(leaves.x, leaves.w, leaves.b ?? null, o),
        `F.conv2d(x, w, ${bias ? 'b' : 'None'}, stride=${s}, padding=${p}, groups=${o.groups ?? 1})`);
    });
  }
});

describe('autocast bf16 vs torch.autocast: linear', () => {
  test('2-D input with bias', async () => {
    ck.manualSeed(11);
    const leaves = { x: leaf([16, 96]), w: leaf([40, 96], 0.2), b: leaf([40]) };
    await opCase('linear', leaves, () => F.linear(leaves.x, leaves.w, leaves.b), 'F.linear(x, w, b)');
  });
  test('3-D input without bias', async () => {
    ck.manualSeed(12);
    const leaves = { x: leaf([4, 8, 48]), w: leaf([24, 48], 0.2) };
    await opCase('linear 3-D', leaves, () => F.linear(leaves.x, leaves.w), 'F.linear(x, w)');
  });
});

describe('autocast bf16 vs torch.autocast: matmul', () => {
  // Sizes above oneDNN's bf16 threshold, as for linear (the file comment).
  test('2-D @ 2-D', async () => {
    ck.manualSeed(21);
    const leaves = { a: leaf([24, 80]), b: leaf([80, 40], 0.2) };
    await opCase('matmul', leaves, () => leaves.a.matmul(leaves.b), 'torch.matmul(a, b)');
  });
  test('3-D @ 2-D (broadcast over the batch)', async () => {
    ck.manualSeed(22);
    const leaves = { a: leaf([3, 16, 64]), b: leaf([64, 32], 0.2) };
    await opCase('matmul 3-D @ 2-D', leaves, () => leaves.a.matmul(leaves.b), 'torch.matmul(a, b)');
  });
  test('1-D @ 2-D', async () => {
    ck.manualSeed(23);
    const leaves = { a: leaf([96]), b: leaf([96, 48], 0.2) };
    await opCase('matmul 1-D @ 2-D', leaves, () => leaves.a.matmul(leaves.b), 'torch.matmul(a, b)');
  });
  test('3-D @ 3-D (bmm)', async () => {
    ck.manualSeed(24);
    const leaves = { a: leaf([4, 32, 64]), b: leaf([4, 64, 48], 0.2) };
    await opCase('bmm', leaves, () => leaves.a.matmul(leaves.b), 'torch.bmm(a, b)');
  });
  test('autocast off (and outside a region) keeps FP32: no rounding', () => {
    ck.manualSeed(25);
    const a = ck.randn([8, 16]), b = ck.randn([16, 8]);
    const plain = a.matmul(b).dataSync();
    const off = ck.autocast('cpu', { enabled: false }, () => a.matmul(b)).dataSync();
    const on = ck.autocast('cpu', () => a.matmul(b)).dataSync();
    expect(Array.from(off)).toEqual(Array.from(plain));
    const bf16 = (x: number) => { const f = new Float32Array([x]); const u = new Uint32Array(f.buffer); return (u[0] & 0xffff) === 0; };
    expect(Array.from(on).every(bf16)).toBe(true);
    expect(Array.from(plain).every(bf16)).toBe(false);
  });
});

describe('autocast bf16 vs torch.autocast: a small CNN, forward and backward', () => {
  test('conv-bn-relu-pool x2, global average pool, linear, cross entropy', async () => {
    ck.manualSeed(5);
    const leaves: Record<string, ck.Tensor> = {
      w1: leaf([16, 3, 3, 3], 0.3), b1: leaf([16], 0.1), g1: leaf([16]), be1: leaf([16], 0.1),
      w2: leaf([32, 16, 3, 3], 0.1), g2: leaf([32]), be2: leaf([32], 0.1),
      wl: leaf([10, 32], 0.2), bl: leaf([10], 0.1),
    };
    const x = ck.randn([8, 3, 16, 16]);
    const target = ck.tensor([0, 1, 2, 3, 4, 5, 6, 7], { dtype: 'int32' });
    const L = leaves;
    const loss = ck.autocast('cpu', () => {
      let h = F.conv2d(x, L.w1, L.b1, { padding: 1 });
      h = F.maxPool2d(F.relu(F.batchNorm(h, null, null, L.g1, L.be1, { training: true })), 2);
      h = F.conv2d(h, L.w2, null, { padding: 1 });
      h = F.adaptiveAvgPool2d(F.relu(F.batchNorm(h, null, null, L.g2, L.be2, { training: true })), 1);
      return F.crossEntropy(F.linear(h.flatten(1), L.wl, L.bl), target);
    });
    loss.backward();
    const names = Object.keys(leaves);
    const code = names.map((n) => `${n} = ${n}.clone().requires_grad_()`).join('\n') + `
with torch.autocast('cpu', dtype=torch.bfloat16):
    h = F.conv2d(x, w1, b1, padding=1)
    h = F.max_pool2d(F.relu(F.batch_norm(h, None, None, g1, be1, training=True)), 2)
    h = F.conv2d(h, w2, None, padding=1)
    h = F.adaptive_avg_pool2d(F.relu(F.batch_norm(h, None, None, g2, be2, training=True)), 1)
    loss = F.cross_entropy(F.linear(h.flatten(1), wl, bl), target.long())
loss.backward()
out = [loss] + [${names.map((n) => `${n}.grad`).join(', ')}]
grads = [${names.map((n) => `${n}.grad`).join(', ')}]
${names.map((n) => `${n}.grad = None`).join('\n')}
h = F.conv2d(x, w1, b1, padding=1)
h = F.max_pool2d(F.relu(F.batch_norm(h, None, None, g1, be1, training=True)), 2)
h = F.conv2d(h, w2, None, padding=1)
h = F.adaptive_avg_pool2d(F.relu(F.batch_norm(h, None, None, g2, be2, training=True)), 1)
F.cross_entropy(F.linear(h.flatten(1), wl, bl), target.long()).backward()
out = out + [${names.map((n) => `${n}.grad`).join(', ')}]`;
    const want = (await runTorch(code, { ...leaves, x, target })) as [number | Arr, ...Arr[]];
    const wantLoss = typeof want[0] === 'number' ? want[0] : (want[0] as Arr).data[0];
    expect(Math.abs(loss.item() - wantLoss)).toBeLessThan(0.02 * Math.abs(wantLoss));
    const rel = (a: ArrayLike<number>, b: Arr) => {
      let num = 0, den = 0;
      for (let i = 0; i < b.data.length; i++) { num += (a[i] - b.data[i]) ** 2; den += b.data[i] ** 2; }
      return Math.sqrt(num / den);
    };
    names.forEach((n, i) => {
      if (n === 'b1') return; // a bias before train-mode batch norm: its true gradient is 0, both sides hold noise
      const bf = want[i + 1] as Arr, fp = want[i + 1 + names.length] as Arr;
      const g = leaves[n].grad!.dataSync();
      expect({ n, vsTorchBf16: rel(g, bf) <= 0.1 }).toEqual({ n, vsTorchBf16: true });
      // no further from PyTorch's FP32 gradient than PyTorch's own autocast is
      expect({ n, vsFp32: rel(g, fp) <= 1.25 * rel(bf.data, fp) + 0.005 }).toEqual({ n, vsFp32: true });
    });
  });
});
