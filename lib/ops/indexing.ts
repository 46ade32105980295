/**
 * The index family, PyTorch's spellings: cat, stack, where, maskedFill, clamp with tensor bounds, gather,
 * scatter / scatterAdd, indexSelect, sort / argsort / topk. Each op checks its arguments here, runs one
 * native kernel (csrc/cpu/index_ops.cc, cuda/index_ops.cu) and records its backward beside it, itself
 * made of these kernels: where's gradient is a where, gather's a scatterAdd, sort's and topk's a scatter.
 * Broadcast operands reach the kernels as stride-0 views (never materialised); indices are int32 tensors
 * (the library stores int64 as int32) and a bad one is ERR_INDEX naming the op, on either device.
 */
import { native, ViewOperand } from '../binding';
import { needsGrad, record, sumTo } from '../autograd/functions';
import { noGrad, rawModule } from '../autograd/grad_mode';
import { DType, DTYPE_CODE, promote } from '../dtype';
import { ckError, ConvkitError, fmtShape, shapeError } from '../errors';
import { broadcastShapes } from '../shape';
import { Tensor, TensorOrScalar } from '../tensor';
import { callNative, contiguousHandle, fillRun, operand, produce, viewOperand } from './native_call';
import * as ewRaw from './elementwise';

const ew = rawModule(ewRaw);

// ---- argument checks ----------------------------------------------------------------------------

function tensorArg(op: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw ckError('ERR_ARG', `${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`, 'TypeError');
  return t;
}

/** dim in [-max(n,1), max(n,1)) (PyTorch's wrap rule: a 0-d tensor takes -1 and 0), else ERR_INDEX naming op. */
function dimArg(op: string, dim: unknown, n: number): number {
  const r = Math.max(n, 1);
  if (typeof dim !== 'number' || !Number.isInteger(dim))
    throw ckError('ERR_ARG', `${op}: dim must be an integer, got ${typeof dim === 'number' ? dim : typeof dim}`, 'TypeError');
  if (dim < -r || dim >= r)
    throw ckError('ERR_INDEX', `${op}: dim ${dim} is out of range for a tensor of rank ${n} (expected a dim in [${-r}, ${r - 1}])`, 'RangeError');
  return dim < 0 ? dim + r : dim;
}

function indexArg(op: string, index: unknown): Tensor {
  const t = tensorArg(op, 'index', index);
  if (t.dtype !== 'int32') throw ckError('ERR_DTYPE', `${op}: index must hold integers (int32/int64), got ${t.dtype}`, 'TypeError');
  return t;
}

function sameDeviceAs(op: string, first: [string, Tensor], ...rest: [string, Tensor | null][]): void {
  for (const [name, t] of rest)
    if (t && !t.device.equals(first[1].device))
      throw ckError('ERR_DEVICE', `${op}: ${name} is on ${t.device} but ${first[0]} is on ${first[1].device}`);
}

/** A strided operand: t's storage read through `shape` and `strides` from t's offset. */
function viewAs(t: Tensor, shape: readonly number[], strides: readonly number[], offset = t.offset): ViewOperand {
  return { storage: t.storage, layout: [shape.length, offset, ...shape, ...strides] };
}

/** t broadcast to shape, as a view operand (stride 0 where broadcast). */
function broadcastView(t: Tensor, shape: readonly number[]): ViewOperand {
  const lead = shape.length - t.ndim;
  const strides = shape.map((s, d) => (d < lead || t.shape[d - lead] !== s ? 0 : t.strides[d - lead]));
  return viewAs(t, shape, strides);
}

function castTo(t: Tensor, dtype: DType): Tensor {
  return t.dtype === dtype ? t.detach() : ew.unary(t, ew.U.Copy, 0, 0, dtype);
}

