/** Free-function spellings of the tensor ops (torch.add, torch.matmul, ...). */
import { Tensor, TensorOrScalar, ReduceOptions, VarOptions } from './tensor';
import * as concat from './nn/functional/concat';
import * as IX from './ops/indexing';
export type { SortOptions, SortResult, TopkOptions } from './ops/indexing';

export const add = (a: Tensor, b: TensorOrScalar, alpha = 1): Tensor => a.add(b, alpha);
export const sub = (a: Tensor, b: TensorOrScalar, alpha = 1): Tensor => a.sub(b, alpha);
export const mul = (a: Tensor, b: TensorOrScalar): Tensor => a.mul(b);
export const div = (a: Tensor, b: TensorOrScalar): Tensor => a.div(b);
export const pow = (a: Tensor, b: TensorOrScalar): Tensor => a.pow(b);
export const maximum = (a: Tensor, b: TensorOrScalar): Tensor => a.maximum(b);
export const minimum = (a: Tensor, b: TensorOrScalar): Tensor => a.minimum(b);
export const neg = (a: Tensor): Tensor => a.neg();
export const exp = (a: Tensor): Tensor => a.exp();
export const log = (a: Tensor): Tensor => a.log();
export const sqrt = (a: Tensor): Tensor => a.sqrt();
export const abs = (a: Tensor): Tensor => a.abs();
export const relu = (a: Tensor): Tensor => a.relu();
export const sigmoid = (a: Tensor): Tensor => a.sigmoid();
export const tanh = (a: Tensor): Tensor => a.tanh();
export const clamp = (a: Tensor, min?: TensorOrScalar | null, max?: TensorOrScalar | null): Tensor => a.clamp(min, max);
export const eq = (a: Tensor, b: TensorOrScalar): Tensor => a.eq(b);
export const ne = (a: Tensor, b: TensorOrScalar): Tensor => a.ne(b);
export const lt = (a: Tensor, b: TensorOrScalar): Tensor => a.lt(b);
export const le = (a: Tensor, b: TensorOrScalar): Tensor => a.le(b);
export const gt = (a: Tensor, b: TensorOrScalar): Tensor => a.gt(b);
export const ge = (a: Tensor, b: TensorOrScalar): Tensor => a.ge(b);
export const sum = (a: Tensor, dim?: number | number[], opts?: ReduceOptions | boolean): Tensor => a.sum(dim, opts);
export const mean = (a: Tensor, dim?: number | number[], opts?: ReduceOptions | boolean): Tensor => a.mean(dim, opts);
export const variance = (a: Tensor, dim?: number | number[], opts?: VarOptions): Tensor => a.var(dim, opts);
export const argmax = (a: Tensor, dim?: number, keepdim = false): Tensor => a.argmax(dim, keepdim);
export const matmul = (a: Tensor, b: Tensor): Tensor => a.matmul(b);
// The index family (lib/ops/indexing.ts), through the Tensor methods where one exists (what onnx.export
// traces); cat goes through nn.functional's, which it traces too.
export const cat = (tensors: Tensor[], dim = 0): Tensor => concat.cat(tensors, dim);
export const stack = (tensors: Tensor[], dim = 0): Tensor => IX.stack(tensors, dim);
export const where = (condition: Tensor, input: TensorOrScalar, other: TensorOrScalar): Tensor =>
  input instanceof Tensor ? input.where(condition, other) : IX.where(condition, input, other);
export const maskedFill = (a: Tensor, mask: Tensor, value: TensorOrScalar): Tensor => a.maskedFill(mask, value);
export const gather = (a: Tensor, dim: number, index: Tensor): Tensor => a.gather(dim, index);
export const scatter = (a: Tensor, dim: number, index: Tensor, src: TensorOrScalar): Tensor => a.scatter(dim, index, src);
export const scatterAdd = (a: Tensor, dim: number, index: Tensor, src: Tensor): Tensor => a.scatterAdd(dim, index, src);
export const indexSelect = (a: Tensor, dim: number, index: Tensor): Tensor => a.indexSelect(dim, index);
export const sort = (a: Tensor, dim = -1, opts: IX.SortOptions | boolean = {}): IX.SortResult => a.sort(dim, opts);
export const argsort = (a: Tensor, dim = -1, opts: IX.SortOptions | boolean = {}): Tensor => a.argsort(dim, opts);
export const topk = (a: Tensor, k: number, opts: IX.TopkOptions = {}): IX.SortResult => a.topk(k, opts);
