/** optim.RMSprop (torch.optim.RMSprop, the single-tensor implementation of PyTorch 1.13). */
import { FusedSlot, runFused } from './fused';
import { Optimizer, ParamGroup, ParamsInput } from './optimizer';

export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
  maximize?: boolean;
}

/**
 * Per parameter: g = grad (+ weightDecay * param); square_avg = alpha * square_avg + (1 - alpha) g²;
 * centered: grad_avg = alpha * grad_avg + (1 - alpha) g and avg = sqrt(square_avg - grad_avg²), else
 * avg = sqrt(square_avg); avg += eps; with momentum buf = momentum * buf + g / avg and param -= lr * buf,
 * else param -= lr * g / avg. State: `step`, `square_avg`, `momentum_buffer` (momentum > 0), `grad_avg` (centered).
 */
export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: ParamsInput<RMSpropOptions>, opts: RMSpropOptions = {}) {
    super(params, {
      lr: opts.lr ?? 1e-2,
      alpha: opts.alpha ?? 0.99,
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0,
      momentum: opts.momentum ?? 0,
      centered: opts.centered ?? false,
      maximize: opts.maximize ?? false,
    });
  }

  protected validateGroup(g: ParamGroup): void {
    this.requireNonNegative(g, { lr: 'learning rate', eps: 'epsilon', momentum: 'momentum', weightDecay: 'weightDecay', alpha: 'alpha' });
  }

  protected updateGroup(group: ParamGroup): void {
    const params = this.active(group);
    if (!params.length) return;
    const useBuf = group.momentum > 0;
    const centered = !!group.centered;
    const slots: FusedSlot[] = params.map((p) => {
      this.stepState(p);
      const sq = this.zeroState(p, 'square_avg');
      const buf = useBuf ? this.zeroState(p, 'momentum_buffer') : null;
      const ga = centered ? this.zeroState(p, 'grad_avg') : null;
      return { param: p, grad: p.grad!, states: [sq, buf, ga], scalar: 0 };
    });
    runFused({ kernel: 'rmspropStep', hyper: { lr: group.lr, alpha: group.alpha, eps: group.eps, weightDecay: group.weightDecay, momentum: group.momentum, centered, maximize: !!group.maximize } }, slots);
    for (const s of slots) this.stepState(s.param).step += 1;
  }
}
