/**
 * backward(): a reverse topological walk (Kahn's algorithm on dependency counts) from the root's Node.
 * Each Node's incoming gradients are summed, passed to its backward, then disposed; each Node's saved
 * tensors are freed right after it runs, so a training step leaves nothing behind.
 */
import { ckError, fmtShape } from '../errors';
import type { Tensor } from '../tensor';
import { setGradEnabled, isGradEnabled } from './grad_mode';
import { Node } from './node';

export function runBackward(root: Tensor, grad: Tensor, retainGraph: boolean): void {
  const start = root.gradFn as Node;
  const deps = new Map<Node, number>();
  const stack: Node[] = [start];
  const seen = new Set<Node>([start]);
  while (stack.length) {
    const n = stack.pop()!;
    for (const m of n.next) {
      if (!m) continue;
      deps.set(m, (deps.get(m) ?? 0) + 1);
      if (!seen.has(m)) {
        seen.add(m);
        stack.push(m);
      }
    }
  }
  const grads = new Map<Node, Tensor>([[start, grad]]);
  const ready: Node[] = [start];
  const prevMode = isGradEnabled();
  setGradEnabled(false); // backward itself records nothing (no create_graph)
  try {
    while (ready.length) {
      const n = ready.pop()!;
      const g = grads.get(n);
      grads.delete(n);
      let ins: (Tensor | null)[] = [];
      if (g) {
        try {
          ins = n.apply(g);
        } finally {
          if (!retainGraph) n.release();
          g.dispose();
        }
      } else if (!retainGraph) n.release();
      for (let i = 0; i < n.next.length; i++) {
        const m = n.next[i];
        const gi = ins[i] ?? null;
        if (!m) {
          gi?.dispose();
          continue;
        }
        if (gi) {
          const prev = grads.get(m);
          if (prev) {
            if (prev.shape.length !== gi.shape.length || prev.shape.some((s, k) => s !== gi.shape[k]))
              throw ckError('ERR_AUTOGRAD', `${n.name}: gradient of shape ${fmtShape(gi.shape)} meets one of shape ${fmtShape(prev.shape)}`);
            grads.set(m, prev.add(gi));
            prev.dispose();
            gi.dispose();
          } else grads.set(m, gi);
        }
        const d = deps.get(m)! - 1;
        deps.set(m, d);
        if (d === 0) ready.push(m);
      }
    }
  } finally {
    setGradEnabled(prevMode);
    for (const g of grads.values()) g.dispose();
  }
}
