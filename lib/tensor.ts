/**
 * Tensor: a strided view of a native buffer on one device. Views (reshape when possible, permute,
 * transpose, slice/narrow, expand, flatten, squeeze/unsqueeze) share the buffer and copy nothing;
 * the buffer is freed when the last tensor viewing it is disposed.
 */
import './polyfill';
import { Layout, native, NativeStorage } from './binding';
import { CPU, Device, DeviceLike, parseDevice } from './device';
import { DType, DTYPE_CODE, normalizeDType, DTypeLike } from './dtype';
import { ckError, fmtShape, shapeError } from './errors';
import { tensorRepr } from './format';
import { keep, retarget, StorageRef, trackDispose, trackNew } from './memory';
import { checkShape, contiguousStrides, normDim, numelOf } from './shape';
import * as ewRaw from './ops/elementwise';
import * as F from './autograd/functions';
// Also used at call time only (ops/indexing imports Tensor).
import * as IX from './ops/indexing';
// Used at call time only (nn/functional imports Tensor): the cycle is safe under CommonJS.
import * as NNF from './nn/functional';
import { runBackward } from './autograd/engine';
import { isGradEnabled, noGrad, rawModule } from './autograd/grad_mode';
import { AccumulateGrad, Node } from './autograd/node';

const ew = rawModule(ewRaw);

export type Scalar = number;
export type TensorOrScalar = Tensor | number;
export type NestedArray = number | NestedArray[];

