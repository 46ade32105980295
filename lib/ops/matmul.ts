/**
 * torch.matmul semantics (1-D promotion, batch broadcasting) on the native SGEMM, which takes general
 * strides, so transposed and sliced operands are multiplied with no copy.
 */
import { native } from '../binding';
import { fillRun, operand } from './native_call';
import { ckError, fmtShape, shapeError } from '../errors';
import { broadcastShapes, numelOf } from '../shape';
import { Tensor } from '../tensor';

// A single stride that walks all batch dims in row-major order, or null if they don't collapse.
function batchStride(t: Tensor, nb: number): number | null {
  if (nb === 0) return 0;
  let s: number | null = null;
  let expect = 0;
  for (let i = nb - 1; i >= 0; i--) {
    if (t.shape[i] === 1) continue;
    if (s === null) {
      s = t.strides[i];
      expect = s * t.shape[i];
    } else {
      if (t.strides[i] !== expect) return null;
      expect = t.strides[i] * t.shape[i];
    }
  }
  return s ?? 0;
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (!(b instanceof Tensor)) throw ckError('ERR_ARG', `matmul: the other operand must be a Tensor, got ${b === null ? 'null' : typeof b}`, 'TypeError');
  if (a.ndim === 0 || b.ndim === 0) throw shapeError(`matmul: both arguments need at least one dimension, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (!a.device.equals(b.device)) throw ckError('ERR_DEVICE', `matmul: tensors are on different devices (${a.device} and ${b.device})`);
  if (a.dtype !== 'float32' || b.dtype !== 'float32') throw ckError('ERR_DTYPE', `matmul: needs float32 tensors, got ${a.dtype} and ${b.dtype}`, 'TypeError');
  const temps: Tensor[] = [];
  try {
    const a2 = a.ndim === 1 ? a.unsqueeze(0) : a.detach();
    const b2 = b.ndim === 1 ? b.unsqueeze(-1) : b.detach();
    temps.push(a2, b2);
    const M = a2.shape[a2.ndim - 2];
    const K = a2.shape[a2.ndim - 1];
    const N = b2.shape[b2.ndim - 1];
    if (b2.shape[b2.ndim - 2] !== K)
      throw shapeError(`matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${K} vs ${b2.shape[b2.ndim - 2]})`);
    const batch = broadcastShapes(a2.shape.slice(0, -2), b2.shape.slice(0, -2), 'matmul batch');
    const nb = batch.length;
    let ea = a2.expand([...batch, M, K]);
    let eb = b2.expand([...batch, K, N]);
    temps.push(ea, eb);
    let sA = batchStride(ea, nb);
    if (sA === null) {
      ea = ea.contiguous();
      temps.push(ea);
      sA = M * K;
    }
    let sB = batchStride(eb, nb);
    if (sB === null) {
      eb = eb.contiguous();
      temps.push(eb);
      sB = K * N;
    }
    const nbatch = numelOf(batch);
    const out = Tensor.empty([...batch, M, N], 'float32', a.device);
    try {
      if (out.numel() === 0) {
        // nothing to compute (an empty batch, M or N)
      } else if (K === 0) fillRun(out, 0);
      else
        native.gemm({ batch: nbatch, M, N, K, alpha: 1, beta: 0 }, {
          a: { ...operand(ea), batchStride: sA, rowStride: ea.strides[nb], colStride: ea.strides[nb + 1] },
          b: { ...operand(eb), batchStride: sB, rowStride: eb.strides[nb], colStride: eb.strides[nb + 1] },
          c: { ...operand(out), batchStride: M * N, rowStride: N, colStride: 1 },
        });
    } catch (e) {
      out.dispose();
      throw e;
    }
    if (a.ndim > 1 && b.ndim > 1) return out;
    const shape = [...batch];
    if (a.ndim > 1) shape.push(M);
    if (b.ndim > 1) shape.push(N);
    const r = out.reshape(shape);
    out.dispose();
    return r;
  } finally {
    for (const t of temps) t.dispose();
  }
}