function zerosOf(shape: readonly number[], dtype: DType, like: Tensor): Tensor {
  const z = Tensor.empty(shape, dtype, like.device);
  if (z.numel()) fillRun(z, 0);
  return z;
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---- cat / stack ----------------------------------------------------------------------------------

/** Joins contiguous copies of `parts` along d of `shape` (each part's extent in d is sizes[i]): one kernel per 32. */
function joinRaw(parts: Tensor[], sizes: number[], shape: number[], d: number): Tensor {
  const out = Tensor.empty(shape, parts[0].dtype, parts[0].device);
  const handles: Tensor[] = [];
  return produce(out, handles, () => {
    for (const p of parts) handles.push(contiguousHandle(p));
    const outer = numelOf(shape.slice(0, d));
    const inner = numelOf(shape.slice(d + 1));
    native.cat({ outer, inner, total: shape[d], sizes }, { inputs: handles.map(operand), output: operand(out) });
  });
}

function tensorList(op: string, tensors: unknown): Tensor[] {
  if (!Array.isArray(tensors) || tensors.length === 0) throw ckError('ERR_ARG', `${op}: expected a non-empty array of tensors`, 'TypeError');
  tensors.forEach((t, i) => tensorArg(op, `tensors[${i}]`, t));
  const ts = tensors as Tensor[];
  ts.forEach((t, i) => sameDeviceAs(op, ['tensors[0]', ts[0]], [`tensors[${i}]`, t]));
  return ts;
}

/** The dtype every part is cast to: float32 when any is (PyTorch's type promotion). */
function commonDType(ts: Tensor[]): DType {
  return ts.reduce<DType>((d, t) => promote(d, t.dtype), ts[0].dtype);
}

/**
 * torch.cat: tensors equal in every dim but `dim`, joined along it; mixed dtypes promote to float32; 1-d
 * empty tensors are skipped, as PyTorch's legacy rule. The gradient of each input is its slice.
 */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  const all = tensorList('cat', tensors);
  const used = all.filter((t) => !(t.ndim === 1 && t.shape[0] === 0));
  const ts = used.length ? used : [all[0]];
  const first = ts[0];
  if (first.ndim === 0) throw shapeError('cat: zero-dimensional tensors cannot be concatenated (unsqueeze them, or use stack)');
  const d = dimArg('cat', dim, first.ndim);
  for (const t of ts)
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i]))
      throw shapeError(`cat: sizes must match except in dim ${d}, got ${ts.map((x) => fmtShape(x.shape)).join(' and ')}`);
  const sizes = ts.map((t) => t.shape[d]);
  const shape = [...first.shape];
  shape[d] = sizes.reduce((a, b) => a + b, 0);
  const dtype = commonDType(ts);
  const parts = ts.map((t) => castTo(t, dtype));
  let out: Tensor;
  try {
    out = joinRaw(parts, sizes, shape, d);
  } finally {
    for (const p of parts) p.dispose();
  }
  if (!needsGrad(...ts)) return out;
  const offs = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  return record(out, 'CatBackward', ts, () => (g) =>
    ts.map((t, i) => {
      if (!t.requiresGrad) return null;
      const v = g.narrow(d, offs[i], sizes[i]);
      const c = contiguousHandle(v);
      v.dispose();
      return c;
    }),
  );
}

/** torch.stack: tensors of one shape joined along a new dim; the gradient of each is its slice. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  const ts = tensorList('stack', tensors);
  const first = ts[0];
  for (const t of ts)
    if (t.ndim !== first.ndim || t.shape.some((s, i) => s !== first.shape[i]))
      throw shapeError(`stack: expects each tensor to be equal size, got ${ts.map((x) => fmtShape(x.shape)).join(' and ')}`);
  const d = dimArg('stack', dim, first.ndim + 1);
  const shape = [...first.shape];
  shape.splice(d, 0, ts.length);
  const dtype = commonDType(ts);
  const parts = ts.map((t) => castTo(t, dtype));
  let out: Tensor;
  try {
    out = joinRaw(parts, ts.map(() => 1), shape, d);
  } finally {
    for (const p of parts) p.dispose();
  }
  if (!needsGrad(...ts)) return out;
  return record(out, 'StackBackward', ts, () => (g) =>
    ts.map((t, i) => {
      if (!t.requiresGrad) return null;
      const v = g.select(d, i);
      const c = contiguousHandle(v);
      v.dispose();
      return c;
    }),
  );
}

// ---- where / maskedFill ------------------------------------------------------------------------------

function scalarDType(v: number): DType {
  return Number.isInteger(v) ? 'int32' : 'float32';
}

/** cond ? a : b over `shape` (every operand broadcast to it) in dtype; a or b a number. Not recorded. */
function whereRaw(cond: Tensor, a: TensorOrScalar, b: TensorOrScalar, shape: number[], dtype: DType): Tensor {
  const ca = a instanceof Tensor ? castTo(a, dtype) : null;
  const cb = b instanceof Tensor ? castTo(b, dtype) : null;
  const out = Tensor.empty(shape, dtype, cond.device);
  return produce(out, [ca, cb], () =>
    native.where(
      { condDtype: DTYPE_CODE[cond.dtype], dtype: DTYPE_CODE[dtype], aScalar: ca ? 0 : (a as number), bScalar: cb ? 0 : (b as number) },
      {
        condition: broadcastView(cond, shape),
        a: ca ? broadcastView(ca, shape) : null,
        b: cb ? broadcastView(cb, shape) : null,
        output: operand(out),
      },
    ),
  );
}

