/** nn.utils: gradient clipping. */
import { noGrad } from '../autograd/grad_mode';
import { full } from '../creation';
import { tidy } from '../memory';
import { cat } from './functional/concat';
import { Tensor } from '../tensor';

/**
 * Scales all gradients so their joint norm is at most maxNorm; returns the norm before clipping as a 0-d
 * tensor on the gradients' device, as PyTorch's clip_grad_norm_ does. Everything happens on that device
 * (per-gradient norms, their norm, the clamped coefficient max_norm / (norm + 1e-6), the scaling): on CUDA
 * the host never waits for it. `.item()` the result to read it (one synchronisation).
 */
export function clipGradNorm_(params: Iterable<Tensor>, maxNorm: number, normType = 2): Tensor {
  const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (!grads.length) return full([], 0);
  return noGrad(() => {
    const total = tidy(() => {
      const norm = (g: Tensor): Tensor => {
        if (normType === Infinity) return g.abs().amax();
        if (normType === 2) return g.square().sum().sqrt();
        return g.abs().pow(normType).sum().pow(1 / normType);
      };
      const norms = cat(grads.map((g) => norm(g).reshape([1])));
      return norm(norms);
    });
    tidy(() => {
      const coef = full([], maxNorm, { device: total.device }).div(total.add(1e-6)).clamp(null, 1);
      for (const g of grads) g.mul_(coef);
    });
    return total;
  });
}

/** Clamps every gradient element to [-clipValue, clipValue]. */
export function clipGradValue_(params: Iterable<Tensor>, clipValue: number): void {
  noGrad(() => {
    for (const p of params) p.grad?.clamp_(-clipValue, clipValue);
  });
}
