/**
 * The parity tests' gradient check against live PyTorch (test/parity/<family>.test.ts): leaves, and one call
 * that runs an op in convkit and in torch, backprops sum(out * w) in both and compares the output and every
 * leaf's gradient. Tolerances: 1e-4 abs + 1e-4 rel for convolution (sums of hundreds of products in another
 * order), 1e-5 abs + 1e-4 rel elsewhere.
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
