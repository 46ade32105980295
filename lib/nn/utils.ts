/** nn.utils: gradient clipping. */
import { noGrad } from '../autograd/grad_mode';
import { tidy } from '../memory';
import { Tensor } from '../tensor';

/** Scales all gradients so their joint norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm_(params: Iterable<Tensor>, maxNorm: number, normType = 2): number {
  const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (!grads.length) return 0;
  let total: number;
  if (normType === Infinity) total = Math.max(...grads.map((g) => noGrad(() => tidy(() => g.abs().amax().item()))));
  else {
    let acc = 0;
    for (const g of grads) acc += noGrad(() => tidy(() => g.abs().pow(normType).sum().item()));
    total = acc ** (1 / normType);
  }
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1) noGrad(() => grads.forEach((g) => g.mul_(coef)));
  return total;
}

/** Clamps every gradient element to [-clipValue, clipValue]. */
export function clipGradValue_(params: Iterable<Tensor>, clipValue: number): void {
  noGrad(() => {
    for (const p of params) p.grad?.clamp_(-clipValue, clipValue);
  });
}
