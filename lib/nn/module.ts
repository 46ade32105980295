/**
 * nn.Module: parameters, buffers and child modules are discovered from the module's own properties in
 * the order they were assigned, so registration and state-dict keys follow PyTorch exactly
 * (`layer2.0.downsample.1.running_var`). Replacing a property (`model.fc = new nn.Linear(512, 10)`)
 * keeps its place.
 */
import { noGrad } from '../autograd/grad_mode';
import { DeviceLike, parseDevice } from '../device';
import { ckError, fmtShape } from '../errors';
import { Tensor } from '../tensor';

/** Marks a tensor as a parameter (requiresGrad on) for the Module that holds it. */
export function Parameter(t: Tensor, requiresGrad = true): Tensor {
  t.isParameter = true;
  if (requiresGrad) t.requiresGrad_(true);
  return t;
}

export type StateDict = Record<string, Tensor>;

/** A module whose forward maps one tensor to one tensor: what Sequential chains. */
export type TensorModule = Module<[Tensor], Tensor>;

/**
 * The base of every layer and model. `In` is the tuple of forward's arguments and `Out` its result. A
 * subclass's own `forward` signature is what its users see (`class Net extends nn.Module` with
 * `forward(x: Tensor): Tensor` makes `net.forward(x)` a Tensor); the type arguments say it for code that
 * holds modules generically: `nn.Module<[Tensor], Tensor>` (alias {@link TensorModule}, what Sequential
 * takes), `nn.Module<[Tensor, Tensor], Tensor>` for a loss. Bare `Module` is a module of any signature.
 * Call `forward` directly: `model.forward(x)` is PyTorch's `model(x)`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export abstract class Module<In extends unknown[] = any[], Out = unknown> {
  training = true;
  // Names of buffers and whether each goes into the state dict; properties hold the tensors.
  private readonly _buffers = new Map<string, boolean>();

  abstract forward(...args: In): Out;

  /** The class name, as PyTorch prints it. */
  get typeName(): string {
    return this.constructor.name;
  }

  private ownEntries(): [string, unknown][] {
    return Object.entries(this).filter(([k]) => k !== 'training' && k !== '_buffers');
  }

  *namedParameters(prefix = '', recurse = true, seen = new Set<Tensor>()): Generator<[string, Tensor]> {
    for (const [k, v] of this.ownEntries()) {
      if (v instanceof Tensor && v.isParameter && !this._buffers.has(k) && !seen.has(v)) {
        seen.add(v);
        yield [prefix + k, v];
      }
    }
    if (recurse) for (const [name, m] of this.namedChildren()) yield* m.namedParameters(`${prefix}${name}.`, true, seen);
  }
  parameters(recurse = true): Tensor[] {
    return [...this.namedParameters('', recurse)].map(([, p]) => p);
  }

  *namedBuffers(prefix = '', recurse = true): Generator<[string, Tensor]> {
    for (const [k] of this._buffers) {
      const v = (this as unknown as Record<string, unknown>)[k];
      if (v instanceof Tensor) yield [prefix + k, v];
    }
    if (recurse) for (const [name, m] of this.namedChildren()) yield* m.namedBuffers(`${prefix}${name}.`, true);
  }
  buffers(recurse = true): Tensor[] {
    return [...this.namedBuffers('', recurse)].map(([, b]) => b);
  }

  *namedChildren(): Generator<[string, Module]> {
    for (const [k, v] of this.ownEntries()) if (v instanceof Module) yield [k, v];
  }
  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }
  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }

  /** Registers (or replaces) a buffer; non-persistent buffers stay out of the state dict. */
  registerBuffer(name: string, t: Tensor | null, opts: { persistent?: boolean } = {}): void {
    this._buffers.set(name, opts.persistent ?? true);
    (this as unknown as Record<string, unknown>)[name] = t;
  }
  registerParameter(name: string, t: Tensor | null): void {
    (this as unknown as Record<string, unknown>)[name] = t ? Parameter(t, t.requiresGrad || t.dtype === 'float32') : null;
  }
  addModule(name: string, m: Module | null): void {
    if (m !== null && !(m instanceof Module)) throw ckError('ERR_ARG', `addModule: ${name} must be a Module or null, got ${typeof m}`, 'TypeError');
    (this as unknown as Record<string, unknown>)[name] = m;
  }
  registerModule(name: string, m: Module | null): void {
    this.addModule(name, m);
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Clears gradients: to null (the default, as PyTorch 2) or to zeros. */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    for (const p of this.parameters()) {
      if (!p.grad) continue;
      if (opts.setToNone ?? true) {
        p.grad.dispose();
        p.grad = null;
      } else noGrad(() => p.grad!.zero_());
    }
  }

  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad_(flag);
    return this;
  }

  apply(fn: (m: Module) => void): this {
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }

  /** Moves every parameter and buffer to a device in place (tensors keep their identity). */
  to(device: DeviceLike): this {
    const dev = parseDevice(device);
    for (const t of [...this.parameters(), ...this.buffers()]) {
      if (!t.device.equals(dev)) noGrad(() => t.assignData_(t.to(dev)));
    }
    return this;
  }
  cuda(index = 0): this {
    return this.to(`cuda:${index}`);
  }
  cpu(): this {
    return this.to('cpu');
  }

  /** Parameters then persistent buffers, module by module, under PyTorch's key names (views, not copies). */
  stateDict(opts: { keepVars?: boolean } = {}): StateDict {
    const out: StateDict = {};
    for (const [k, t] of this.stateEntries()) out[k] = opts.keepVars ? t : t.detach();
    return out;
  }

  // Parameters, then persistent buffers, module by module: PyTorch's state-dict order.
  private stateEntries(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const walk = (m: Module, prefix: string) => {
      for (const [k, p] of m.namedParameters('', false)) out.set(prefix + k, p);
      for (const [k, persistent] of m._buffers) {
        const b = (m as unknown as Record<string, unknown>)[k];
        if (persistent && b instanceof Tensor) out.set(prefix + k, b);
      }
      for (const [name, c] of m.namedChildren()) walk(c, `${prefix}${name}.`);
    };
    walk(this, '');
    return out;
  }

  /**
   * Copies tensors into parameters and buffers by name; shapes must match. Takes a state dict (object or
   * Map) or what io.loadTorch / io.loadSafetensors / io.loadWeights return (their `tensors`), so PyTorch's
   * `model.load_state_dict(torch.load(path))` is `model.loadStateDict(ck.io.loadTorch(path))`.
   */
  loadStateDict(sd: StateDict | Map<string, Tensor> | { tensors: Map<string, Tensor> }, opts: { strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
    const strict = opts.strict ?? true;
    if (sd === null || typeof sd !== 'object') throw ckError('ERR_ARG', `loadStateDict: expected a state dict (an object or a Map), got ${sd === null ? 'null' : typeof sd}`, 'TypeError');
    // A loaded weight file: its tensors are the state dict (its metadata and dtypes are not).
    const file = !(sd instanceof Map) && sd.tensors instanceof Map ? sd.tensors : null;
    const src = file ?? (sd instanceof Map ? sd : new Map(Object.entries(sd as StateDict)));
    const targets = this.stateEntries();
    const missingKeys = [...targets.keys()].filter((k) => !src.has(k));
    const unexpectedKeys = [...src.keys()].filter((k) => !targets.has(k));
    const mismatched: string[] = [];
    for (const [k, dst] of targets) {
      const s = src.get(k);
      if (!s) continue;
      if (s.shape.length !== dst.shape.length || s.shape.some((v, i) => v !== dst.shape[i])) {
        mismatched.push(`${k}: checkpoint ${fmtShape(s.shape)} vs model ${fmtShape(dst.shape)}`);
      }
    }
    if (mismatched.length) throw ckError('ERR_SHAPE', `loadStateDict: size mismatch for ${mismatched.join('; ')}`, 'RangeError');
    if (strict && (missingKeys.length || unexpectedKeys.length))
      throw ckError('ERR_ARG', `loadStateDict: missing keys [${missingKeys.join(', ')}], unexpected keys [${unexpectedKeys.join(', ')}]`);
    noGrad(() => {
      for (const [k, dst] of targets) {
        const s = src.get(k);
        if (s) dst.copy_(s);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * The module tree as PyTorch's `print(model)` shows it (nn.Module.__repr__): each layer's own
   * arguments with PyTorch's names and number formatting (`kernel_size=(3, 3)`, `eps=1e-05`,
   * `bias=False`), children indented by two spaces. `console.log(model)` prints the same.
   */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    const childLines = [...this.namedChildren()].map(([n, m]) => `(${n}): ${m.toString().split('\n').join('\n  ')}`);
    const lines = [...extraLines, ...childLines];
    let s = `${this.typeName}(`;
    if (lines.length) s += extraLines.length === 1 && !childLines.length ? extraLines[0] : `\n  ${lines.join('\n  ')}\n`;
    return `${s})`;
  }
  /** `console.log(model)` prints the tree, as toString(). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
  /** This layer's own arguments for toString(), as PyTorch's extra_repr (its spellings). */
  extraRepr(): string {
    return '';
  }
}