function numberOrTensor(op: string, name: string, v: unknown): TensorOrScalar {
  if (v instanceof Tensor || typeof v === 'number') return v;
  throw ckError('ERR_ARG', `${op}: ${name} must be a Tensor or a number, got ${v === null ? 'null' : typeof v}`, 'TypeError');
}

/** The gradient of a where branch: g where the branch was taken, else 0, summed to the branch's shape. */
function branchGrad(cond: Tensor, g: Tensor, taken: boolean, shape: readonly number[]): Tensor {
  const s = taken ? whereRaw(cond, g, 0, [...g.shape], 'float32') : whereRaw(cond, 0, g, [...g.shape], 'float32');
  const r = sumTo(s, shape);
  s.dispose();
  return r;
}

/**
 * torch.where(condition, input, other): input where condition is non-zero, else other; all three broadcast
 * together; input or other may be a number. The result's dtype promotes (float32 if either side is).
 */
export function where(condition: Tensor, input: TensorOrScalar, other: TensorOrScalar): Tensor {
  const cond = tensorArg('where', 'condition', condition);
  const a = numberOrTensor('where', 'input', input);
  const b = numberOrTensor('where', 'other', other);
  sameDeviceAs('where', ['condition', cond], ['input', a instanceof Tensor ? a : null], ['other', b instanceof Tensor ? b : null]);
  let shape = [...cond.shape];
  for (const t of [a, b]) if (t instanceof Tensor) shape = broadcastShapes(shape, t.shape, 'where');
  const dtype = promote(a instanceof Tensor ? a.dtype : scalarDType(a), b instanceof Tensor ? b.dtype : scalarDType(b));
  const out = whereRaw(cond, a, b, shape, dtype);
  if (!needsGrad(a, b)) return out;
  return record(out, 'WhereBackward', [cond, a, b], (save) => {
    const sc = save(cond);
    const needA = a instanceof Tensor && a.requiresGrad;
    const needB = b instanceof Tensor && b.requiresGrad;
    const shapeA = a instanceof Tensor ? a.shape : [];
    const shapeB = b instanceof Tensor ? b.shape : [];
    return (g) => [null, needA ? branchGrad(sc, g, true, shapeA) : null, needB ? branchGrad(sc, g, false, shapeB) : null];
  });
}

/**
 * Tensor.masked_fill(mask, value): value where mask is non-zero; mask broadcasts to input's shape, which
 * the result keeps, as does its dtype. value: a number or a 0-d tensor (which then receives a gradient).
 */
