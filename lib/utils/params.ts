/** Counting parameters: in all, trainable only, and per layer type (the tutorial's exercise). */
import { Module } from '../nn/module';

export function countParameters(model: Module, opts: { trainableOnly?: boolean } = {}): number {
  let n = 0;
  for (const p of model.parameters()) if (!opts.trainableOnly || p.requiresGrad) n += p.numel();
  return n;
}

export interface TypeCount {
  /** Modules of this type in the tree (the root excluded). */
  count: number;
  /** Parameters those modules hold themselves (not their children's), so the column sums to the total. */
  parameters: number;
}

/** Layer type -> how many there are and how many parameters they hold, in first-seen order. */
export function countByType(model: Module): Record<string, TypeCount> {
  const out: Record<string, TypeCount> = {};
  for (const [name, m] of model.namedModules()) {
    if (name === '') continue;
    const row = (out[m.typeName] ??= { count: 0, parameters: 0 });
    row.count++;
    for (const p of m.parameters(false)) row.parameters += p.numel();
  }
  return out;
}
