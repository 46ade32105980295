/** optim.Adam and optim.AdamW (torch.optim.Adam / AdamW, the single-tensor implementation of PyTorch 1.13). */
import { ADAM_HYPER_SLOTS, AdamHyper, native } from '../binding';
import { beforeReplay, isCapturing } from '../cuda/graph';
import { full, zeros } from '../creation';
import { ckError } from '../errors';
import { keep } from '../memory';
import { Tensor } from '../tensor';
import { FusedSlot, runFused } from './fused';
import { Optimizer, ParamGroup, ParamsInput, StateValue } from './optimizer';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
  /**
   * PyTorch's capturable=True: the step can be captured in a CUDA graph (ck.cuda.CUDAGraph). Each parameter's
   * `step` is then a one-element float32 tensor on its device that the update increments, the bias corrections
   * are computed from it on the device, in PyTorch's capturable op order (which rounds differently from the
   * default path), and on CUDA the update reads lr, betas, eps and weight decay from a small device buffer per
   * group, rewritten (asynchronously, outside any graph) whenever they change: at an eager step, or before a
   * replay of a graph that captured the step. So a scheduler's learning rate reaches a replayed step.
   */
  capturable?: boolean;
}

/** A capturable group's hyperparameter buffer on one device, and the values it holds. */
interface HyperBuffer {
  buf: Tensor;
  key: string;
}

/**
 * Per parameter, with its own step count t: g = grad (+ weightDecay * param for Adam; AdamW instead scales param
 * by 1 - lr * weightDecay first); exp_avg = beta1 * exp_avg + (1 - beta1) g; exp_avg_sq = beta2 * exp_avg_sq +
 * (1 - beta2) g²; denom = sqrt(exp_avg_sq or its running max) / sqrt(1 - beta2^t) + eps;
 * param -= lr / (1 - beta1^t) * exp_avg / denom.
 * State: `step`, `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` with amsgrad (`step` a tensor when capturable).
 */
export class Adam extends Optimizer<AdamOptions> {
  private readonly hyperBuffers = new WeakMap<ParamGroup, Map<number, HyperBuffer>>();

  constructor(params: ParamsInput<AdamOptions>, opts: AdamOptions = {}, defaultWeightDecay = 0) {
    super(params, {
      lr: opts.lr ?? 1e-3,
      betas: opts.betas ?? [0.9, 0.999],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? defaultWeightDecay,
      amsgrad: opts.amsgrad ?? false,
      maximize: opts.maximize ?? false,
      capturable: opts.capturable ?? false,
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
    if (g.capturable !== undefined && typeof g.capturable !== 'boolean') throw ckError('ERR_ARG', `${name}: capturable must be a boolean`, 'TypeError');
  }

  private hyper(group: ParamGroup): AdamHyper {
    const [beta1, beta2] = group.betas as [number, number];
    return { lr: group.lr, beta1, beta2, eps: group.eps, weightDecay: group.weightDecay, amsgrad: !!group.amsgrad, maximize: !!group.maximize, adamw: this.adamw, capturable: !!group.capturable };
  }

  /** Uploads the group's hyperparameters to buffer h when they changed since its last upload. */
  private syncHyper(group: ParamGroup, h: HyperBuffer): void {
    const hp = this.hyper(group);
    const key = `${hp.lr},${hp.beta1},${hp.beta2},${hp.eps},${hp.weightDecay}`;
    if (key === h.key) return;
    native.adamHyperUpload({ storage: h.buf.storage, offset: h.buf.offset }, hp);
    h.key = key;
  }

  /** The capturable group's hyperparameter buffer on p's device (null on the CPU, where the host values are used). */
  private hyperBuffer(group: ParamGroup, p: Tensor): Tensor | null {
    if (p.device.type === 'cpu') return null;
    let byDevice = this.hyperBuffers.get(group);
    if (!byDevice) this.hyperBuffers.set(group, (byDevice = new Map()));
    let h = byDevice.get(p.device.index);
    if (!h || h.buf.isDisposed) {
      if (isCapturing()) throw this.notWarm();
      h = { buf: keep(zeros([ADAM_HYPER_SLOTS], { device: p.device })), key: '' };
      byDevice.set(p.device.index, h);
    }
    const hb = h;
    // In a capture the values are not written (that would bake them into the graph): before each replay instead.
    if (isCapturing()) beforeReplay(hb, () => this.syncHyper(group, hb));
    else this.syncHyper(group, hb);
    return hb.buf;
  }

  private notWarm(): Error {
    return ckError('ERR_UNSUPPORTED', `${this.constructor.name}.step() inside a CUDA graph capture before any eager step: its state (moments, step counts, hyperparameter buffer) would be created inside the graph and reset by every replay; run a few steps eagerly first (as torch.cuda.graphs asks), then capture`);
  }

  /** p's step count as a one-element float32 tensor on its device (from a host count where it was one). */
  private stepTensor(p: Tensor): Tensor {
    const st = this.stateOf(p);
    const n = typeof st.step === 'number' ? st.step : 0;
    if (!(st.step instanceof Tensor) && isCapturing()) throw this.notWarm();
    return this.stateTensor(p, 'step', () => full([1], n, { device: p.device }));
  }

  /** p's step count as a host number (from a tensor where a capturable optimizer left one: one read). */
  private hostStep(p: Tensor): number {
    const st = this.stateOf(p);
    if (st.step instanceof Tensor) {
      const v = st.step.item();
      st.step.dispose();
      st.step = v;
    }
    return this.stepState(p).step;
  }

  protected loadedStep(v: Tensor, p: Tensor, group: ParamGroup): StateValue {
    return group.capturable ? keep(full([1], v.item(), { device: p.device })) : v.item();
  }

  protected updateGroup(group: ParamGroup): void {
    const params = this.active(group);
    if (!params.length) return;
    const capturable = !!group.capturable;
    const name = this.constructor.name;
    if (isCapturing() && !capturable)
      throw ckError('ERR_UNSUPPORTED', `${name}.step() inside a CUDA graph capture: its bias corrections use a host step count that every replay would repeat; create it with { capturable: true } (PyTorch's capturable=True) to capture it`);
    if (isCapturing() && params.some((p) => !(this.state.get(p)?.exp_avg instanceof Tensor))) throw this.notWarm();
    const amsgrad = !!group.amsgrad;
    const slots: FusedSlot[] = params.map((p) => {
      const m = this.zeroState(p, 'exp_avg');
      const v = this.zeroState(p, 'exp_avg_sq');
      const vmax = amsgrad ? this.zeroState(p, 'max_exp_avg_sq') : null;
      if (capturable) return { param: p, grad: p.grad!, states: [m, v, vmax], scalar: 0, step: this.stepTensor(p) };
      return { param: p, grad: p.grad!, states: [m, v, vmax], scalar: this.hostStep(p) + 1 };
    });
    runFused({ kernel: 'adamStep', hyper: this.hyper(group), deviceHyper: capturable ? (p) => this.hyperBuffer(group, p) : undefined }, slots);
    if (!capturable) for (const s of slots) this.stateOf(s.param).step = s.scalar;
  }

  dispose(): void {
    for (const g of this.paramGroups) for (const h of this.hyperBuffers.get(g)?.values() ?? []) h.buf.dispose();
    super.dispose();
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