export function maskedFill(input: Tensor, mask: Tensor, value: TensorOrScalar): Tensor {
  const x = tensorArg('masked_fill', 'input', input);
  const m = tensorArg('masked_fill', 'mask', mask);
  const v = numberOrTensor('masked_fill', 'value', value);
  if (v instanceof Tensor && v.ndim !== 0)
    throw shapeError(`masked_fill: value must be a number or a 0-d tensor, got a tensor of shape ${fmtShape(v.shape)}`);
  sameDeviceAs('masked_fill', ['input', x], ['mask', m], ['value', v instanceof Tensor ? v : null]);
  const shape = broadcastShapes(x.shape, m.shape, 'masked_fill');
  if (shape.length !== x.ndim || shape.some((s, i) => s !== x.shape[i]))
    throw shapeError(`masked_fill: mask of shape ${fmtShape(m.shape)} does not broadcast to input of shape ${fmtShape(x.shape)}`);
  const out = whereRaw(m, v, x, shape, x.dtype);
  if (!needsGrad(x, v)) return out;
  return record(out, 'MaskedFillBackward', [x, m, v], (save) => {
    const sm = save(m);
    const needX = x.requiresGrad;
    const needV = v instanceof Tensor && v.requiresGrad;
    return (g) => [needX ? branchGrad(sm, g, false, x.shape) : null, null, needV ? branchGrad(sm, g, true, []) : null];
  });
}

// ---- clamp with tensor bounds ------------------------------------------------------------------------

/**
 * torch.clamp(input, min, max) where a bound is a tensor (a number beside it acts as a 0-d tensor): all
 * broadcast together; NaN where input or a given bound is NaN, else min(max(x, lo), hi). Gradients as
 * PyTorch's: input where lo <= x <= hi; min where x < min (< max); max where x > max (or max < min).
 */
export function clampTensor(input: Tensor, min?: TensorOrScalar | null, max?: TensorOrScalar | null): Tensor {
  const x = tensorArg('clamp', 'input', input);
  const bound = (name: string, v: unknown): TensorOrScalar | null => (v === undefined || v === null ? null : numberOrTensor('clamp', name, v));
  const lo0 = bound('min', min);
  const hi0 = bound('max', max);
  if (lo0 === null && hi0 === null) throw ckError('ERR_ARG', 'clamp: at least one of min and max must be given', 'TypeError');
  sameDeviceAs('clamp', ['input', x], ['min', lo0 instanceof Tensor ? lo0 : null], ['max', hi0 instanceof Tensor ? hi0 : null]);
  let dtype: DType = x.dtype;
  for (const v of [lo0, hi0]) if (v !== null) dtype = promote(dtype, v instanceof Tensor ? v.dtype : scalarDType(v));
  const asTensor = (v: TensorOrScalar | null): Tensor | null => {
    if (v === null) return null;
    if (v instanceof Tensor) return castTo(v, dtype);
    const t = Tensor.empty([], dtype, x.device);
    fillRun(t, v);
    return t;
  };
  const cx = castTo(x, dtype);
  const lo = asTensor(lo0);
  const hi = asTensor(hi0);
  let shape = [...x.shape];
  let out: Tensor;
  try {
    for (const t of [lo, hi]) if (t) shape = broadcastShapes(shape, t.shape, 'clamp');
    out = Tensor.empty(shape, dtype, x.device);
    try {
      native.clampTensor(
        { dtype: DTYPE_CODE[dtype] },
        { input: broadcastView(cx, shape), min: lo && broadcastView(lo, shape), max: hi && broadcastView(hi, shape), output: operand(out) },
      );
    } catch (e) {
      out.dispose();
      throw e;
    }
  } finally {
    for (const t of [cx, lo, hi]) t?.dispose();
  }
  if (!needsGrad(x, lo0, hi0) || dtype !== 'float32') return out;
  return record(out, 'ClampBackward', [x, lo0, hi0], (save) => {
    const sx = save(x);
    const slo = lo0 instanceof Tensor ? save(lo0) : lo0;
    const shi = hi0 instanceof Tensor ? save(hi0) : hi0;
    const need = [x.requiresGrad, lo0 instanceof Tensor && lo0.requiresGrad, hi0 instanceof Tensor && hi0.requiresGrad];
    const shapes = [x.shape, lo0 instanceof Tensor ? lo0.shape : [], hi0 instanceof Tensor ? hi0.shape : []];
    return (g) => {
      const bx = castTo(sx, 'float32');
      const blo = slo === null ? null : asTensorF(slo, x);
      const bhi = shi === null ? null : asTensorF(shi, x);
      const grads = need.map((n) => (n ? Tensor.empty(g.shape, 'float32', g.device) : null));
      try {
        callNative({ gradOutput: g }, { gradInput: grads[0], gradMin: grads[1], gradMax: grads[2] }, (o) =>
          native.clampTensorBackward({
            input: broadcastView(bx, g.shape),
            min: blo && broadcastView(blo, g.shape),
            max: bhi && broadcastView(bhi, g.shape),
            ...o,
          }),
        );
      } finally {
        for (const t of [bx, blo, bhi]) t?.dispose();
      }
      return grads.map((t, i) => {
        if (!t) return null;
        const r = sumTo(t, shapes[i]);
        t.dispose();
        return r;
      });
    };
  });
}

