/**
 * optim.Optimizer: parameter groups, per-parameter state and state dicts, as torch.optim.Optimizer.
 *
 * Parameters come as a list, or as groups `[{ params, lr, weightDecay, ... }]` whose options override the
 * optimizer's defaults. Each group is one object in `paramGroups` holding its params and every option
 * (camelCase), so schedulers and users can change `group.lr` between steps. step() updates, under noGrad, every
 * parameter that requires grad and has one; the others cost nothing (no state, no kernel work).
 *
 * State dicts follow PyTorch's structure: `{ state: { index: { ... } }, param_groups: [{ ...options, params: [indices] }] }`,
 * indices counting parameters across groups in group order. Per-parameter entries keep PyTorch's names
 * (`exp_avg`, `momentum_buffer`, `step` ...). stateDict() is a snapshot: its tensors are copies that stay valid
 * while training goes on (dispose them when done). loadStateDict() copies too, onto each parameter's device, and
 * also accepts PyTorch's snake_case option keys (`weight_decay`, `initial_lr`).
 */
import { enableGrad, noGrad } from '../autograd/grad_mode';
import { zeros } from '../creation';
import { ckError, fmtShape } from '../errors';
import { keep } from '../memory';
import { pyRepr } from '../format';
import { Tensor } from '../tensor';

/** One parameter group: its tensors and its options (lr, and those of the optimizer). */
export interface ParamGroup {
  params: Tensor[];
  lr: number;
  // Optimizer options (weightDecay, betas ...) and what schedulers add (initialLr, maxLr ...).
  [option: string]: any;
}

/** A group as given to a constructor or to addParamGroup: options missing here come from the defaults. */
export type ParamGroupInput<O> = { params: Iterable<Tensor> | Tensor } & Partial<O> & Record<string, unknown>;
export type ParamsInput<O> = Iterable<Tensor> | ParamGroupInput<O>[];

export type StateValue = Tensor | number | null;
export type ParamState = Record<string, StateValue>;

export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  param_groups: Record<string, unknown>[];
}

