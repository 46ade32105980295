/** concat: torch.cat, a copy into slices of one output; the gradient of each input is its slice. */
import { needsGrad, record } from '../../autograd/functions';
import { rawModule } from '../../autograd/grad_mode';
import * as ewRaw from '../../ops/elementwise';
import { ckError, fmtShape, shapeError } from '../../errors';
import { normDim } from '../../shape';
import { Tensor } from '../../tensor';
import { isTensor, sameDevice } from './common';

const ew = rawModule(ewRaw);

/**
 * torch.cat: tensors of one dtype and device, equal in every dim but `dim`, joined along it (the
 * Inception blocks' channel concatenation). The gradient of each input is its slice of the output's.
 */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw ckError('ERR_ARG', 'cat: expected a non-empty array of tensors', 'TypeError');
  tensors.forEach((t, i) => isTensor('cat', `tensors[${i}]`, t));
  const first = tensors[0];
  const d = normDim(dim, first.ndim);
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i]))
      throw shapeError(`cat: sizes must match except in dim ${d}, got ${tensors.map((x) => fmtShape(x.shape)).join(' and ')}`);
    if (t.dtype !== first.dtype) throw ckError('ERR_ARG', `cat: expected tensors of one dtype, got ${first.dtype} and ${t.dtype}`, 'TypeError');
    sameDevice('cat', { 'tensors[0]': first, [`tensors[${tensors.indexOf(t)}]`]: t });
  }
  const sizes = tensors.map((t) => t.shape[d]);
  const offs: number[] = [];
  let total = 0;
  for (const s of sizes) {
    offs.push(total);
    total += s;
  }
  const shape = [...first.shape];
  shape[d] = total;
  const out = Tensor.empty(shape, first.dtype, first.device);
  tensors.forEach((t, i) => {
    if (!sizes[i]) return;
    const v = out.narrow(d, offs[i], sizes[i]);
    v.copyFrom(t);
    v.dispose();
  });
  if (!needsGrad(...tensors)) return out;
  const need = tensors.map((t) => t.requiresGrad);
  return record(out, 'CatBackward', tensors, () => (g) =>
    need.map((n, i) => {
      if (!n) return null;
      const v = g.narrow(d, offs[i], sizes[i]);
      const c = ew.unary(v, ew.U.Copy);
      v.dispose();
      return c;
    }),
  );
}
