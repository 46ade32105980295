/**
 * The parity tests' gradient check against live PyTorch (test/parity/<family>.test.ts): leaves, and one call
 * that runs an op in convkit and in torch, backprops sum(out * w) in both and compares the output and every
 * leaf's gradient. Tolerances: 1e-4 abs + 1e-4 rel for convolution (sums of hundreds of products in another
 * order), 1e-5 abs + 1e-4 rel elsewhere. checkConvGrads compares convolutions with PyTorch's float64 result.
 */
import * as ck from '../../lib';
import { expectClose } from './compare';
import { runTorch } from './torch';

export const TOL = { atol: 1e-5, rtol: 1e-4 };
export const CONV_TOL = { atol: 1e-4, rtol: 1e-4 };

export function leaf(shape: number[], scale = 1): ck.Tensor {
  const r = ck.randn(shape);
  const t = ck.noGrad(() => r.mul(scale));
  r.dispose();
  return t.requiresGrad_();
}

/** Runs fn on leaves, backprops sum(out * w); returns [out, ...grads] of convkit and of torch. */
export async function gradCase(
  leaves: Record<string, ck.Tensor>, fn: () => ck.Tensor, torchExpr: string, extra: Record<string, ck.Tensor> = {},
): Promise<[ck.Tensor, (ck.Tensor | null)[], never[]]> {
  const out = fn();
  const gw = ck.randn([...out.shape]);
  out.mul(gw).sum().backward();
  const names = Object.keys(leaves);
  const code =
    names.map((n) => `${n} = ${n}.clone().requires_grad_()`).join('\n') +
    `\nout = ${torchExpr}\n(out * gw).sum().backward()\nout = [out] + [${names.map((n) => `${n}.grad if ${n}.grad is not None else torch.zeros(0)`).join(', ')}]`;
  const want = (await runTorch(code, { ...leaves, ...extra, gw })) as never[];
  return [out, names.map((n) => leaves[n].grad), want];
}

export async function checkGrads(name: string, leaves: Record<string, ck.Tensor>, fn: () => ck.Tensor, expr: string, tol = TOL, extra: Record<string, ck.Tensor> = {}) {
  const [out, grads, want] = await gradCase(leaves, fn, expr, extra);
  expectClose(out, want[0], tol, `${name}: output`);
  Object.keys(leaves).forEach((k, i) => {
    expect(grads[i]).not.toBeNull();
    expectClose(grads[i]!, want[i + 1], tol, `${name}: grad ${k}`);
  });
}

/**
 * checkGrads for convolution, against PyTorch's float64 result on the same float32 inputs: every element of the
 * output and of each gradient within atol + rtol * |ref64|, where atol is CONV_TOL's or twice PyTorch's own float32
 * error on that tensor (its largest |torch32 - ref64|), whichever is larger. A weight gradient sums thousands of
 * products (N x OH x OW per element), and comparing float32 with float32 charges convkit with PyTorch's rounding
 * too: on [2, 64, 28, 28] x [16, 64, 3, 3] PyTorch's own weight gradient is off by 1.7e-4 of FP64 (1.2e-6 of its
 * largest element), beyond CONV_TOL's 1e-4 at small elements. Winograd's error is stated per layer against
 * FP64 in docs/winograd.md; this check asks that convkit be within twice PyTorch's float32 error of the truth.
 */
export async function checkConvGrads(name: string, leaves: Record<string, ck.Tensor>, fn: () => ck.Tensor, expr: string) {
  const out = fn();
  const gw = ck.randn([...out.shape]);
  out.mul(gw).sum().backward();
  const names = Object.keys(leaves);
  const grads = names.map((n) => `${n}.grad if ${n}.grad is not None else torch.zeros(0)`).join(', ');
  const code = [
    `_src = dict(${names.map((n) => `${n}=${n}`).join(', ')})`,
    '_res = []',
    'for _dt in (torch.float32, torch.float64):',
    ...names.map((n) => `    ${n} = _src['${n}'].to(_dt).clone().requires_grad_()`),
    `    _out = ${expr}`,
    '    (_out * gw.to(_dt)).sum().backward()',
    `    _res.append([_out, ${grads}])`,
    'out = _res',
  ].join('\n');
  const [want32, want64] = (await runTorch(code, { ...leaves, gw })) as unknown as { data: number[] }[][];
  const mine = [out, ...names.map((n) => leaves[n].grad)];
  mine.forEach((t, i) => {
    expect(t).not.toBeNull();
    let torchErr = 0;
    const [a, b] = [want32[i].data, want64[i].data];
    for (let j = 0; j < b.length; j++) if (Number.isFinite(b[j])) torchErr = Math.max(torchErr, Math.abs(a[j] - b[j]));
    const atol = Math.max(CONV_TOL.atol, 2 * torchErr);
    expectClose(t!, want64[i] as never, { atol, rtol: CONV_TOL.rtol }, `${name}: ${i === 0 ? 'output' : `grad ${names[i - 1]}`} vs float64 (PyTorch float32 off by ${torchErr.toExponential(2)})`);
  });
}
