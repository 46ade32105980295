/**
 * The hand-written implicit-GEMM convolution kernels (cuda/conv.cu), every variant the dispatcher can pick,
 * against the CPU backend: forward, backward-data and backward-weight (+ bias) through F.conv2d's autograd.
 * Variants are forced with ck.cudaStats.convTuning (tile 64x64 / 64x128 / 128x64 / 128x128, split-K, FP32
 * SIMT or TF32 mma.sync), so small shapes reach all of them; the launch statistics confirm which kernel ran.
 *
 * Tolerances, |cuda - cpu| <= atol + rtol |cpu| with `terms` the length of the longest sum of products:
 *   FP32: atol 1e-5 sqrt(terms), rtol 1e-4 (two fp32 summation orders).
 *   TF32: each operand is rounded to 10 mantissa bits (cvt.rna: relative error <= 2^-11, ~2.8e-4 rms), so
 *   a product of unit-variance values is off by ~4e-4 rms and a sum of `terms` of them by ~4e-4 sqrt(terms);
 *   atol 3e-3 sqrt(terms) (7 standard deviations), rtol 1e-3.
 * Split-K sums its partials in a fixed order: two runs are bit-identical.
 */
import * as ck from '../../lib';
import { expectClose, Tol } from '../helpers/compare';
import { requireCuda } from './helpers';

const F = ck.nn.functional;
type Opts = ck.nn.functional.Conv2dOptions;
type Tuning = Parameters<typeof ck.cudaStats.convTuning>[0];

let tf32ok = false;
beforeAll(() => {
  requireCuda();
  tf32ok = ck.cudaStats.deviceProps().computeCapability >= 80;
});
let saved: { conv: typeof ck.backends.conv; tf32: boolean } | null = null;
beforeAll(() => {
  saved = { conv: ck.backends.conv, tf32: ck.backends.cudnn.allowTF32 };
  ck.backends.conv = 'native';
});
afterAll(() => {
  ck.cudaStats.convTuning({});
  ck.cudaStats.disable();
  if (saved) {
    ck.backends.conv = saved.conv;
    ck.backends.cudnn.allowTF32 = saved.tf32;
  }
});

interface Case { name: string; x: number[]; w: number[]; o: Opts; bias: boolean }
// N C H W / O C/g KH KW
const CASES: Case[] = [
  { name: '3x3 same', x: [2, 3, 7, 6], w: [5, 3, 3, 3], o: { padding: 1 }, bias: true },
  { name: 'stride 2', x: [2, 4, 9, 8], w: [6, 4, 3, 3], o: { padding: 1, stride: 2 }, bias: false },
  { name: '1x1', x: [3, 8, 5, 5], w: [4, 8, 1, 1], o: {}, bias: true },
  { name: '1x1 stride 2', x: [2, 8, 7, 7], w: [8, 8, 1, 1], o: { stride: 2 }, bias: false },
  { name: '7x7 stride 2', x: [1, 3, 15, 13], w: [8, 3, 7, 7], o: { padding: 3, stride: 2 }, bias: true },
  { name: 'groups 2', x: [2, 4, 6, 6], w: [6, 2, 3, 3], o: { padding: 1, groups: 2 }, bias: true },
  { name: 'depthwise stride 2', x: [2, 4, 8, 7], w: [8, 1, 3, 3], o: { padding: 1, stride: 2, groups: 4 }, bias: false },
  { name: 'dilation 2, stride (2,3)', x: [1, 3, 11, 10], w: [4, 3, 3, 3], o: { padding: 2, dilation: 2, stride: [2, 3] }, bias: true },
  { name: 'batch 1', x: [1, 5, 6, 5], w: [7, 5, 3, 3], o: { padding: 1 }, bias: true },
  { name: '1x1 feature map', x: [3, 6, 1, 1], w: [5, 6, 3, 3], o: { padding: 1 }, bias: true },
  { name: 'odd sizes, 70 outputs (two 64-row tiles)', x: [3, 5, 5, 7], w: [70, 5, 3, 2], o: { padding: [1, 0] }, bias: true },
];

