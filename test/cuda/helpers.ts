/**
 * Shared by the test/cuda suites: the CUDA device must exist (these suites only run against a CUDA
 * build: the emulated one in CI, the real one on a GPU box), `both` runs an op on the CPU and on the
 * device from the same inputs and compares |cuda - cpu| <= atol + rtol * |cpu|, `gradBoth` does the same
 * for an output and the gradient of every input, and `pinNativeConv` makes a
 * suite's convolutions run the hand-written kernels (cuda/conv.cu) in FP32 whatever the box has.
 */
import * as ck from '../../lib';
import { expectClose, Tol } from '../helpers/compare';

export function requireCuda(): void {
  if (!ck.cuda.isAvailable())
    throw new Error(`test/cuda needs a CUDA device (real or emulated); this binary is '${ck.info().flavour}' (${ck.info().cuda.runtime})`);
}

export function both(inputs: ck.Tensor[], op: (...xs: ck.Tensor[]) => ck.Tensor, tol: Tol, what: string): number {
  return ck.tidy(() => {
    const want = op(...inputs);
    const dev = inputs.map((x) => x.cuda());
    const got = op(...dev);
    expect(got.device.toString()).toBe('cuda:0');
    expect(got.dtype).toBe(want.dtype);
    return expectClose(got.cpu(), want, tol, what);
  });
}

/**
 * For the suite it is called in: backends.conv = 'native' and cuDNN's TF32 off (so a GPU box where cuDNN
 * loads still tests cuda/conv.cu, in full FP32), restored afterwards. cuDNN has its own suite, cudnn.test.ts.
 */
export function pinNativeConv(): void {
  let before: { conv: typeof ck.backends.conv; tf32: boolean } | null = null;
  beforeAll(() => {
    before = { conv: ck.backends.conv, tf32: ck.backends.cudnn.allowTF32 };
    ck.backends.conv = 'native';
    ck.backends.cudnn.allowTF32 = false;
  });
  afterAll(() => {
    if (!before) return;
    ck.backends.conv = before.conv;
    ck.backends.cudnn.allowTF32 = before.tf32;
  });
}

/** Throws unless a suite pinned by pinNativeConv is still pinned (a test that changed it would test cuDNN). */
export function expectNativeConv(): void {
  if (ck.backends.conv !== 'native' || ck.backends.cudnn.allowTF32)
    throw new Error(`convolution is not pinned: backends.conv '${ck.backends.conv}', allowTF32 ${ck.backends.cudnn.allowTF32}`);
}

/** Runs fn on CPU leaves and on CUDA copies; compares the output and the gradient of every leaf. */
export function gradBoth(shapes: number[][], fn: (...xs: ck.Tensor[]) => ck.Tensor, tol: Tol, what: string, scale: number[] = []): void {
  ck.tidy(() => {
    const base = shapes.map((s, i) => ck.noGrad(() => ck.randn(s).mul(scale[i] ?? 1)));
    const run = (device: 'cpu' | 'cuda') => {
      const xs = base.map((b) => ck.noGrad(() => b.to(device)).requiresGrad_());
      const out = fn(...xs);
      const w = ck.noGrad(() => ck.ones([...out.shape], { device }).mul(0.5).add(ck.arange(0, out.numel(), 1, { dtype: 'float32', device }).reshape([...out.shape]).mul(0.01).sin()));
      out.mul(w).sum().backward();
      return { out: out.cpu(), grads: xs.map((x) => x.grad!.cpu()) };
    };
    const a = run('cpu');
    const b = run('cuda');
    expectClose(b.out, a.out, tol, `${what}: output`);
    a.grads.forEach((g, i) => expectClose(b.grads[i], g, tol, `${what}: grad ${i}`));
    return undefined;
  });
}

/** The nn suites' tolerance, |cuda - cpu| <= atol + rtol * |cpu|, unless a case states its own. */
export const TOL = { atol: 1e-5, rtol: 1e-4 };

/** The convolution shapes both conv.test.ts (native kernels) and cudnn.test.ts run: name, input, weight, options, bias. */
export const CONV_CASES: [string, number[], number[], ck.nn.functional.Conv2dOptions, boolean][] = [
  ['3x3 pad 1', [2, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }, true],
  ['odd, no bias', [2, 3, 7, 9], [5, 3, 3, 2], {}, false],
  ['stride 2', [2, 4, 9, 9], [6, 4, 3, 3], { stride: 2, padding: 1 }, true],
  ['dilation 2', [1, 2, 11, 10], [3, 2, 3, 3], { dilation: 2, padding: 2 }, true],
  ['groups 2', [2, 4, 6, 6], [6, 2, 3, 3], { groups: 2, padding: 1 }, true],
  ['depthwise', [2, 4, 7, 7], [4, 1, 3, 3], { groups: 4, padding: 1 }, true],
  ['1x1', [3, 8, 5, 5], [4, 8, 1, 1], {}, true],
  ['batch 1 7x7 s2 p3', [1, 3, 16, 16], [4, 3, 7, 7], { stride: 2, padding: 3 }, false],
];