export interface ReduceOptions {
  keepdim?: boolean;
}
export interface VarOptions extends ReduceOptions {
  /** Bessel's correction (1, the default, gives the unbiased estimate). */
  correction?: number;
  /** PyTorch 1.x spelling: unbiased=false is correction 0. */
  unbiased?: boolean;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${typeof v} ${String(v)}`;
}

export class Tensor {
  // Mutable only through assignData_ (module.to(), loadStateDict): identity stays, contents move.
  private _shape: readonly number[];
  private _strides: readonly number[];
  private _offset: number;
  private _dtype: DType;
  private _device: Device;
  private ref: StorageRef | null;
  /** Set by nn.Parameter: a tensor a Module registers as a parameter. */
  isParameter = false;
  private _grad: Tensor | null = null;
  /** The graph node that made this tensor (null for leaves and for tensors made without grad). */
  gradFn: Node | null = null;
  private _requiresGrad = false;
  private accumulator: AccumulateGrad | null = null;

  /** @internal use the creation functions (tensor, zeros, ...) instead. */
  constructor(ref: StorageRef, shape: readonly number[], strides: readonly number[], offset: number, dtype: DType, device: Device) {
    this.ref = ref;
    this._shape = Object.freeze([...shape]);
    this._strides = Object.freeze([...strides]);
    this._offset = offset;
    this._dtype = dtype;
    this._device = device;
    trackNew(this, ref);
  }

  get shape(): readonly number[] {
    return this._shape;
  }
  get strides(): readonly number[] {
    return this._strides;
  }
  get offset(): number {
    return this._offset;
  }
  get dtype(): DType {
    return this._dtype;
  }
  get device(): Device {
    return this._device;
  }

  /**
   * Makes this tensor hold src's data (PyTorch's `t.data = src`): the object, its requiresGrad and
   * its identity stay, so optimizers and modules that hold it see the new contents. src is consumed.
   */
  assignData_(src: Tensor): this {
    if (src === this) return this;
    const ref = src.storageRef;
    const old = this.storageRef;
    this.ref = ref;
    retarget(this, old, ref);
    this._shape = src._shape;
    this._strides = src._strides;
    this._offset = src._offset;
    this._dtype = src._dtype;
    this._device = src._device;
    src.dispose();
    if (this.grad && !this.grad.device.equals(this._device)) {
      const g = this.grad.to(this._device);
      this.grad.dispose();
      this._grad = keep(g);
    }
    return this;
  }

  /** A new contiguous, uninitialised tensor. */
  static empty(shape: readonly number[], dtype: DType = 'float32', device: Device = CPU): Tensor {
    const sh = checkShape(shape);
    const n = numelOf(sh);
    const ref = new StorageRef(native.alloc(device.index, n * 4));
    return new Tensor(ref, sh, contiguousStrides(sh), 0, dtype, device);
  }

  // ---- identity -------------------------------------------------------------------------------
  get ndim(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.ref === null;
  }
  numel(): number {
    return numelOf(this.shape);
  }
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number[] | number {
    if (dim === undefined) return [...this.shape];
    return this.shape[normDim(dim, this.ndim)];
  }
  dim(): number {
    return this.ndim;
  }
  isContiguous(): boolean {
    let expect = 1;
    for (let i = this.ndim - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expect) return false;
      expect *= this.shape[i];
    }
    return true;
  }
  get isCuda(): boolean {
    return this.device.index >= 0;
  }
  /**
   * PyTorch's `repr(tensor)`: `tensor([[0.1000, 0.2000], ...])` with PyTorch's number formatting and
   * summarisation, then `device=`, `dtype=`, `requiresGrad=true` / `gradFn=<...>` when not default
   * (spellings: see tensorRepr in format.ts). Reads the values (a device sync for CUDA tensors).
   * A disposed tensor prints `tensor(<disposed>)`.
   */
  toString(): string {
    if (this.ref === null) return 'tensor(<disposed>)';
    return tensorRepr({
      data: this.dataSync(),
      shape: this.shape,
      dtype: this.dtype,
      device: String(this.device),
      requiresGrad: this._requiresGrad,
      gradFn: this.gradFn?.name ?? null,
      isParameter: this.isParameter,
    });
  }
  /** `console.log(t)` prints what toString() does. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** @internal the native buffer; throws ERR_DISPOSED once disposed. */
  get storage(): NativeStorage {
    if (this.ref === null) throw ckError('ERR_DISPOSED', `${this.toStringSafe()} was disposed and cannot be used`);
    return this.ref.native;
  }
  /** @internal the shared storage reference, for views. */
  get storageRef(): StorageRef {
    if (this.ref === null) throw ckError('ERR_DISPOSED', `${this.toStringSafe()} was disposed and cannot be used`);
    return this.ref;
  }
  private toStringSafe(): string {
    return `tensor of shape ${fmtShape(this.shape)}`;
  }
  /** @internal [ndim, offset, ...shape, ...strides] for the native kernels. */
  layout(): Layout {
    return [this.ndim, this.offset, ...this.shape, ...this.strides];
  }
  /** @internal the dtype as the native kernels number it. */
  get dtypeCode(): number {
    return DTYPE_CODE[this.dtype];
  }

  // ---- lifetime -------------------------------------------------------------------------------
  /** Frees this tensor's hold on its buffer (the buffer goes when no view uses it). Idempotent. */
  dispose(): void {
    if (this.ref === null) return;
    const r = this.ref;
    this.ref = null;
    this.onDispose();
    trackDispose(this, r);
  }
  private onDispose(): void {
    this.grad?.dispose();
    this._grad = null;
    this.gradFn = null;
    this.accumulator = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- autograd -------------------------------------------------------------------------------
  /** The accumulated gradient of a leaf after backward(). */
  get grad(): Tensor | null {
    return this._grad;
  }
  /** Assigning checks as PyTorch does: a Tensor (or null) of this tensor's dtype and shape. */
  set grad(g: Tensor | null) {
    if (g === null || g === undefined) {
      this._grad = null;
      return;
    }
    if (!(g instanceof Tensor))
      throw ckError('ERR_ARG', `assigned grad expected to be a Tensor or null, got ${describe(g)}`, 'TypeError');
    if (g.dtype !== this._dtype)
      throw ckError('ERR_DTYPE', `assigned grad has dtype ${g.dtype}, but the tensor is ${this._dtype}`, 'TypeError');
    if (g.shape.length !== this._shape.length || g.shape.some((s, i) => s !== this._shape[i]))
      throw shapeError(`assigned grad has shape ${fmtShape(g.shape)}, but the tensor has shape ${fmtShape(this._shape)}`);
    this._grad = g;
  }
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(flag: boolean) {
    this.requiresGrad_(flag);
  }
  /** Leaves only: start (or stop) recording operations on this tensor. Returns this. */
  requiresGrad_(flag = true): this {
    if (this.gradFn !== null && !flag)
      throw ckError('ERR_AUTOGRAD', 'requiresGrad_(false) on a non-leaf tensor; use detach() instead');
    if (flag && this.dtype !== 'float32')
      throw ckError('ERR_AUTOGRAD', `only float32 tensors can require gradients (this one is ${this.dtype})`, 'TypeError');
    this._requiresGrad = flag || this.gradFn !== null;
    return this;
  }
  /** True for tensors not made by a recorded op (user-created tensors and parameters). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  /** @internal the Node gradients of this tensor flow into. */
  gradNode(): Node {
    if (this.gradFn) return this.gradFn;
    if (!this.accumulator) this.accumulator = new AccumulateGrad(this);
    return this.accumulator;
  }
  /** @internal set by the op that made this tensor. */
  setGradFn(node: Node): void {
    this.gradFn = node;
    this._requiresGrad = true;
  }
  /** @internal called by the engine for leaves; takes ownership of g. */
  accumulateGrad(g: Tensor): void {
    if (g.shape.length !== this.shape.length || g.shape.some((s, i) => s !== this.shape[i]))
      throw ckError('ERR_AUTOGRAD', `gradient of shape ${fmtShape(g.shape)} for a leaf of shape ${fmtShape(this.shape)}`);
    if (this.grad === null || this.grad.isDisposed) {
      // A gradient that shares its buffer (a view of another gradient) gets its own, so in-place
      // changes to one .grad can never reach another.
      this._grad = keep(g.isContiguous() && g.storageRef.refs === 1 ? g.detach() : g.clone());
    } else {
      const sum = ew.add(this.grad, g);
      this.grad.dispose();
      this._grad = keep(sum);
    }
  }
  /**
   * Computes the gradient of this tensor w.r.t. every leaf that requires grad and adds it to their
   * .grad. A scalar needs no argument; otherwise pass the gradient of the same shape.
   */
  backward(grad?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    if (this.ref === null) throw ckError('ERR_DISPOSED', `backward(): ${this.toStringSafe()} was disposed`);
    if (grad !== undefined && !(grad instanceof Tensor))
      throw ckError('ERR_ARG', `backward(): gradient must be a Tensor, got ${describe(grad)}`, 'TypeError');
    if (!this._requiresGrad)
      throw ckError('ERR_AUTOGRAD', 'backward(): this tensor does not require grad and has no graph (was it made inside noGrad, or from tensors without requiresGrad?)');
    let g: Tensor;
    if (grad === undefined) {
      if (this.numel() !== 1)
        throw ckError('ERR_AUTOGRAD', `backward(): a gradient argument is needed for a non-scalar output of shape ${fmtShape(this.shape)}`);
      g = Tensor.empty(this.shape, 'float32', this.device);
      native.fill({ dtype: 0, n: 1, value: 1 }, { output: { storage: g.storage, offset: 0 } });
    } else {
      if (grad.shape.length !== this.shape.length || grad.shape.some((s, i) => s !== this.shape[i]))
        throw shapeError(`backward(): gradient of shape ${fmtShape(grad.shape)} for an output of shape ${fmtShape(this.shape)}`);
      g = grad.detach();
    }
    keep(g);
    if (this.gradFn === null) {
      this.accumulateGrad(g);
      return;
    }
    runBackward(this, g, !!opts.retainGraph);
  }

  // ---- in place (not recorded: use them on data, under noGrad, or on tensors that need no grad) ---
  private checkInPlace(op: string): void {
    if (isGradEnabled() && this._requiresGrad)
      throw ckError('ERR_AUTOGRAD', `${op}: in-place change of a tensor that requires grad; wrap it in noGrad() or use the out-of-place op`);
  }
  /** @internal raw copy of src (same shape) into this view. */
  copyFrom(src: Tensor): void {
    native.copy({ source: { storage: src.storage, layout: src.layout() }, destination: { storage: this.storage, layout: this.layout() } });
  }
  /** Copies src into this tensor (broadcast, cast and moved as needed). Returns this. */
  copy_(src: Tensor): this {
    this.checkInPlace('copy_');
    if (!(src instanceof Tensor)) throw ckError('ERR_ARG', `copy_: the source must be a Tensor, got ${describe(src)}`, 'TypeError');
    let s = src;
    if (s.dtype !== this.dtype || !s.device.equals(this.device)) s = s.to(this.device, this.dtype);
    const e = s.expand([...this.shape]);
    try {
      this.copyFrom(e);
    } finally {
      e.dispose();
      if (s !== src) s.dispose();
    }
    return this;
  }
  fill_(value: number): this {
    this.checkInPlace('fill_');
    if (this.isContiguous()) {
      native.fill({ dtype: this.dtypeCode, n: this.numel(), value }, { output: { storage: this.storage, offset: this.offset } });
      return this;
    }
    const t = Tensor.empty(this.shape, this.dtype, this.device);
    native.fill({ dtype: this.dtypeCode, n: t.numel(), value }, { output: { storage: t.storage, offset: 0 } });
    this.copyFrom(t);
    t.dispose();
    return this;
  }
  zero_(): this {
    return this.fill_(0);
  }
  private inPlace(op: string, compute: () => Tensor): this {
    this.checkInPlace(op);
    const r = compute();
    try {
      if (r.shape.length !== this.shape.length || r.shape.some((v, i) => v !== this.shape[i]))
        throw shapeError(`${op}: result of shape ${fmtShape(r.shape)} does not fit in-place into ${fmtShape(this.shape)}`);
      const c = r.dtype === this.dtype ? r : ew.unary(r, ew.U.Copy, 0, 0, this.dtype);
      this.copyFrom(c);
      if (c !== r) c.dispose();
    } finally {
      r.dispose();
    }
    return this;
  }
  add_(o: TensorOrScalar, alpha = 1): this {
    return this.inPlace('add_', () => ew.add(this, o, alpha));
  }
  sub_(o: TensorOrScalar, alpha = 1): this {
    return this.inPlace('sub_', () => ew.sub(this, o, alpha));
  }
  mul_(o: TensorOrScalar): this {
    return this.inPlace('mul_', () => ew.mul(this, o));
  }
  div_(o: TensorOrScalar): this {
    return this.inPlace('div_', () => ew.div(this, o));
  }
  clamp_(min?: TensorOrScalar | null, max?: TensorOrScalar | null): this {
    if (min instanceof Tensor || max instanceof Tensor) return this.inPlace('clamp_', () => noGrad(() => IX.clampTensor(this, min, max)));
    return this.inPlace('clamp_', () => ew.clamp(this, min, max));
  }
  /** In-place maskedFill: value where mask (broadcast to this shape) is non-zero. */
  maskedFill_(mask: Tensor, value: TensorOrScalar): this {
    return this.inPlace('masked_fill_', () => noGrad(() => IX.maskedFill(this, mask, value)));
  }

  // ---- views ----------------------------------------------------------------------------------
  /** @internal a view sharing this tensor's buffer. */
  viewOf(shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    return new Tensor(this.storageRef, shape, strides, offset, this.dtype, this.device);
  }

  private inferShape(shape: readonly number[], op: string): number[] {
    const n = this.numel();
    const out = [...shape];
    const neg = out.indexOf(-1);
    if (out.filter((s) => s === -1).length > 1) throw shapeError(`${op}: only one dimension can be -1 (got ${fmtShape(shape)})`);
    if (neg >= 0) {
      const rest = numelOf(out.filter((_, i) => i !== neg));
      if (rest === 0 || n % rest !== 0)
        throw shapeError(`${op}: shape ${fmtShape(shape)} is invalid for a tensor of shape ${fmtShape(this.shape)} (${n} elements)`);
      out[neg] = n / rest;
    }
    checkShape(out, `${op} shape`);
    if (numelOf(out) !== n)
      throw shapeError(`${op}: shape ${fmtShape(shape)} is invalid for a tensor of shape ${fmtShape(this.shape)} (${n} elements)`);
    return out;
  }

  // PyTorch's computeStride: the strides that let `shape` view this tensor, or null if it can't.
  private viewStrides(shape: number[]): number[] | null {
    if (this.numel() === 0 || this.isContiguous()) return contiguousStrides(shape);
    const newStrides = new Array<number>(shape.length);
    let viewD = shape.length - 1;
    let chunkBase = this.strides[this.ndim - 1];
    let tensorNumel = 1;
    let viewNumel = 1;
    for (let d = this.ndim - 1; d >= 0; d--) {
      tensorNumel *= this.shape[d];
      if (d === 0 || (this.shape[d - 1] !== 1 && this.strides[d - 1] !== tensorNumel * chunkBase)) {
        while (viewD >= 0 && (viewNumel < tensorNumel || shape[viewD] === 1)) {
          newStrides[viewD] = viewNumel * chunkBase;
          viewNumel *= shape[viewD];
          viewD--;
        }
        if (viewNumel !== tensorNumel) return null;
        if (d > 0) {
          chunkBase = this.strides[d - 1];
          tensorNumel = 1;
          viewNumel = 1;
        }
      }
    }
    if (viewD !== -1) return null;
    return newStrides;
  }

  /** A view with a new shape; ERR_SHAPE if the strides don't allow one (use reshape). */
  view(...shape: number[] | [number[]]): Tensor {
    const sh = this.inferShape(Array.isArray(shape[0]) ? shape[0] : (shape as number[]), 'view');
    const st = this.viewStrides(sh);
    if (!st)
      throw shapeError(
        `view: shape ${fmtShape(sh)} is not compatible with the strides of a ${fmtShape(this.shape)} tensor; use reshape()`,
      );
    const inShape = [...this.shape];
    return F.viewOp(this, this.viewOf(sh, st, this.offset), 'ViewBackward', (g) => g.reshape(inShape));
  }

  /** Like view when the strides allow it, else a contiguous copy. */
  reshape(...shape: number[] | [number[]]): Tensor {
    const sh = this.inferShape(Array.isArray(shape[0]) ? shape[0] : (shape as number[]), 'reshape');
    const st = this.viewStrides(sh);
    let r: Tensor;
    if (st) r = this.viewOf(sh, st, this.offset);
    else {
      const c = ew.unary(this, ew.U.Copy);
      r = c.viewOf(sh, contiguousStrides(sh), c.offset);
      c.dispose();
    }
    const inShape = [...this.shape];
    return F.viewOp(this, r, 'ReshapeBackward', (g) => g.reshape(inShape));
  }

  permute(...dims: number[] | [number[]]): Tensor {
    const d = (Array.isArray(dims[0]) ? dims[0] : (dims as number[])).map((x) => normDim(x, this.ndim));
    if (d.length !== this.ndim || new Set(d).size !== d.length)
      throw shapeError(`permute: dims ${fmtShape(d)} are not a permutation of ${this.ndim} dimensions`);
    const inv = new Array<number>(d.length);
    d.forEach((p, i) => (inv[p] = i));
    const out = this.viewOf(d.map((i) => this.shape[i]), d.map((i) => this.strides[i]), this.offset);
    return F.viewOp(this, out, 'PermuteBackward', (g) => g.permute(inv));
  }

  transpose(dim0: number, dim1: number): Tensor {
    const a = normDim(dim0, this.ndim);
    const b = normDim(dim1, this.ndim);
    if (this.ndim === 0) return this.identity('TransposeBackward');
    const p = [...Array(this.ndim).keys()];
    [p[a], p[b]] = [p[b], p[a]];
    return this.permute(p);
  }

  /** The transpose of a matrix (rank <= 2). */
  t(): Tensor {
    if (this.ndim > 2) throw shapeError(`t() expects a tensor of rank <= 2, got ${fmtShape(this.shape)}`);
    return this.ndim < 2 ? this.identity('TBackward') : this.transpose(0, 1);
  }

  /** Python-style slice along one dim: start/end may be negative and are clamped; step > 0. */
  slice(dim: number, start = 0, end: number = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
    const d = normDim(dim, this.ndim);
    if (!Number.isInteger(step) || step <= 0) throw shapeError(`slice: step must be a positive integer, got ${step}`);
    for (const [name, v] of [['start', start], ['end', end]] as const) {
      if (typeof v !== 'number' || !Number.isInteger(v))
        throw ckError('ERR_ARG', `slice: ${name} must be an integer, got ${String(v)}`, 'TypeError');
    }
    const n = this.shape[d];
    const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
    const s = clampIdx(start);
    const e = Math.max(clampIdx(end), s);
    const len = Math.ceil((e - s) / step);
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape[d] = len;
    strides[d] = this.strides[d] * step;
    const out = this.viewOf(shape, strides, this.offset + (len > 0 ? s * this.strides[d] : 0));
    const inShape = [...this.shape];
    return F.viewOp(this, out, 'SliceBackward', (g) => F.embed(g, inShape, (z) => z.slice(d, s, e, step)));
  }

  narrow(dim: number, start: number, length: number): Tensor {
    const d = normDim(dim, this.ndim);
    const n = this.shape[d];
    if (!Number.isInteger(start)) throw ckError('ERR_ARG', `narrow: start must be an integer, got ${String(start)}`, 'TypeError');
    if (!Number.isInteger(length)) throw ckError('ERR_ARG', `narrow: length must be an integer, got ${String(length)}`, 'TypeError');
    const s = start < 0 ? start + n : start;
    if (!Number.isInteger(length) || s < 0 || length < 0 || s + length > n)
      throw shapeError(`narrow: start ${start} and length ${length} are out of range for dim ${d} of size ${n}`);
    return this.slice(d, s, s + length);
  }

  /** Index along dim 0 (or `dim`), dropping that dimension. */
  select(dim: number, index: number): Tensor {
    const d = normDim(dim, this.ndim);
    const n = this.shape[d];
    const i = index < 0 ? index + n : index;
    if (!Number.isInteger(i) || i < 0 || i >= n) throw shapeError(`select: index ${index} is out of range for dim ${d} of size ${n}`);
    const shape = this.shape.filter((_, k) => k !== d);
    const strides = this.strides.filter((_, k) => k !== d);
    const out = this.viewOf(shape, strides, this.offset + i * this.strides[d]);
    const inShape = [...this.shape];
    return F.viewOp(this, out, 'SelectBackward', (g) => F.embed(g, inShape, (z) => z.select(d, i)));
  }

  expand(...sizes: number[] | [number[]]): Tensor {
    const sz = Array.isArray(sizes[0]) ? sizes[0] : (sizes as number[]);
    if (sz.length < this.ndim)
      throw shapeError(`expand: the target ${fmtShape(sz)} has fewer dimensions than the tensor ${fmtShape(this.shape)}`);
    const lead = sz.length - this.ndim;
    const shape: number[] = [];
    const strides: number[] = [];
    for (let i = 0; i < sz.length; i++) {
      const j = i - lead;
      const cur = j >= 0 ? this.shape[j] : 1;
      const want = sz[i] === -1 ? cur : sz[i];
      if (j < 0 && sz[i] === -1) throw shapeError(`expand: -1 is not allowed for the new leading dimension ${i}`);
      if (cur !== want && cur !== 1)
        throw shapeError(`expand: cannot expand ${fmtShape(this.shape)} to ${fmtShape(sz)} (dim ${i}: ${cur} to ${want})`);
      shape.push(want);
      strides.push(j >= 0 && cur === want ? this.strides[j] : 0);
    }
    const inShape = [...this.shape];
    return F.viewOp(this, this.viewOf(checkShape(shape), strides, this.offset), 'ExpandBackward', (g) => F.sumTo(g, inShape));
  }

  expandAs(other: Tensor): Tensor {
    return this.expand([...other.shape]);
  }

  flatten(startDim = 0, endDim = -1): Tensor {
    const s = normDim(startDim, this.ndim);
    const e = normDim(endDim, this.ndim);
    if (this.ndim === 0) return this.reshape([1]);
    if (s > e) throw shapeError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
    const shape = [...this.shape.slice(0, s), numelOf(this.shape.slice(s, e + 1)), ...this.shape.slice(e + 1)];
    return this.reshape(shape);
  }

  squeeze(dim?: number): Tensor {
    let out: Tensor;
    if (dim === undefined) {
      const kept = this.shape.map((s, i) => (s === 1 ? -1 : i)).filter((i) => i >= 0);
      out = this.viewOf(kept.map((i) => this.shape[i]), kept.map((i) => this.strides[i]), this.offset);
    } else {
      const d = normDim(dim, this.ndim);
      out = this.shape[d] !== 1
        ? this.viewOf(this.shape, this.strides, this.offset)
        : this.viewOf(this.shape.filter((_, i) => i !== d), this.strides.filter((_, i) => i !== d), this.offset);
    }
    const inShape = [...this.shape];
    return F.viewOp(this, out, 'SqueezeBackward', (g) => g.reshape(inShape));
  }

  unsqueeze(dim: number): Tensor {
    const d = normDim(dim, this.ndim + 1);
    const shape = [...this.shape];
    const strides = [...this.strides];
    const st = d < this.ndim ? this.strides[d] * this.shape[d] : 1;
    shape.splice(d, 0, 1);
    strides.splice(d, 0, st);
    const inShape = [...this.shape];
    return F.viewOp(this, this.viewOf(shape, strides, this.offset), 'UnsqueezeBackward', (g) => g.reshape(inShape));
  }

  /** A new handle on the same data whose gradient passes straight through. */
  private identity(name: string, out?: Tensor): Tensor {
    return F.viewOp(this, out ?? this.viewOf(this.shape, this.strides, this.offset), name, (g) => g.detach());
  }

  /** This tensor if already contiguous (as a new handle on the same buffer), else a contiguous copy. */
  contiguous(): Tensor {
    if (this.isContiguous()) return this.identity('ContiguousBackward', this.viewOf(this.shape, contiguousStrides(this.shape), this.offset));
    return this.identity('ContiguousBackward', ew.unary(this, ew.U.Copy));
  }

  // ---- devices and dtypes ---------------------------------------------------------------------
  /** A copy on another device and/or with another dtype; this tensor itself if nothing changes. */
  /**
   * Host-to-device copies never make the host wait: from pinned memory (pinMemory()) they are queued
   * directly, from pageable memory through a pinned staging block. `{ nonBlocking: true }` (PyTorch's
   * non_blocking=True) is therefore accepted and changes nothing; device-to-host copies always wait.
   */
  to(target: DeviceLike | DTypeLike, dtype?: DTypeLike | { nonBlocking?: boolean; dtype?: DTypeLike }): Tensor {
    if (typeof dtype === 'object' && dtype !== null) dtype = dtype.dtype;
    let dev = this.device;
    let dt = this.dtype;
    if (target === 'float32' || target === 'int32' || target === 'int64') dt = normalizeDType(target, dt);
    else if (typeof target === 'string' && /^(float|int|uint|bool|bfloat|half|double|long|short|complex)/.test(target))
      throw ckError('ERR_DTYPE', `to(): dtype '${target}' is not supported (convkit stores float32 and int32; int64 is stored as int32)`, 'TypeError');
    else dev = parseDevice(target);
    if (dtype !== undefined) dt = normalizeDType(dtype, dt);
    let t: Tensor = this;
    if (dt !== this.dtype) t = ew.unary(this, ew.U.Copy, 0, 0, dt);
    if (!dev.equals(this.device)) {
      const src = t.contiguous();
      const out = Tensor.empty(this.shape, dt, dev);
      native.copyBytes({ storage: out.storage, byteOffset: 0 }, { storage: src.storage, byteOffset: src.offset * 4 }, src.numel() * 4);
      src.dispose();
      if (t !== this) t.dispose();
      t = out;
    }
    if (t === this) return this.identity('ToBackward');
    const from = this.device;
    return dt === 'float32' && this.dtype === 'float32' ? F.viewOp(this, t, 'ToBackward', (g) => g.to(from)) : t;
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  /** A copy of this CPU tensor in page-locked (pinned) host memory, or this tensor if it already is (needs CUDA). */
  pinMemory(): Tensor {
    if (this.device.type !== 'cpu') throw ckError('ERR_DEVICE', `pinMemory(): only CPU tensors can be pinned, this one is on ${this.device}`);
    if (this.isPinned()) return this;
    const src = this.contiguous();
    const out = new Tensor(new StorageRef(native.allocPinned(src.numel() * 4)), this.shape, contiguousStrides(this.shape), 0, this.dtype, CPU);
    native.copyBytes({ storage: out.storage, byteOffset: 0 }, { storage: src.storage, byteOffset: src.offset * 4 }, src.numel() * 4);
    if (src !== this) src.dispose();
    return out;
  }
  /** Whether this tensor's storage is pinned host memory. */
  isPinned(): boolean {
    return this.storage.pinned;
  }
  cuda(index = 0): Tensor {
    return this.to(`cuda:${index}`);
  }
  float(): Tensor {
    return this.to('float32');
  }
  int(): Tensor {
    return this.to('int32');
  }

  // ---- reading data ---------------------------------------------------------------------------
  /** The elements in row-major order, copied to the host. */
  dataSync(): Float32Array | Int32Array {
    const c = this.isContiguous() ? this.viewOf(this.shape, this.strides, this.offset) : ew.unary(this, ew.U.Copy);
    try {
      const n = c.numel();
      const out = this.dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
      if (n > 0) native.download({ storage: c.storage, byteOffset: c.offset * 4 }, out);
      return out;
    } finally {
      c.dispose();
    }
  }
  /** The elements in row-major order, as a Promise (the copy runs before it resolves). */
  async data(): Promise<Float32Array | Int32Array> {
    return this.dataSync();
  }
  /** Nested arrays of numbers, shaped like the tensor (a number for a 0-d tensor). */
  toArray(): NestedArray {
    const flat = this.dataSync();
    if (this.ndim === 0) return flat[0];
    const build = (d: number, off: number): NestedArray[] => {
      const n = this.shape[d];
      const out: NestedArray[] = new Array(n);
      const step = numelOf(this.shape.slice(d + 1));
      for (let i = 0; i < n; i++) out[i] = d === this.ndim - 1 ? flat[off + i] : build(d + 1, off + i * step);
      return out;
    };
    return build(0, 0);
  }
  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel() !== 1) throw shapeError(`item() needs a tensor with one element, got shape ${fmtShape(this.shape)}`);
    return this.dataSync()[0];
  }
  /** A contiguous copy with its own buffer. */
  clone(): Tensor {
    return this.identity('CloneBackward', ew.unary(this, ew.U.Copy));
  }
  /** A view sharing the buffer, cut off from autograd. */
  detach(): Tensor {
    return this.viewOf(this.shape, this.strides, this.offset);
  }

  // ---- elementwise ----------------------------------------------------------------------------
  add(o: TensorOrScalar, alpha = 1): Tensor {
    return F.add(this, o, alpha);
  }
  sub(o: TensorOrScalar, alpha = 1): Tensor {
    return F.sub(this, o, alpha);
  }
  mul(o: TensorOrScalar): Tensor {
    return F.mul(this, o);
  }
  div(o: TensorOrScalar): Tensor {
    return F.div(this, o);
  }
  pow(o: TensorOrScalar): Tensor {
    return F.pow(this, o);
  }
  maximum(o: TensorOrScalar): Tensor {
    return F.maximum(this, o, true);
  }
  minimum(o: TensorOrScalar): Tensor {
    return F.maximum(this, o, false);
  }
  neg(): Tensor {
    return F.neg(this);
  }
  exp(): Tensor {
    return F.exp(this);
  }
  log(): Tensor {
    return F.log(this);
  }
  sqrt(): Tensor {
    return F.sqrt(this);
  }
  rsqrt(): Tensor {
    return F.rsqrt(this);
  }
  abs(): Tensor {
    return F.abs(this);
  }
  relu(): Tensor {
    return NNF.relu(this);
  }
  /** torch.Tensor.softmax(dim): nn.functional.softmax over dim (float32, with autograd). */
  softmax(dim: number): Tensor {
    return NNF.softmax(this, dim);
  }
  /** torch.Tensor.log_softmax(dim): nn.functional.logSoftmax over dim (float32, with autograd). */
  logSoftmax(dim: number): Tensor {
    return NNF.logSoftmax(this, dim);
  }
  sigmoid(): Tensor {
    return F.sigmoid(this);
  }
  tanh(): Tensor {
    return F.tanh(this);
  }
  square(): Tensor {
    return F.square(this);
  }
  reciprocal(): Tensor {
    return F.reciprocal(this);
  }
  sign(): Tensor {
    return F.zeroGrad(ew.U.Sign, 'SignBackward')(this);
  }
  floor(): Tensor {
    return F.zeroGrad(ew.U.Floor, 'FloorBackward')(this);
  }
  ceil(): Tensor {
    return F.zeroGrad(ew.U.Ceil, 'CeilBackward')(this);
  }
  round(): Tensor {
    return F.zeroGrad(ew.U.Round, 'RoundBackward')(this);
  }
  log1p(): Tensor {
    return F.log1p(this);
  }
  expm1(): Tensor {
    return F.expm1(this);
  }
  sin(): Tensor {
    return F.sin(this);
  }
  cos(): Tensor {
    return F.cos(this);
  }
  /**
   * Clamps to [min, max]; either bound may be omitted (null/undefined). A bound may be a tensor that
   * broadcasts with this one (torch.clamp(x, min=t)).
   */
  clamp(min?: TensorOrScalar | null, max?: TensorOrScalar | null): Tensor {
    if (min instanceof Tensor || max instanceof Tensor) return IX.clampTensor(this, min, max);
    return F.clamp(this, min, max);
  }
  clip(min?: TensorOrScalar | null, max?: TensorOrScalar | null): Tensor {
    return this.clamp(min, max);
  }
  eq(o: TensorOrScalar): Tensor {
    return ew.binary(this, o, ew.B.Eq);
  }
  ne(o: TensorOrScalar): Tensor {
    return ew.binary(this, o, ew.B.Ne);
  }
  lt(o: TensorOrScalar): Tensor {
    return ew.binary(this, o, ew.B.Lt);
  }
  le(o: TensorOrScalar): Tensor {
    return ew.binary(this, o, ew.B.Le);
  }
  gt(o: TensorOrScalar): Tensor {
    return ew.binary(this, o, ew.B.Gt);
  }
  ge(o: TensorOrScalar): Tensor {
    return ew.binary(this, o, ew.B.Ge);
  }

  // ---- reductions -----------------------------------------------------------------------------
  sum(dim?: number | number[], opts: ReduceOptions | boolean = {}): Tensor {
    return F.sum(this, dim, opts);
  }
  mean(dim?: number | number[], opts: ReduceOptions | boolean = {}): Tensor {
    return F.mean(this, dim, opts);
  }
  prod(dim?: number, opts: ReduceOptions | boolean = {}): Tensor {
    return F.prod(this, dim, opts);
  }
  /** Max of all elements, or {values, indices} along dim as torch.max(x, dim). */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return F.amax(this, undefined, {}, true, true);
    return F.maxDim(this, dim, keepdim, true);
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return F.amax(this, undefined, {}, false, true);
    return F.maxDim(this, dim, keepdim, false);
  }
  amax(dim?: number | number[], opts: ReduceOptions | boolean = {}): Tensor {
    return F.amax(this, dim, opts, true);
  }
  amin(dim?: number | number[], opts: ReduceOptions | boolean = {}): Tensor {
    return F.amax(this, dim, opts, false);
  }
  /** Index of the max (int32); over the flattened tensor when dim is omitted. */
  argmax(dim?: number, keepdim = false): Tensor {
    return F.argExtreme(this, dim, keepdim, true);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return F.argExtreme(this, dim, keepdim, false);
  }
  var(dim?: number | number[], opts: VarOptions = {}): Tensor {
    return F.variance(this, dim, opts);
  }
  std(dim?: number | number[], opts: VarOptions = {}): Tensor {
    const v = F.variance(this, dim, opts);
    const s = v.sqrt();
    v.dispose();
    return s;
  }

  // ---- indexing (ops/indexing.ts) ------------------------------------------------------------------
  /** torch.where(condition, this, other): this where condition is non-zero, else other (broadcast together). */
  where(condition: Tensor, other: TensorOrScalar): Tensor {
    return IX.where(condition, this, other);
  }
  /** value where mask (broadcast to this shape) is non-zero; keeps this shape and dtype. */
  maskedFill(mask: Tensor, value: TensorOrScalar): Tensor {
    return IX.maskedFill(this, mask, value);
  }
  /** out[i][j] = this[index[i][j]][j] along dim (index: int32, as many dims as this). */
  gather(dim: number, index: Tensor): Tensor {
    return IX.gather(this, dim, index);
  }
  /** A copy with src written at index along dim (src: a tensor or a number). */
  scatter(dim: number, index: Tensor, src: TensorOrScalar): Tensor {
    return IX.scatter(this, dim, index, src);
  }
  /** A copy with src added at index along dim (duplicate indices add up). */
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return IX.scatterAdd(this, dim, index, src);
  }
  /** The entries at the 1-d index along dim. */
  indexSelect(dim: number, index: Tensor): Tensor {
    return IX.indexSelect(this, dim, index);
  }
  /** Sorted along dim (default -1), stably; NaN above every number. Indices are int32. */
  sort(dim = -1, opts: IX.SortOptions | boolean = {}): { values: Tensor; indices: Tensor } {
    return IX.sort(this, dim, opts);
  }
  /** The indices that sort this along dim (int32). */
  argsort(dim = -1, opts: IX.SortOptions | boolean = {}): Tensor {
    return IX.argsort(this, dim, opts);
  }
  /** The k largest (or smallest) along opts.dim (default -1), as torch.topk. */
  topk(k: number, opts: IX.TopkOptions = {}): { values: Tensor; indices: Tensor } {
    return IX.topk(this, k, opts);
  }

  // ---- linear algebra -------------------------------------------------------------------------
  matmul(o: Tensor): Tensor {
    return F.matmul(this, o);
  }
}