function terms(c: Case, out: readonly number[]): number {
  const [N, , , ] = c.x;
  const [O, Cg, KH, KW] = c.w;
  const g = c.o.groups ?? 1;
  return Math.max(Cg * KH * KW, (O / g) * KH * KW, N * out[2] * out[3]);
}

/** Forward + all gradients on the CPU and on CUDA under `tuning`; returns the CUDA results. */
function compare(c: Case, tuning: Tuning, tf32: boolean, what: string): Float32Array[] {
  ck.cudaStats.convTuning(tuning);
  return ck.tidy(() => {
    ck.manualSeed(7);
    const base = [ck.randn(c.x), ck.randn(c.w), ck.randn([c.w[0]])];
    const run = (device: 'cpu' | 'cuda') => {
      const [x, w, b] = base.map((t) => ck.noGrad(() => t.to(device)).requiresGrad_());
      const y = F.conv2d(x, w, c.bias ? b : null, c.o);
      const g = ck.noGrad(() => ck.arange(0, y.numel(), 1, { dtype: 'float32', device }).reshape([...y.shape]).mul(0.37).sin());
      y.mul(g).sum().backward();
      return { y: y.cpu(), grads: [x.grad!.cpu(), w.grad!.cpu(), ...(c.bias ? [b.grad!.cpu()] : [])], shape: y.shape };
    };
    const want = run('cpu');
    const got = run('cuda');
    const t = terms(c, want.shape);
    const tol: Tol = tf32 ? { atol: 3e-3 * Math.sqrt(t), rtol: 1e-3 } : { atol: 1e-5 * Math.sqrt(t), rtol: 1e-4 };
    expectClose(got.y, want.y, tol, `${what}: y`);
    ['dx', 'dw', 'db'].slice(0, got.grads.length).forEach((n, i) => expectClose(got.grads[i], want.grads[i], tol, `${what}: ${n}`));
    return [got.y, ...got.grads].map((r) => Float32Array.from(r.dataSync() as Float32Array));
  });
}

const TILES = ['64x64', '64x128', '128x64', '128x128'] as const;

describe.each(['fp32', 'tf32'] as const)('implicit-GEMM conv, %s', (math) => {
  beforeAll(() => {
    ck.backends.cudnn.allowTF32 = math === 'tf32';
  });
  test.each(CASES.map((c) => [c.name, c] as [string, Case]))('%s: automatic plan, every tile, split-K', (_n, c) => {
    if (math === 'tf32' && !tf32ok) return;  // sm_75: the TF32 kernels do not exist there
    const tf32 = math === 'tf32';
    ck.cudaStats.enable();
    compare(c, {}, tf32, `${c.name} auto`);
    const s = ck.cudaStats.get();
    const igemm = s.kernels.filter((k) => k.name.includes(' igemm '));
    expect(igemm.length).toBeGreaterThan(0);
    for (const k of igemm) expect(k.name).toContain(tf32 ? ' tf32 ' : ' fp32 ');
    expect(s.im2colBytes).toBe(0);
    // 64-row tiles whenever the GEMM's M (output channels per group; input channels for backward-data) is <= 64
    if (c.w[0] / (c.o.groups ?? 1) <= 64 && c.x[1] / (c.o.groups ?? 1) <= 64)
      for (const k of igemm) expect(k.name).toMatch(/ 64x(64|128)$/);
    for (const tile of TILES) compare(c, { tile, math }, tf32, `${c.name} ${tile}`);
    compare(c, { tile: '64x64', splits: 3, math }, tf32, `${c.name} split 3`);
    compare(c, { tile: '128x128', splits: 2, math }, tf32, `${c.name} split 2`);
    ck.cudaStats.disable();
  });
});

