/** optim.Adam and optim.AdamW (torch.optim.Adam / AdamW, the single-tensor implementation of PyTorch 1.13). */
import { isCapturing } from '../cuda/graph';
import { ckError } from '../errors';
import { Tensor } from '../tensor';
import { FusedSlot, runFused } from './fused';
import { Optimizer, ParamGroup, ParamsInput } from './optimizer';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
}

/**
 * Per parameter, with its own step count t: g = grad (+ weightDecay * param for Adam; AdamW instead scales param
 * by 1 - lr * weightDecay first); exp_avg = beta1 * exp_avg + (1 - beta1) g; exp_avg_sq = beta2 * exp_avg_sq +
 * (1 - beta2) g²; denom = sqrt(exp_avg_sq or its running max) / sqrt(1 - beta2^t) + eps;
 * param -= lr / (1 - beta1^t) * exp_avg / denom.
 * State: `step`, `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` with amsgrad.
 */
export class Adam extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, opts: AdamOptions = {}, defaultWeightDecay = 0) {
    super(params, {
      lr: opts.lr ?? 1e-3,
      betas: opts.betas ?? [0.9, 0.999],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? defaultWeightDecay,
      amsgrad: opts.amsgrad ?? false,
      maximize: opts.maximize ?? false,
    });
  }

  /** AdamW's decoupled weight decay. */
  protected get adamw(): boolean {
    return false;
  }

  protected validateGroup(g: ParamGroup): void {
    const name = this.constructor.name;
    this.requireNonNegative(g, { lr: 'learning rate', eps: 'epsilon' });
    if (!Array.isArray(g.betas) || g.betas.length !== 2) throw ckError('ERR_ARG', `${name}: betas must be [beta1, beta2]`, 'TypeError');
    g.betas.forEach((b: number, i: number) => {
      if (!(b >= 0 && b < 1)) throw ckError('ERR_ARG', `${name}: invalid beta parameter at index ${i}: ${b}`, 'RangeError');
    });
    this.requireNonNegative(g, { weightDecay: 'weightDecay' });
  }

  protected updateGroup(group: ParamGroup): void {
    const params = this.active(group);
    if (!params.length) return;
    if (isCapturing())
      throw ckError('ERR_UNSUPPORTED', `${this.constructor.name}.step() inside a CUDA graph capture: its bias corrections use a host step count that every replay would repeat (PyTorch's capturable=True is not implemented); capture the forward and backward only, or use SGD / RMSprop`);
    const amsgrad = !!group.amsgrad;
    const slots: FusedSlot[] = params.map((p) => {
      const st = this.stepState(p);
      const m = this.zeroState(p, 'exp_avg');
      const v = this.zeroState(p, 'exp_avg_sq');
      const vmax = amsgrad ? this.zeroState(p, 'max_exp_avg_sq') : null;
      return { param: p, grad: p.grad!, states: [m, v, vmax], scalar: st.step + 1 };
    });
    const [beta1, beta2] = group.betas as [number, number];
    runFused({ kernel: 'adamStep', hyper: { lr: group.lr, beta1, beta2, eps: group.eps, weightDecay: group.weightDecay, amsgrad, maximize: !!group.maximize, adamw: this.adamw } }, slots);
    for (const s of slots) this.stateOf(s.param).step = s.scalar;
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter); weightDecay defaults to 0.01 as PyTorch. */
export class AdamW extends Adam {
  constructor(params: ParamsInput<AdamOptions>, opts: AdamOptions = {}) {
    super(params, opts, 0.01);
  }
  protected get adamw(): boolean {
    return true;
  }
}