function asTensorF(v: TensorOrScalar, like: Tensor): Tensor {
  if (v instanceof Tensor) return castTo(v, 'float32');
  const t = Tensor.empty([], 'float32', like.device);
  fillRun(t, v);
  return t;
}

// ---- gather / scatter / indexSelect ------------------------------------------------------------------

/** Renames a native index error (raised under the kernel's name) after the op the user called. */
function asOp<T>(op: string, kernel: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const err = e as ConvkitError;
    if (err && err.code === 'ERR_INDEX' && op !== kernel && typeof err.message === 'string' && err.message.startsWith(`${kernel}:`))
      err.message = op + err.message.slice(kernel.length);
    throw e;
  }
}

/** t as a fresh handle of rank >= 1 (a 0-d tensor reads as one element); never recorded. */
function lift(t: Tensor): Tensor {
  const h = t.detach();
  if (t.ndim) return h;
  const r = h.reshape([1]);
  h.dispose();
  return r;
}

/** r reshaped to `shape` when lift changed the rank (r is consumed). */
function lower(r: Tensor, shape: readonly number[]): Tensor {
  if (r.ndim === shape.length) return r;
  const v = r.reshape([...shape]);
  r.dispose();
  return v;
}

/** out[i] = src[i with coordinate d := index[i]], of index's shape; the source's extent in d is the bound. Not recorded. */
function gatherRaw(src: Tensor, d: number, index: ViewOperand, indexShape: number[]): Tensor {
  const out = Tensor.empty(indexShape, src.dtype, src.device);
  const shape = [...indexShape];
  shape[d] = src.shape[d];
  return produce(out, [], () =>
    native.gather({ dim: d, dtype: DTYPE_CODE[src.dtype] }, { index, input: viewAs(src, shape, src.strides), output: viewOperand(out) }),
  );
}

/** Writes (add: adds) source[i] at index[i] along d into `target` (contiguous, owned by the caller). */
function scatterInto(target: Tensor, d: number, index: ViewOperand, indexShape: number[], source: ViewOperand, add: boolean): void {
  const shape = [...indexShape];
  shape[d] = target.shape[d];
  native.scatter({ dim: d, dtype: DTYPE_CODE[target.dtype], add }, { index, output: viewAs(target, shape, target.strides), source });
}

/** A contiguous copy of base with source[i] written (add: added) at index[i] along d. Not recorded. */
function scatterRaw(base: Tensor, d: number, index: ViewOperand, indexShape: number[], source: ViewOperand, add: boolean): Tensor {
  const out = Tensor.empty(base.shape, base.dtype, base.device);
  return produce(out, [], () => {
    out.copyFrom(base);
    scatterInto(out, d, index, indexShape, source, add);
  });
}

/** PyTorch's gather/scatter shape rules: one rank; index no larger than input (but in dim) nor than src. */
function checkIndexShape(op: string, index: Tensor, input: Tensor, d: number, src: Tensor | null): void {
  for (const [name, t] of [['input', input], ['src', src]] as const)
    if (t && t.ndim !== index.ndim)
      throw shapeError(`${op}: index ${fmtShape(index.shape)} must have as many dimensions as ${name} ${fmtShape(t.shape)}`);
  for (let k = 0; k < index.ndim; k++) {
    if (k !== d && index.shape[k] > input.shape[k])
      throw shapeError(`${op}: index ${fmtShape(index.shape)} is larger than input ${fmtShape(input.shape)} apart from dimension ${d}`);
    if (src && index.shape[k] > src.shape[k])
      throw shapeError(`${op}: index ${fmtShape(index.shape)} is larger than src ${fmtShape(src.shape)}`);
  }
}

