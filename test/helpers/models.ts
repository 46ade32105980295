import type * as ck from '../../lib';

/** Frees a model's parameters and buffers (test models are built per case and dropped). */
export function disposeModel(m: ck.nn.Module): void {
  for (const t of [...m.parameters(), ...m.buffers()]) t.dispose();
}
