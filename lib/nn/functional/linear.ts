/** linear: y = x Wᵀ + b through matmul (csrc/cpu/gemm.cc, cuda/gemm.cu); its backward is matmul's. */
import { autocastBf16, linearBf16 } from '../../autocast';
import { fmtShape, shapeError } from '../../errors';
import { Tensor } from '../../tensor';
import { isTensor, sameDevice } from './common';

export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  isTensor('linear', 'input', input);
  isTensor('linear', 'weight', weight);
  isTensor('linear', 'bias', bias, true);
  if (weight.ndim !== 2) throw shapeError(`linear: weight must be 2-D (out, in), got ${fmtShape(weight.shape)}`);
  if (input.ndim < 1 || input.shape[input.ndim - 1] !== weight.shape[1])
    throw shapeError(`linear: input ${fmtShape(input.shape)} has ${input.shape[input.ndim - 1]} features, weight ${fmtShape(weight.shape)} expects ${weight.shape[1]}`);
  // A bias of one element broadcasts over the outputs, as PyTorch's
  if (bias && (bias.ndim !== 1 || (bias.shape[0] !== weight.shape[0] && bias.shape[0] !== 1)))
    throw shapeError(`linear: bias ${fmtShape(bias.shape)} does not match weight ${fmtShape(weight.shape)}`);
  sameDevice('linear', { input, weight, bias });
  if (autocastBf16(input)) return linearBf16(input, weight, bias); // inside ck.autocast('cpu')
  const wt = weight.t();
  const y = input.matmul(wt);
  wt.dispose();
  if (!bias) return y;
  const out = y.add(bias);
  y.dispose();
  return out;
}
