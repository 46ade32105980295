/** optim.SGD: stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch.optim.SGD). */
import { ckError } from '../errors';
import { keep } from '../memory';
import { Tensor } from '../tensor';
import { FusedSlot, runFused } from './fused';
import { Optimizer, ParamGroup, ParamsInput } from './optimizer';

export interface SGDOptions {
  /** Required, here or in every group. */
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  maximize?: boolean;
}

/**
 * PyTorch 1.13's update, per parameter: d = grad (+ weightDecay * param); with momentum, buf = d on the first
 * step, else buf = momentum * buf + (1 - dampening) * d, and d = nesterov ? d + momentum * buf : buf;
 * param -= lr * d. State: `momentum_buffer` (null without momentum).
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, opts: SGDOptions = {}) {
    super(params, {
      lr: opts.lr,
      momentum: opts.momentum ?? 0,
      dampening: opts.dampening ?? 0,
      weightDecay: opts.weightDecay ?? 0,
      nesterov: opts.nesterov ?? false,
      maximize: opts.maximize ?? false,
    });
  }

  protected validateGroup(g: ParamGroup): void {
    this.requireNonNegative(g, { lr: 'learning rate', momentum: 'momentum', weightDecay: 'weightDecay' });
    if (typeof g.dampening !== 'number') throw ckError('ERR_ARG', `SGD: invalid dampening ${g.dampening}`, 'TypeError');
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0))
      throw ckError('ERR_ARG', 'SGD: Nesterov momentum requires a momentum and zero dampening');
  }

  protected updateGroup(group: ParamGroup): void {
    const params = this.active(group);
    if (!params.length) return;
    const useBuf = group.momentum !== 0;
    const fresh: [Tensor, Tensor][] = [];
    const slots: FusedSlot[] = [];
    try {
      for (const p of params) {
        const st = this.stateOf(p);
        let buf: Tensor | null = null;
        let isNew = 0;
        if (useBuf) {
          if (st.momentum_buffer instanceof Tensor && !st.momentum_buffer.isDisposed) {
            buf = this.stateTensor(p, 'momentum_buffer', () => Tensor.empty(p.shape, 'float32', p.device));
          } else {
            // The kernel fills it with d_p (PyTorch's torch.clone(d_p)); it joins the state once that has run.
            buf = Tensor.empty(p.shape, 'float32', p.device);
            fresh.push([p, buf]);
            isNew = 1;
          }
        }
        slots.push({ param: p, grad: p.grad!, states: [buf, null, null], scalar: isNew });
      }
      runFused({ kernel: 'sgdStep', hyper: { lr: group.lr, momentum: group.momentum, dampening: group.dampening, weightDecay: group.weightDecay, nesterov: !!group.nesterov, maximize: !!group.maximize } }, slots);
    } catch (e) {
      for (const [, b] of fresh) b.dispose();
      throw e;
    }
    for (const [p, b] of fresh) this.stateOf(p).momentum_buffer = keep(b);
    if (!useBuf) for (const p of params) if (!('momentum_buffer' in this.stateOf(p))) this.stateOf(p).momentum_buffer = null;
  }
}
