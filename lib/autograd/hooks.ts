/**
 * Post-accumulate-grad hooks (torch.Tensor.register_post_accumulate_grad_hook): called with a leaf right
 * after backward has added its gradient into .grad, once per backward pass. DistributedDataParallel uses
 * them to start a bucket's all-reduce as soon as all its gradients are ready.
 */
import type { Tensor } from '../tensor';

export type PostAccumulateHook = (leaf: Tensor) => void;
const hooks = new WeakMap<Tensor, Set<PostAccumulateHook>>();

export function registerPostAccumulateGradHook(leaf: Tensor, fn: PostAccumulateHook): { remove(): void } {
  let set = hooks.get(leaf);
  if (!set) hooks.set(leaf, (set = new Set()));
  set.add(fn);
  return { remove: () => void hooks.get(leaf)?.delete(fn) };
}

export function runPostAccumulateGradHooks(leaf: Tensor): void {
  const set = hooks.get(leaf);
  if (set) for (const fn of [...set]) fn(leaf);
}
