/**
 * nn.SyncBatchNorm, as PyTorch's: batch normalisation whose training-mode statistics are those of the
 * whole global batch (every rank's samples), so that data-parallel training normalises as one process
 * would on the concatenated batch. Each rank's per-channel sums (of x, then of its squared deviations
 * from the global mean) are summed across ranks by an all-reduce that autograd sees (its backward
 * all-reduces the gradient), so the gradient is the global batch's too. Outside training, or without a process group, it is BatchNorm. convertSyncBatchnorm(model)
 * swaps every BatchNorm1d/2d for one, sharing its parameters and buffers (same state-dict keys).
 */
import { needsGrad, record } from '../../autograd/functions';
import { noGrad } from '../../autograd/grad_mode';
import * as dist from '../../distributed/process_group';
import { fmtShape, shapeError } from '../../errors';
import { pyRepr } from '../../format';
import { Tensor } from '../../tensor';
import * as F from '../functional';
import { BatchNorm1d, BatchNorm2d } from '../layers';
import { Module } from '../module';

// Sum across ranks; autograd's view: every rank's loss depends on the sum, so each input's gradient is
// the sum of every rank's output gradient.
function allReduceSum(t: Tensor): Tensor {
  const out = noGrad(() => t.clone());
  dist.allReduce(out);
  if (!needsGrad(t)) return out;
  return record(out, 'AllReduceBackward', [t], () => (g) => {
    const s = g.clone();
    dist.allReduce(s);
    return [s];
  });
}

export class SyncBatchNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  running_mean!: Tensor | null;
  running_var!: Tensor | null;
  num_batches_tracked!: Tensor | null;
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  /** A SyncBatchNorm over bn's own parameters and buffers (not copies). */
  constructor(bn: BatchNorm1d | BatchNorm2d) {
    super();
    this.numFeatures = bn.numFeatures;
    this.eps = bn.eps;
    this.momentum = bn.momentum;
    this.affine = bn.affine;
    this.trackRunningStats = bn.trackRunningStats;
    this.weight = bn.weight;
    this.bias = bn.bias;
    this.registerBuffer('running_mean', bn.running_mean);
    this.registerBuffer('running_var', bn.running_var);
    this.registerBuffer('num_batches_tracked', bn.num_batches_tracked);
    this.training = bn.training;
  }

  /** Replaces every BatchNorm1d/BatchNorm2d inside module (or module itself) by a SyncBatchNorm. */
  static convertSyncBatchnorm<M extends Module>(module: M): M | SyncBatchNorm {
    if (module instanceof BatchNorm1d || module instanceof BatchNorm2d) return new SyncBatchNorm(module);
    for (const [name, child] of module.namedChildren()) {
      const c = SyncBatchNorm.convertSyncBatchnorm(child);
      if (c !== child) (module as unknown as Record<string, unknown>)[name] = c;
    }
    return module;
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numFeatures)
      throw shapeError(`SyncBatchNorm(${this.numFeatures}): expected an input with ${this.numFeatures} channels in dim 1, got ${fmtShape(x.shape)}`);
    let momentum = this.momentum ?? 0;
    if (this.training && this.trackRunningStats && this.num_batches_tracked) {
      noGrad(() => this.num_batches_tracked!.add_(1));
      if (this.momentum === null) momentum = 1 / this.num_batches_tracked.item();
    }
    const sync = this.training && dist.isInitialized() && dist.getWorldSize() > 1;
    if (!sync) {
      const useBatch = this.training || !this.trackRunningStats;
      return F.batchNorm(x, !this.training || this.trackRunningStats ? this.running_mean : null,
        !this.training || this.trackRunningStats ? this.running_var : null, this.weight, this.bias, { training: useBatch, momentum, eps: this.eps });
    }
    const C = this.numFeatures;
    const dims = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2)];
    const bshape = [1, C, ...Array(x.ndim - 2).fill(1)];
    const count = noGrad(() => Tensor.empty([1]).fill_(x.numel() / C));
    dist.allReduce(count);
    const n = count.item();
    count.dispose();
    // Two passes (the global mean, then the global sum of squared deviations): E[x²] - E[x]² in float32
    // loses the variance of channels whose mean is large next to their spread.
    const mean = allReduceSum(x.sum(dims)).div(n);
    const centred = x.sub(mean.reshape(bshape));
    const variance = allReduceSum(centred.mul(centred).sum(dims)).div(n);
    let y = centred.mul(variance.add(this.eps).rsqrt().reshape(bshape));
    if (this.weight) y = y.mul(this.weight.reshape(bshape));
    if (this.bias) y = y.add(this.bias.reshape(bshape));
    if (this.trackRunningStats && this.running_mean && this.running_var) {
      noGrad(() => {
        this.running_mean!.mul_(1 - momentum).add_(mean.mul(momentum));
        this.running_var!.mul_(1 - momentum).add_(variance.mul(momentum * n / Math.max(n - 1, 1)));
      });
    }
    return y;
  }

  extraRepr(): string {
    return `${this.numFeatures}, eps=${pyRepr(this.eps, true)}, momentum=${pyRepr(this.momentum, true)}, affine=${pyRepr(this.affine)}, track_running_stats=${pyRepr(this.trackRunningStats)}`;
  }
}
