/**
 * The graph: each differentiable op that saw an input requiring grad leaves a Node on its output. A Node
 * knows, per input, the Node its gradient flows to (another op's Node, or the AccumulateGrad of a leaf),
 * holds the tensors its backward needs (as its own handles, so the caller may dispose theirs), and frees
 * them as soon as backward has used them.
 */
import { ckError } from '../errors';
import { keep } from '../memory';
import { runPostAccumulateGradHooks } from './hooks';
import type { Tensor } from '../tensor';

export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

export class Node {
  next: (Node | null)[] = [];
  private saved: Tensor[] = [];
  private fn: BackwardFn | null;
  constructor(readonly name: string, fn: BackwardFn) {
    this.fn = fn;
  }
  /** Keeps a handle on t for backward, outside any tidy() scope. */
  save(t: Tensor): Tensor {
    const v = keep(t.detach());
    this.saved.push(v);
    return v;
  }
  apply(grad: Tensor): (Tensor | null)[] {
    if (this.fn === null)
      throw ckError('ERR_AUTOGRAD', `${this.name}: backward through this part of the graph a second time; pass { retainGraph: true } to the first backward()`);
    return this.fn(grad);
  }
  release(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
    this.fn = null;
  }
}

/** Adds incoming gradients into a leaf's .grad. */
export class AccumulateGrad extends Node {
  constructor(readonly leaf: Tensor) {
    super('AccumulateGrad', () => []);
  }
  override apply(grad: Tensor): (Tensor | null)[] {
    this.leaf.accumulateGrad(grad);
    runPostAccumulateGradHooks(this.leaf);
    return [];
  }
  override release(): void {}
}
