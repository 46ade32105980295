/**
 * concat: torch.cat, one native kernel (lib/ops/indexing.ts, csrc/cpu/index_ops.cc, cuda/index_ops.cu);
 * the gradient of each input is its slice. Defined here as its own export so onnx.export can trace it.
 */
import * as IX from '../../ops/indexing';
import { Tensor } from '../../tensor';

/**
 * torch.cat: tensors of one device, equal in every dim but `dim`, joined along it (the Inception blocks'
 * channel concatenation); mixed dtypes promote to float32. The gradient of each input is its slice.
 */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  return IX.cat(tensors, dim);
}