function camel(k: string): string {
  return k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function copyOption(v: unknown): unknown {
  return Array.isArray(v) ? [...v] : v;
}

export abstract class Optimizer<O extends object = Record<string, unknown>> {
  readonly defaults: Readonly<O>;
  readonly paramGroups: ParamGroup[] = [];
  /** Per-parameter state, created on a parameter's first update. */
  readonly state = new Map<Tensor, ParamState>();

  constructor(params: ParamsInput<O>, defaults: O) {
    this.defaults = Object.freeze({ ...defaults });
    if (params instanceof Tensor)
      throw ckError('ERR_ARG', `${this.constructor.name}: params must be a list of tensors or of parameter groups, not one tensor`, 'TypeError');
    if (params === null || typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function')
      throw ckError('ERR_ARG', `${this.constructor.name}: params must be a list of tensors or of parameter groups`, 'TypeError');
    const list = [...(params as Iterable<unknown>)];
    if (list.length === 0) throw ckError('ERR_ARG', `${this.constructor.name}: got an empty parameter list`);
    const groups = list[0] instanceof Tensor ? [{ params: list as Tensor[] }] : (list as ParamGroupInput<O>[]);
    for (const g of groups) this.addParamGroup(g as ParamGroupInput<O>);
  }

  /** Adds a group (fine-tuning: unfreeze a layer and give it its own lr); options default to the optimizer's. */
  addParamGroup(group: ParamGroupInput<O>): void {
    if (group === null || typeof group !== 'object' || !('params' in group))
      throw ckError('ERR_ARG', `${this.constructor.name}.addParamGroup: a group is an object with params`, 'TypeError');
    const params = group.params instanceof Tensor ? [group.params] : [...(group.params as Iterable<Tensor>)];
    if (group.params instanceof Set)
      throw ckError('ERR_ARG', 'optimizer parameters must be an ordered collection (a Set has no stable order); use an array', 'TypeError');
    for (const p of params) {
      if (!(p instanceof Tensor)) throw ckError('ERR_ARG', `${this.constructor.name} can only optimize Tensors`, 'TypeError');
      if (!p.isLeaf) throw ckError('ERR_ARG', `${this.constructor.name}: can't optimize a non-leaf Tensor`);
      if (p.dtype !== 'float32') throw ckError('ERR_DTYPE', `${this.constructor.name}: parameters must be float32 (got ${p.dtype})`, 'TypeError');
    }
    if (new Set(params).size !== params.length)
      throw ckError('ERR_ARG', `${this.constructor.name}: a parameter group holds the same parameter twice`);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    if (params.some((p) => seen.has(p))) throw ckError('ERR_ARG', 'some parameters appear in more than one parameter group');
    const g: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.defaults)) g[k] = copyOption(v);
    for (const [k, v] of Object.entries(group)) if (k !== 'params' && v !== undefined) g[k] = copyOption(v);
    g.params = params;
    if (typeof g.lr !== 'number')
      throw ckError('ERR_ARG', `${this.constructor.name}: parameter group ${this.paramGroups.length} has no lr and there is no default`);
    this.validateGroup(g as ParamGroup);
    this.paramGroups.push(g as ParamGroup);
  }

  /** Checks a group's options (as PyTorch's constructor does); throws ERR_ARG. */
  protected abstract validateGroup(group: ParamGroup): void;

  /** Updates the parameters of one group that require grad and have one; runs under noGrad. */
  protected abstract updateGroup(group: ParamGroup): void;

  /**
   * PyTorch's `print(optimizer)`: `AdamW (`, then per group `Parameter Group i` and its options sorted
   * by name, one per line as `    key: value` with Python's spellings of the values (`False`,
   * `(0.9, 0.999)`, `1e-08`). The keys are convkit's camelCase option names (`weightDecay`, PyTorch:
   * `weight_decay`), and only the options convkit has are listed (Adam's `capturable`, not PyTorch's `foreach`,
   * `differentiable`, `fused`).
   */
  toString(): string {
    let s = `${this.constructor.name} (`;
    this.paramGroups.forEach((g, i) => {
      s += `\nParameter Group ${i}\n`;
      for (const k of Object.keys(g).filter((k) => k !== 'params').sort()) s += `    ${k}: ${typeof g[k] === 'string' ? g[k] : pyRepr(g[k])}\n`;
    });
    return `${s})`;
  }
  /** `console.log(optimizer)` prints what toString() does. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** Clears the gradients of every parameter: to null (the default) or to zeros. */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    const toNone = opts.setToNone ?? true;
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (toNone) {
          p.grad.dispose();
          p.grad = null;
        } else noGrad(() => p.grad!.zero_());
      }
    }
  }

  /**
   * One update of every group. With a closure (re-evaluates the model, calls backward, returns the loss), the
   * closure runs first with grad enabled and its result is returned.
   */
  step<L = undefined>(closure?: () => L): L | undefined {
    let loss: L | undefined;
    if (closure) loss = enableGrad(closure);
    noGrad(() => {
      for (const g of this.paramGroups) this.updateGroup(g);
    });
    return loss;
  }

  /** The parameters of a group that this step updates: requiresGrad and a live grad. */
  protected active(group: ParamGroup): Tensor[] {
    const out: Tensor[] = [];
    for (const p of group.params) {
      if (!p.requiresGrad || p.grad === null) continue;
      if (p.isDisposed) throw ckError('ERR_DISPOSED', `${this.constructor.name}.step(): a parameter was disposed`);
      if (p.grad.isDisposed)
        throw ckError('ERR_DISPOSED', `${this.constructor.name}.step(): the gradient of a parameter of shape ${fmtShape(p.shape)} was disposed (set p.grad = null to skip it)`);
      if (p.grad.numel() !== p.numel() || p.grad.shape.length !== p.shape.length || p.grad.shape.some((s, i) => s !== p.shape[i]))
        throw ckError('ERR_SHAPE', `${this.constructor.name}.step(): gradient of shape ${fmtShape(p.grad.shape)} for a parameter of shape ${fmtShape(p.shape)}`, 'RangeError');
      out.push(p);
    }
    return out;
  }

  /** The state of p, created empty on first use. */
  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }

  /**
   * State tensor `key` of p: created by `make` when missing, moved to p's device when p moved (module.to()
   * after the optimizer was made). Kept out of any tidy() scope: the optimizer owns it.
   */
  protected stateTensor(p: Tensor, key: string, make: () => Tensor): Tensor {
    const s = this.stateOf(p);
    let t = s[key];
    if (!(t instanceof Tensor) || t.isDisposed) {
      t = keep(make());
      s[key] = t;
    } else if (!t.device.equals(p.device)) {
      const moved = t.to(p.device);
      t.dispose();
      t = keep(moved);
      s[key] = t;
    }
    return t;
  }

  /** State tensor `key` of p, zeros of p's shape on p's device when first made (see stateTensor). */
  protected zeroState(p: Tensor, key: string): Tensor {
    return this.stateTensor(p, key, () => zeros([...p.shape], { device: p.device }));
  }

  /** p's state with its `step` count started at 0 when missing. */
  protected stepState(p: Tensor): ParamState & { step: number } {
    const st = this.stateOf(p);
    if (typeof st.step !== 'number') st.step = 0;
    return st as ParamState & { step: number };
  }

  /**
   * PyTorch's "Invalid ..." constructor checks: a RangeError naming the option when g[key] is not >= 0 (NaN
   * included), for each key of `options` in order; the values are the names the messages use.
   */
  protected requireNonNegative(g: ParamGroup, options: Record<string, string>): void {
    for (const [key, label] of Object.entries(options))
      if (!(g[key] >= 0)) throw ckError('ERR_ARG', `${this.constructor.name}: invalid ${label} ${g[key]}`, 'RangeError');
  }

  private indexedParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** A snapshot of the optimizer: per-parameter state (tensors copied) and the groups' options. */
  stateDict(): OptimizerStateDict {
    const all = this.indexedParams();
    const state: Record<number, ParamState> = {};
    all.forEach((p, i) => {
      const s = this.state.get(p);
      if (!s) return;
      const out: ParamState = {};
      for (const [k, v] of Object.entries(s)) out[k] = v instanceof Tensor ? noGrad(() => v.clone()) : v;
      state[i] = out;
    });
    let start = 0;
    const param_groups = this.paramGroups.map((g) => {
      const packed: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(g)) if (k !== 'params') packed[k] = copyOption(v);
      packed.params = g.params.map((_, j) => start + j);
      start += g.params.length;
      return packed;
    });
    return { state, param_groups };
  }

  /** Restores a stateDict(): group options and per-parameter state, matched to this optimizer's parameters by position. */
  loadStateDict(sd: OptimizerStateDict): void {
    const name = `${this.constructor.name}.loadStateDict`;
    if (!sd || typeof sd !== 'object' || !Array.isArray(sd.param_groups) || typeof sd.state !== 'object')
      throw ckError('ERR_FORMAT', `${name}: expected { state, param_groups }`);
    const saved = sd.param_groups;
    if (saved.length !== this.paramGroups.length)
      throw ckError('ERR_ARG', `${name}: the state dict has ${saved.length} parameter group(s), this optimizer ${this.paramGroups.length}`);
    saved.forEach((sg, i) => {
      const ids = sg.params;
      if (!Array.isArray(ids) || ids.length !== this.paramGroups[i].params.length)
        throw ckError('ERR_ARG', `${name}: parameter group ${i} holds ${Array.isArray(ids) ? ids.length : '?'} parameters in the state dict, ${this.paramGroups[i].params.length} here`);
    });
    // saved index -> parameter, pairing the groups' lists in order (as PyTorch)
    const byId = new Map<number, Tensor>();
    const groupOf = new Map<number, number>();
    saved.forEach((sg, i) => (sg.params as number[]).forEach((id, j) => {
      byId.set(Number(id), this.paramGroups[i].params[j]);
      groupOf.set(Number(id), i);
    }));
    // The saved options replace each group's (as PyTorch), over the defaults for any the dict lacks.
    const groups = saved.map((sg, i) => {
      const g: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(this.defaults)) g[k] = copyOption(v);
      for (const [k, v] of Object.entries(sg)) if (k !== 'params') g[camel(k)] = copyOption(v);
      g.params = this.paramGroups[i].params;
      this.validateGroup(g as ParamGroup);
      return g as ParamGroup;
    });
    const next = new Map<Tensor, ParamState>();
    try {
      for (const [k, entry] of Object.entries(sd.state)) {
        const p = byId.get(Number(k));
        if (!p) continue;
        const s: ParamState = {};
        next.set(p, s);
        for (const [key, v] of Object.entries(entry as Record<string, unknown>)) {
          if (v instanceof Tensor) {
            if (key === 'step') {
              s[key] = this.loadedStep(v, p, groups[groupOf.get(Number(k))!]);
              continue;
            }
            if (v.shape.length !== p.shape.length || v.shape.some((d, j) => d !== p.shape[j]))
              throw ckError('ERR_SHAPE', `${name}: state '${key}' of parameter ${k} has shape ${fmtShape(v.shape)}, the parameter ${fmtShape(p.shape)}`, 'RangeError');
            s[key] = keep(noGrad(() => (v.dtype === 'float32' && v.device.equals(p.device) ? v.clone() : v.to(p.device, 'float32'))));
          } else if (v === null || typeof v === 'number') s[key] = v;
          else throw ckError('ERR_FORMAT', `${name}: state '${key}' of parameter ${k} is neither a tensor, a number nor null`);
        }
      }
    } catch (e) {
      for (const s of next.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
      throw e;
    }
    this.disposeState();
    for (const [p, s] of next) this.state.set(p, s);
    groups.forEach((src, i) => {
      const g = this.paramGroups[i];
      for (const k of Object.keys(g)) if (k !== 'params') delete g[k];
      Object.assign(g, src);
    });
  }

  /** A `step` state loaded as a tensor: a host number here; capturable optimizers keep a tensor on p's device. */
  protected loadedStep(v: Tensor, _p: Tensor, _group: ParamGroup): StateValue {
    return v.item();
  }

  private disposeState(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }

  /** Frees every state tensor (momentum buffers, moments). The optimizer starts afresh on its next step. */
  dispose(): void {
    this.disposeState();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