/** zeros of `shape` with g scattered (add, or assign) at index along d: the backward of gather, sort and topk. */
function scatterZeros(shape: readonly number[], d: number, index: Tensor, g: Tensor, add: boolean): Tensor {
  const z = zerosOf(shape.length ? shape : [1], 'float32', g);
  const li = lift(index);
  const lg = lift(g);
  return produce(z, [li, lg], () => {
    scatterInto(z, d, viewOperand(li), [...li.shape], viewAs(lg, [...li.shape], lg.strides), add);
    return lower(z, shape);
  });
}

/** The backward of max/min along dim: g at the chosen indices in zeros of `shape` (one scatter kernel). */
export function scatterAlong(g: Tensor, index: Tensor, shape: readonly number[], dim: number, keepdim: boolean): Tensor {
  if (keepdim || shape.length === 0) return scatterZeros(shape, dim, index, g, false);
  const gi = g.unsqueeze(dim);
  const ii = index.unsqueeze(dim);
  try {
    return scatterZeros(shape, dim, ii, gi, false);
  } finally {
    gi.dispose();
    ii.dispose();
  }
}

/** torch.gather(input, dim, index): out[i][j] = input[index[i][j]][j] (dim 0), of index's shape. */
export function gather(input: Tensor, dim: number, index: Tensor): Tensor {
  const x = tensorArg('gather', 'input', input);
  const ix = indexArg('gather', index);
  sameDeviceAs('gather', ['input', x], ['index', ix]);
  const d = dimArg('gather', dim, x.ndim);
  checkIndexShape('gather', ix, x, d, null);
  const lx = lift(x);
  const li = lift(ix);
  let out: Tensor;
  try {
    out = lower(gatherRaw(lx, d, viewOperand(li), [...li.shape]), ix.shape);
  } finally {
    lx.dispose();
    li.dispose();
  }
  if (!needsGrad(x)) return out;
  return record(out, 'GatherBackward', [x, ix], (save) => {
    const si = save(ix);
    return (g) => [scatterZeros(x.shape, d, si, g, true), null];
  });
}

function scatterOp(op: 'scatter' | 'scatter_add', input: Tensor, dim: number, index: Tensor, src: TensorOrScalar): Tensor {
  const x = tensorArg(op, 'input', input);
  const ix = indexArg(op, index);
  const s = op === 'scatter' ? numberOrTensor(op, 'src', src) : tensorArg(op, 'src', src);
  sameDeviceAs(op, ['input', x], ['index', ix], ['src', s instanceof Tensor ? s : null]);
  const d = dimArg(op, dim, x.ndim);
  checkIndexShape(op, ix, x, d, s instanceof Tensor ? s : null);
  const lx = lift(x);
  const li = lift(ix);
  const ishape = [...li.shape];
  let st: Tensor;
  if (s instanceof Tensor) st = castTo(s, x.dtype);
  else {
    st = Tensor.empty([], x.dtype, x.device);
    fillRun(st, s);
  }
  const ls = lift(st);
  st.dispose();
  let out: Tensor;
  try {
    const srcView = viewAs(ls, ishape, s instanceof Tensor ? ls.strides : ishape.map(() => 0));
    out = lower(scatterRaw(lx, d, viewOperand(li), ishape, srcView, op === 'scatter_add'), x.shape);
  } finally {
    for (const t of [lx, li, ls]) t.dispose();
  }
  if (!needsGrad(x, s)) return out;
  return record(out, op === 'scatter' ? 'ScatterBackward' : 'ScatterAddBackward', [x, ix, s], (save) => {
    const si = save(ix);
    const needX = x.requiresGrad;
    const needS = s instanceof Tensor && s.requiresGrad;
    const srcShape = s instanceof Tensor ? s.shape : [];
    return (g) => {
      let gx: Tensor | null = null;
      if (needX && op === 'scatter_add') gx = contiguousHandle(g);
      else if (needX) {
        // scatter overwrote those places: their gradient is 0 (g with zeros scattered in)
        const zero = Tensor.empty([], 'float32', g.device);
        fillRun(zero, 0);
        const lg = lift(g);
        const lsi = lift(si);
        try {
          const shape = [...lsi.shape];
          gx = lower(scatterRaw(lg, d, viewOperand(lsi), shape, viewAs(zero, shape, shape.map(() => 0)), false), g.shape);
        } finally {
          for (const t of [zero, lg, lsi]) t.dispose();
        }
      }
      let gs: Tensor | null = null;
      if (needS) {
        const lg = lift(g);
        const lsi = lift(si);
        try {
          const picked = gatherRaw(lg, d, viewOperand(lsi), [...lsi.shape]);
          if (sameShapeAs(picked.shape, srcShape)) gs = picked;
          else {
            // src larger than index: what scatter never read has a zero gradient
            gs = zerosOf(srcShape, 'float32', g);
            native.copy({ source: viewOperand(picked), destination: viewAs(gs, picked.shape, gs.strides) });
            picked.dispose();
          }
        } finally {
          lg.dispose();
          lsi.dispose();
        }
      }
      return [gx, null, gs];
    };
  });
}