describe('split-K is deterministic', () => {
  test.each(['fp32', 'tf32'] as const)('%s: two runs are bit-identical', (math) => {
    if (math === 'tf32' && !tf32ok) return;
    const c: Case = { name: 'deep', x: [4, 8, 9, 9], w: [16, 8, 3, 3], o: { padding: 1 }, bias: true };
    const a = compare(c, { splits: 5, math }, math === 'tf32', 'split run 1');
    const b = compare(c, { splits: 5, math }, math === 'tf32', 'split run 2');
    a.forEach((r, i) => expect(Buffer.from(r.buffer).equals(Buffer.from(b[i].buffer))).toBe(true));
    // and the split reduction actually ran
    ck.cudaStats.enable();
    compare(c, { splits: 5, math }, math === 'tf32', 'split run 3');
    expect(ck.cudaStats.get().kernels.find((k) => k.name === 'conv_splitk_reduce_kernel')?.launches).toBe(3);
    ck.cudaStats.disable();
  });
});

describe('TF32 switch and launch statistics', () => {
  test('allowTF32 picks the kernel; TF32 and FP32 results differ only by TF32 rounding', () => {
    if (!tf32ok) return;
    const c = CASES[0];
    ck.cudaStats.enable();
    ck.backends.cudnn.allowTF32 = true;
    const t = compare(c, {}, true, 'tf32 default');
    expect(ck.cudaStats.get().kernels.some((k) => k.name.includes(' igemm tf32 '))).toBe(true);
    ck.cudaStats.enable();
    ck.backends.cudnn.allowTF32 = false;
    const f = compare(c, {}, false, 'fp32');
    expect(ck.cudaStats.get().kernels.some((k) => k.name.includes(' igemm tf32 '))).toBe(false);
    expect(Buffer.from(t[0].buffer).equals(Buffer.from(f[0].buffer))).toBe(false);  // TF32 really rounded
    ck.cudaStats.disable();
  });

  test('backends.cuda.matmul.allowTF32 defaults to false and checks its value', () => {
    expect(ck.backends.cuda.matmul.allowTF32).toBe(false);
    ck.backends.cuda.matmul.allowTF32 = true;
    expect(ck.backends.cuda.matmul.allowTF32).toBe(true);
    ck.backends.cuda.matmul.allowTF32 = false;
    expect(() => { (ck.backends.cuda.matmul as { allowTF32: unknown }).allowTF32 = 1; }).toThrow(/must be a boolean/);
  });

  test('statistics: utilisation, grids and a dry run that launches nothing', () => {
    ck.cudaStats.convTuning({});
    ck.backends.cudnn.allowTF32 = true;
    ck.cudaStats.enable();
    ck.tidy(() => {
      const x = ck.randn([2, 16, 8, 8], { device: 'cuda' });
      const w = ck.randn([32, 16, 3, 3], { device: 'cuda' });
      F.conv2d(x, w, null, { padding: 1 });
      return undefined;
    });
    const s = ck.cudaStats.get();
    const k = s.kernels.find((e) => e.name.startsWith('conv2d_forward igemm'))!;
    // M = 32 outputs in a 64-row tile, N = 2*64 pixels, K = 144 = 9 slices of 16: 32*128*144 / (64*128*144)
    expect(k.launches).toBe(1);
    expect(k.utilisation).toBeCloseTo(0.5, 6);
    expect(s.im2colBytes).toBe(0);
    expect(s.launches).toBeGreaterThanOrEqual(1);
    if (ck.info().cuda.emulated) {
      ck.cudaStats.enable({ dryRun: true });
      const y = ck.tidy(() => F.conv2d(ck.zeros([1, 2, 4, 4], { device: 'cuda' }), ck.ones([3, 2, 3, 3], { device: 'cuda' }), null, { padding: 1 }).cpu());
      expect(ck.cudaStats.get().dryRun).toBe(true);
      expect(ck.cudaStats.get().kernels.some((e) => e.name.startsWith('conv2d_forward igemm'))).toBe(true);
      expect(Array.from(y.dataSync() as Float32Array).every((v) => Number.isNaN(v))).toBe(true);  // never written
      y.dispose();
    }
    ck.cudaStats.disable();
  });
});