function sameShapeAs(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** Tensor.scatter(dim, index, src): a copy of input with src[i] written at index[i] along dim; src may be a number. */
export function scatter(input: Tensor, dim: number, index: Tensor, src: TensorOrScalar): Tensor {
  return scatterOp('scatter', input, dim, index, src);
}

/** Tensor.scatter_add(dim, index, src): a copy of input with src[i] added at index[i] along dim (duplicates add up). */
export function scatterAdd(input: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  return scatterOp('scatter_add', input, dim, index, src);
}

/** torch.index_select(input, dim, index): the entries of input at the 1-d (or 0-d) index along dim. */
export function indexSelect(input: Tensor, dim: number, index: Tensor): Tensor {
  const x = tensorArg('index_select', 'input', input);
  const ix = indexArg('index_select', index);
  sameDeviceAs('index_select', ['input', x], ['index', ix]);
  if (ix.ndim > 1) throw shapeError(`index_select: index must be 0-d or 1-d, got shape ${fmtShape(ix.shape)}`);
  const d = dimArg('index_select', dim, x.ndim);
  const xs = x.ndim === 0 ? [1] : [...x.shape];
  const k = ix.numel();
  const outShape = [...xs];
  outShape[d] = k;
  // The index as a view of the output's shape: its one stride in d, 0 elsewhere (never materialised).
  const iv = viewAs(ix, outShape, outShape.map((_, j) => (j === d && ix.ndim === 1 ? ix.strides[0] : 0)));
  const xr = lift(x);
  let out: Tensor;
  try {
    out = lower(asOp('index_select', 'gather', () => gatherRaw(xr, d, iv, outShape)), x.shape);
  } finally {
    xr.dispose();
  }
  if (!needsGrad(x)) return out;
  return record(out, 'IndexSelectBackward', [x, ix], (save) => {
    const si = save(ix);
    return (g) => {
      const siv = viewAs(si, outShape, outShape.map((_, j) => (j === d && si.ndim === 1 ? si.strides[0] : 0)));
      const z = zerosOf(xs, 'float32', g);
      const gv = lift(g);
      const gx = produce(z, [gv], () => {
        scatterInto(z, d, siv, outShape, viewAs(gv, outShape, gv.strides), true);
        return lower(z, x.shape);
      });
      return [gx, null];
    };
  });
}

// ---- sort / argsort / topk ---------------------------------------------------------------------------

export interface SortResult {
  values: Tensor;
  indices: Tensor;
}

/** The first k of each slice along d in order; PyTorch's CPU topk tie order when topkOrder. Recorded. */
function sortAlong(op: string, x: Tensor, d: number, k: number, descending: boolean, topkOrder: boolean, sorted: boolean): SortResult {
  const shape = x.ndim === 0 ? [1] : [...x.shape];
  const last = shape.length - 1;
  const xv = lift(x);
  const moved = d === last ? xv : xv.transpose(d, last);
  if (moved !== xv) xv.dispose();
  const n = shape[d];
  const rows = n === 0 ? 0 : numelOf(shape) / n;
  const outShape = [...moved.shape];
  outShape[last] = k;
  const values = Tensor.empty(outShape, x.dtype, x.device);
  const indices = Tensor.empty(outShape, 'int32', x.device);
  try {
    callNative({ input: moved }, { values, indices }, (o) =>
      native.sort({ rows, n, k, descending, topkOrder, sorted, dtype: DTYPE_CODE[x.dtype] }, o),
    );
  } finally {
    moved.dispose();
  }
  const back = (t: Tensor): Tensor => {
    if (x.ndim === 0) return t.reshape([]);
    if (d === last) return t;
    return t.transpose(d, last);
  };
  const v = back(values);
  const ix = back(indices);
  if (v !== values) values.dispose();
  if (ix !== indices) indices.dispose();
  if (needsGrad(x))
    record(v, op === 'topk' ? 'TopkBackward' : 'SortBackward', [x], (save) => {
      const si = save(ix);
      return (g) => [scatterZeros(x.shape, d, si, g, false)];
    });
  return { values: v, indices: ix };
}

export interface SortOptions {
  /** Largest first (default false). */
  descending?: boolean;
  /** Accepted for PyTorch's signature: the sort is always stable (ties keep their order). */
  stable?: boolean;
}

function sortDir(op: string, descending: unknown): boolean {
  if (descending === undefined) return false;
  if (typeof descending !== 'boolean') throw ckError('ERR_ARG', `${op}: descending must be a boolean, got ${typeof descending}`, 'TypeError');
  return descending;
}

/**
 * torch.sort(input, dim=-1, descending=False): {values, indices} (indices int32). Stable: equal values keep
 * their order (torch.sort(stable=True)); NaN sorts above every number, as PyTorch.
 */
export function sort(input: Tensor, dim = -1, opts: SortOptions | boolean = {}): SortResult {
  const x = tensorArg('sort', 'input', input);
  const d = dimArg('sort', dim, x.ndim);
  const desc = sortDir('sort', typeof opts === 'boolean' ? opts : opts.descending);
  const n = x.ndim === 0 ? 1 : x.shape[d];
  return sortAlong('sort', x, x.ndim === 0 ? 0 : d, n, desc, false, true);
}

/** torch.argsort(input, dim=-1, descending=False): the indices of sort (int32). */
export function argsort(input: Tensor, dim = -1, opts: SortOptions | boolean = {}): Tensor {
  const r = noGrad(() => sort(input, dim, opts)); // integer result: nothing to record
  r.values.dispose();
  return r.indices;
}

export interface TopkOptions {
  /** Along this dim (default -1). */
  dim?: number;
  /** The k largest (default) or smallest. */
  largest?: boolean;
  /** In order (default); false may leave them in any order, as PyTorch. */
  sorted?: boolean;
}

/**
 * torch.topk(input, k, dim=-1, largest=True, sorted=True): {values, indices}. NaN counts as the largest.
 * Equal values come out in PyTorch's CPU order on the CPU and by index on CUDA (PyTorch's CPU and CUDA
 * topk differ on ties too).
 */
export function topk(input: Tensor, k: number, opts: TopkOptions = {}): SortResult {
  const x = tensorArg('topk', 'input', input);
  const d = dimArg('topk', opts.dim ?? -1, x.ndim);
  const n = x.ndim === 0 ? 1 : x.shape[d];
  if (typeof k !== 'number' || !Number.isInteger(k)) throw ckError('ERR_ARG', `topk: k must be an integer, got ${typeof k === 'number' ? k : typeof k}`, 'TypeError');
  if (k < 0 || k > n) throw ckError('ERR_INDEX', `topk: k ${k} is out of range for dimension ${d} of size ${n}`, 'RangeError');
  for (const key of ['largest', 'sorted'] as const)
    if (opts[key] !== undefined && typeof opts[key] !== 'boolean')
      throw ckError('ERR_ARG', `topk: ${key} must be a boolean, got ${typeof opts[key]}`, 'TypeError');
  return sortAlong('topk', x, x.ndim === 0 ? 0 : d, k, opts.largest ?? true, true, opts.sorted ?? true);
}
