/**
 * The differentiable tensor ops: each runs its forward on the raw kernels (ops/), and when grad mode is
 * on and an input requires grad, records a Node whose backward reduces broadcast dims correctly. Backward
 * functions run with grad mode off and must return fresh tensor handles (the engine disposes what it's given).
 */
import { shapeError, fmtShape } from '../errors';
import { sameShape } from '../shape';
import { Tensor, TensorOrScalar } from '../tensor';
import * as ewRaw from '../ops/elementwise';
import * as redRaw from '../ops/reduce';
import * as mmRaw from '../ops/matmul';
import { fillRun } from '../ops/native_call';
import { makeTensor } from '../transforms/lazy_tensor';
// Used at call time only (ops/indexing imports this module).
import * as IX from '../ops/indexing';
import { isGradEnabled, rawModule } from './grad_mode';
import { BackwardFn, Node } from './node';

const ew = rawModule(ewRaw);
const red = rawModule(redRaw);
const rawMatmul = rawModule(mmRaw).matmul;

export function needsGrad(...ts: (TensorOrScalar | null | undefined)[]): boolean {
  if (!isGradEnabled()) return false;
  for (const t of ts) if (t instanceof Tensor && t.requiresGrad) return true;
  return false;
}

/** Attaches a Node to `out`; `make` receives a save() that keeps tensors for backward. */
export function record(out: Tensor, name: string, inputs: (TensorOrScalar | null | undefined)[], make: (save: (t: Tensor) => Tensor) => BackwardFn): Tensor {
  if (out.dtype !== 'float32') return out; // integer results carry no gradient
  const node = new Node(name, (g) => fn(g));
  node.next = inputs.map((t) => (t instanceof Tensor && t.requiresGrad ? t.gradNode() : null));
  const fn = make((t) => node.save(t));
  out.setGradFn(node);
  return out;
}

/** Sums a gradient down to `shape` (undoing broadcasting); always a fresh handle. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g.detach();
  const lead = g.ndim - shape.length;
  if (lead < 0) throw shapeError(`gradient of shape ${fmtShape(g.shape)} cannot be summed to ${fmtShape(shape)}`);
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  const s = red.reduce(g, red.R.Sum, dims, { keepdim: true });
  const r = s.reshape([...shape]);
  s.dispose();
  return r;
}

// ---- elementwise ------------------------------------------------------------------------------------

export function add(a: Tensor, b: TensorOrScalar, alpha = 1): Tensor {
  const out = ew.add(a, b, alpha);
  if (!needsGrad(a, b)) return out;
  const as = a.shape;
  const bs = b instanceof Tensor ? b.shape : null;
  return record(out, 'AddBackward', [a, b], () => (g) => [
    a.requiresGrad ? sumTo(g, as) : null,
    bs && (b as Tensor).requiresGrad ? (alpha === 1 ? sumTo(g, bs) : scaledSum(g, alpha, bs)) : null,
  ]);
}

export function sub(a: Tensor, b: TensorOrScalar, alpha = 1): Tensor {
  const out = ew.sub(a, b, alpha);
  if (!needsGrad(a, b)) return out;
  const as = a.shape;
  const bs = b instanceof Tensor ? b.shape : null;
  return record(out, 'SubBackward', [a, b], () => (g) => {
    const gb = bs && (b as Tensor).requiresGrad ? scaledSum(g, -alpha, bs) : null;
    return [a.requiresGrad ? sumTo(g, as) : null, gb];
  });
}

function scaledSum(g: Tensor, by: TensorOrScalar, shape: readonly number[]): Tensor {
  const t = g.mul(by);
  const r = sumTo(t, shape);
  t.dispose();
  return r;
}

export function mul(a: Tensor, b: TensorOrScalar): Tensor {
  const out = ew.mul(a, b);
  if (!needsGrad(a, b)) return out;
  if (typeof b === 'number') return record(out, 'MulBackward', [a], () => (g) => [g.mul(b)]);
  return record(out, 'MulBackward', [a, b], (save) => {
    const sa = b.requiresGrad ? save(a) : null;
    const sb = a.requiresGrad ? save(b) : null;
    const as = a.shape;
    const bs = b.shape;
    return (g) => [sb ? scaledSum(g, sb, as) : null, sa ? scaledSum(g, sa, bs) : null];
  });
}

export function div(a: Tensor, b: TensorOrScalar): Tensor {
  const out = ew.div(a, b);
  if (!needsGrad(a, b)) return out;
  if (typeof b === 'number') return record(out, 'DivBackward', [a], () => (g) => [g.div(b)]);
  return record(out, 'DivBackward', [a, b], (save) => {
    const sb = save(b);
    const so = b.requiresGrad ? save(out) : null;
    const as = a.shape;
    const bs = b.shape;
    return (g) => {
      let ga: Tensor | null = null;
      let gb: Tensor | null = null;
      const q = g.div(sb);
      if (a.requiresGrad) ga = sumTo(q, as);
      if (so) {
        const t = q.mul(so);
        const n = t.neg();
        gb = sumTo(n, bs);
        t.dispose();
        n.dispose();
      }
      q.dispose();
      return [ga, gb];
    };
  });
}

export function pow(a: Tensor, b: TensorOrScalar): Tensor {
  const out = ew.pow(a, b);
  if (!needsGrad(a, b)) return out;
  if (typeof b === 'number') {
    return record(out, 'PowBackward', [a], (save) => {
      const sa = save(a);
      return (g) => {
        if (b === 0) return [g.mul(0)];
        const p = b === 2 ? sa.mul(2) : ew.pow(sa, b - 1);
        if (b !== 2) {
          const q = p.mul(b);
          p.dispose();
          const r = g.mul(q);
          q.dispose();
          return [r];
        }
        const r = g.mul(p);
        p.dispose();
        return [r];
      };
    });
  }
  return record(out, 'PowBackward', [a, b], (save) => {
    const sa = save(a);
    const sb = save(b);
    const so = b.requiresGrad ? save(out) : null;
    return (g) => {
      let ga: Tensor | null = null;
      let gb: Tensor | null = null;
      if (a.requiresGrad) {
        const e = sb.sub(1);
        const p = ew.pow(sa, e);
        const q = p.mul(sb);
        ga = scaledSum(g, q, a.shape);
        for (const t of [e, p, q]) t.dispose();
      }
      if (so) {
        const l = sa.log();
        const q = l.mul(so);
        gb = scaledSum(g, q, b.shape);
        l.dispose();
        q.dispose();
      }
      return [ga, gb];
    };
  });
}

type Unary = (x: Tensor) => Tensor;

// A unary op whose gradient is g * f(x, out).
function unaryOp(name: string, forward: Unary, local: (x: Tensor, out: Tensor) => Tensor, useX: boolean, useOut: boolean) {
  return (x: Tensor): Tensor => {
    const out = forward(x);
    if (!needsGrad(x)) return out;
    return record(out, name, [x], (save) => {
      const sx = useX ? save(x) : (null as unknown as Tensor);
      const so = useOut ? save(out) : (null as unknown as Tensor);
      return (g) => {
        const d = local(sx, so);
        const r = g.mul(d);
        d.dispose();
        return [r];
      };
    });
  };
}

function compose(...steps: ((t: Tensor) => Tensor)[]): (t: Tensor) => Tensor {
  return (t) => {
    let cur = t;
    for (const s of steps) {
      const next = s(cur);
      if (cur !== t) cur.dispose();
      cur = next;
    }
    return cur === t ? t.detach() : cur;
  };
}

export const neg: Unary = (x) => {
  const out = ew.unary(x, ew.U.Neg);
  return needsGrad(x) ? record(out, 'NegBackward', [x], () => (g) => [g.neg()]) : out;
};
export const exp = unaryOp('ExpBackward', (x) => ew.unary(x, ew.U.Exp), (_x, o) => o.detach(), false, true);
export const log = unaryOp('LogBackward', (x) => ew.unary(x, ew.U.Log), (x) => ew.rdiv(x, 1), true, false);
export const sqrt = unaryOp('SqrtBackward', (x) => ew.unary(x, ew.U.Sqrt), (_x, o) => ew.rdiv(o, 0.5), false, true);
export const rsqrt = unaryOp('RsqrtBackward', (x) => ew.unary(x, ew.U.Rsqrt), (_x, o) => compose((t) => ew.pow(t, 3), (t) => t.mul(-0.5))(o), false, true);
export const abs = unaryOp('AbsBackward', (x) => ew.unary(x, ew.U.Abs), (x) => ew.unary(x, ew.U.Sign), true, false);
/**
 * The gradient through a relu whose (contiguous) output is y: g where y is positive, 0 elsewhere (even where
 * g is inf or NaN, as PyTorch's threshold_backward), in one native pass.
 */
export const sigmoid = unaryOp('SigmoidBackward', (x) => ew.unary(x, ew.U.Sigmoid), (_x, o) => { const r = ew.rsub(o, 1); const m = r.mul(o); r.dispose(); return m; }, false, true);
export const tanh = unaryOp('TanhBackward', (x) => ew.unary(x, ew.U.Tanh), (_x, o) => compose((t) => t.square(), (t) => ew.rsub(t, 1))(o), false, true);
export const square = unaryOp('SquareBackward', (x) => ew.unary(x, ew.U.Square), (x) => x.mul(2), true, false);
export const sin = unaryOp('SinBackward', (x) => ew.unary(x, ew.U.Sin), (x) => ew.unary(x, ew.U.Cos), true, false);
export const cos = unaryOp('CosBackward', (x) => ew.unary(x, ew.U.Cos), (x) => compose((t) => ew.unary(t, ew.U.Sin), (t) => t.neg())(x), true, false);
export const log1p = unaryOp('Log1pBackward', (x) => ew.unary(x, ew.U.Log1p), (x) => compose((t) => t.add(1), (t) => ew.rdiv(t, 1))(x), true, false);
export const expm1 = unaryOp('Expm1Backward', (x) => ew.unary(x, ew.U.Expm1), (_x, o) => o.add(1), false, true);
export const reciprocal = unaryOp('ReciprocalBackward', (x) => ew.unary(x, ew.U.Reciprocal), (_x, o) => compose((t) => t.square(), (t) => t.neg())(o), false, true);

/** Piecewise-constant ops: zero gradient (sign, floor, ceil, round), as PyTorch. */
export function zeroGrad(op: number, name: string): Unary {
  return (x) => {
    const out = ew.unary(x, op);
    return needsGrad(x) ? record(out, name, [x], () => (g) => [g.mul(0)]) : out;
  };
}

export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  const out = ew.clamp(x, min, max);
  if (!needsGrad(x)) return out;
  // Gradient passes where min <= x <= max (inclusive), as PyTorch.
  return record(out, 'ClampBackward', [x], (save) => {
    const sx = save(x);
    return (g) => {
      // mask AND (sx op bound), when the bound is given
      const within = (mask: Tensor, bound: number | null | undefined, op: number): Tensor => {
        if (bound === undefined || bound === null) return mask;
        const m = ew.binary(sx, bound, op);
        const n = mask.mul(m);
        mask.dispose();
        m.dispose();
        return n;
      };
      const mask = within(within(ew.binary(sx, sx, ew.B.Eq), min, ew.B.Ge), max, ew.B.Le); // Eq: 1 where not NaN
      const r = g.mul(mask);
      mask.dispose();
      return [r];
    };
  });
}

function maxMinBackward(a: Tensor, b: TensorOrScalar, g: Tensor, isMax: boolean, needA: boolean, needB: boolean): [Tensor | null, Tensor | null] {
  // As PyTorch's maximum/minimum backward: ties split the gradient in half; each side gets it unless it
  // lost the comparison (so both get it where either is NaN).
  const loseA = ew.binary(a, b, isMax ? ew.B.Lt : ew.B.Gt);
  const loseB = ew.binary(a, b, isMax ? ew.B.Gt : ew.B.Lt);
  const e = ew.binary(a, b, ew.B.Eq);
  const he = e.mul(0.5);
  const la = loseA.add(he);
  const lb = loseB.add(he);
  const ma = ew.rsub(la, 1);
  const mb = ew.rsub(lb, 1);
  const ga = needA ? scaledSum(g, ma, a.shape) : null;
  const gb = needB && b instanceof Tensor ? scaledSum(g, mb, b.shape) : null;
  for (const t of [loseA, loseB, e, he, la, lb, ma, mb]) t.dispose();
  return [ga, gb];
}

export function maximum(a: Tensor, b: TensorOrScalar, isMax: boolean): Tensor {
  const out = ew.binary(a, b, isMax ? ew.B.Maximum : ew.B.Minimum);
  if (!needsGrad(a, b)) return out;
  return record(out, isMax ? 'MaximumBackward' : 'MinimumBackward', [a, b], (save) => {
    const sa = save(a);
    const sb = b instanceof Tensor ? save(b) : null;
    const needA = a.requiresGrad;
    const needB = b instanceof Tensor && b.requiresGrad;
    return (g) => maxMinBackward(sa, sb ?? (b as number), g, isMax, needA, needB);
  });
}

// ---- reductions -------------------------------------------------------------------------------------

function reducedDims(x: Tensor, dim: number | number[] | undefined): number[] {
  if (x.ndim === 0 || dim === undefined || (Array.isArray(dim) && dim.length === 0)) return [...Array(x.ndim).keys()];
  return (Array.isArray(dim) ? dim : [dim]).map((d) => (d < 0 ? d + x.ndim : d));
}

// g of the reduced shape -> broadcastable to x (keepdim shape)
function unreduce(g: Tensor, x: Tensor, dims: number[], keepdim: boolean): Tensor {
  if (keepdim || x.ndim === 0) return g.detach();
  const shape = x.shape.map((s, d) => (dims.includes(d) ? 1 : s));
  return g.reshape(shape);
}

function opts(o: { keepdim?: boolean } | boolean | undefined): boolean {
  return typeof o === 'boolean' ? o : !!o?.keepdim;
}

export function sum(x: Tensor, dim?: number | number[], o?: { keepdim?: boolean } | boolean): Tensor {
  return recordReduction(red.reduce(x, red.R.Sum, dim, o ?? {}), x, dim, o, 'SumBackward');
}

export function mean(x: Tensor, dim?: number | number[], o?: { keepdim?: boolean } | boolean): Tensor {
  return recordReduction(red.reduce(x, red.R.Mean, dim, o ?? {}), x, dim, o, 'MeanBackward');
}

/** Sum's and mean's backward: g spread back over x's shape, divided by the reduced count for the mean. */
function recordReduction(out: Tensor, x: Tensor, dim: number | number[] | undefined, o: { keepdim?: boolean } | boolean | undefined, name: 'SumBackward' | 'MeanBackward'): Tensor {
  if (!needsGrad(x)) return out;
  const dims = reducedDims(x, dim);
  const kd = opts(o);
  const xs = [...x.shape];
  const count = name === 'MeanBackward' ? dims.reduce((n, d) => n * x.shape[d], 1) : 1;
  return record(out, name, [x], () => (g) => {
    const u = unreduce(g, x, dims, kd);
    const s = count === 1 ? u : u.div(count);
    const e = s.expand(xs);
    if (s !== u) s.dispose();
    u.dispose();
    return [e];
  });
}

/**
 * prod: the gradient of each element is the product of the others, as PyTorch 1.13 computes it
 * (prod_backward): out / x when x holds no zero at all; otherwise, for every slice, the product of the
 * elements before it times the product of those after it (prod_safe_zeros_backward: exclusive cumulative
 * products, accumulated in double and rounded to float32 as its CPU cumprod does), so an inf or an overflow in
 * one slice gives the same finite or infinite values as PyTorch, not inf / inf. A full reduction with two zeros
 * or more: all 0, as PyTorch (NaN in the others included). A 0-d input: the gradient passes through.
 */
export function prod(x: Tensor, dim?: number, o?: { keepdim?: boolean } | boolean): Tensor {
  const out = red.reduce(x, red.R.Prod, dim, o ?? {});
  if (!needsGrad(x)) return out;
  const dims = reducedDims(x, dim);
  const kd = opts(o);
  return record(out, 'ProdBackward', [x], (save) => {
    const sx = save(x);
    return (g) => {
      const gu = unreduce(g, x, dims, kd);
      if (sx.ndim === 0) return [gu.mul(1)];
      const isZero = ew.binary(sx, 0, ew.B.Eq).float();
      const count = red.reduce(isZero, red.R.Sum, undefined, {});
      const zeros = count.item() as number;
      isZero.dispose();
      count.dispose();
      let local: Tensor;
      if (zeros === 0) {
        const p = red.reduce(sx, red.R.Prod, dims, { keepdim: true });
        local = p.div(sx);
        p.dispose();
      } else if (dim === undefined && zeros > 1) local = makeTensor(new Float32Array(sx.numel()), [...sx.shape], sx.device); // 0, even beside inf or NaN
      else local = productOfOthers(sx, dim === undefined ? undefined : dims[0]);
      const r = gu.mul(local);
      local.dispose();
      gu.dispose();
      return [r];
    };
  });
}

// Each element's product of the other elements of its slice along dim (all of x flattened when undefined): the
// products before and after it, each accumulated in double and rounded to float32, multiplied in float32.
function productOfOthers(x: Tensor, dim: number | undefined): Tensor {
  const data = x.dataSync();
  const total = data.length;
  const n = dim === undefined ? total : x.shape[dim];
  const inner = dim === undefined ? 1 : x.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(total);
  const f = Math.fround;
  if (n > 0)
    for (let base = 0; base < total; base += n * inner)
      for (let i = 0; i < inner; i++) {
        let p = 1;
        for (let k = 0; k < n; k++) {
          out[base + k * inner + i] = f(p);
          p *= data[base + k * inner + i];
        }
        p = 1;
        for (let k = n - 1; k >= 0; k--) {
          const at = base + k * inner + i;
          out[at] = f(out[at] * f(p));
          p *= data[at];
        }
      }
  return makeTensor(out, [...x.shape], x.device);
}

/** argmax/argmin: integer results, never recorded. */
export function argExtreme(x: Tensor, dim: number | undefined, keepdim: boolean, isMax: boolean): Tensor {
  return red.arg(x, isMax ? red.R.ArgMax : red.R.ArgMin, dim, keepdim);
}

/** amax/amin: the gradient is shared evenly among the elements equal to the extreme. */
/**
 * amax/amin: the gradient is shared evenly among the elements equal to the extreme. max()/min() over all
 * elements (nanEq) count NaN as equal to a NaN result, as PyTorch's evenly_distribute_backward.
 */
export function amax(x: Tensor, dim: number | number[] | undefined, o: { keepdim?: boolean } | boolean | undefined, isMax: boolean, nanEq = false): Tensor {
  const out = red.reduce(x, isMax ? red.R.Max : red.R.Min, dim, o ?? {});
  if (!needsGrad(x)) return out;
  const dims = reducedDims(x, dim);
  const kd = opts(o);
  return record(out, isMax ? 'AmaxBackward' : 'AminBackward', [x], (save) => {
    const sx = save(x);
    const so = save(out);
    return (g) => {
      const ok = unreduce(so, x, dims, kd);
      let mask = ew.binary(sx, ok, ew.B.Eq);
      if (nanEq) {
        const nx = ew.binary(sx, sx, ew.B.Ne);
        const no = ew.binary(ok, ok, ew.B.Ne);
        const both = nx.mul(no);
        const m2 = mask.add(both);
        for (const t of [nx, no, both, mask]) t.dispose();
        mask = m2;
      }
      const maskF = mask.float();
      const cnt = red.reduce(maskF, red.R.Sum, dims, { keepdim: true });
      const gu = unreduce(g, x, dims, kd);
      const share = gu.div(cnt);
      const r = maskF.mul(share); // as PyTorch: NaN where a slice's extreme is NaN and no element equals it
      for (const t of [ok, mask, maskF, cnt, gu, share]) t.dispose();
      return [r];
    };
  });
}

/** max/min along dim: the gradient goes to the index the forward picked. */
export function maxDim(x: Tensor, dim: number, keepdim: boolean, isMax: boolean): { values: Tensor; indices: Tensor } {
  const r = red.withIndices(x, isMax ? red.R.Max : red.R.Min, dim, keepdim);
  if (!needsGrad(x)) return r;
  const d = dim < 0 ? dim + x.ndim : dim;
  record(r.values, isMax ? 'MaxBackward' : 'MinBackward', [x], (save) => {
    const si = save(r.indices);
    return (g) => [IX.scatterAlong(g, si, x.shape, d, keepdim)];
  });
  return { values: r.values, indices: r.indices };
}

export function variance(x: Tensor, dim: number | number[] | undefined, o: { keepdim?: boolean; correction?: number; unbiased?: boolean }): Tensor {
  const out = red.variance(x, dim, o);
  if (!needsGrad(x)) return out;
  const dims = reducedDims(x, dim);
  const kd = !!o.keepdim;
  const correction = o.correction ?? (o.unbiased === false ? 0 : 1);
  const n = dims.reduce((k, d) => k * x.shape[d], 1);
  return record(out, 'VarBackward', [x], (save) => {
    const sx = save(x);
    return (g) => {
      const m = red.reduce(sx, red.R.Mean, dims, { keepdim: true });
      const c = sx.sub(m);
      const gu = unreduce(g, x, dims, kd);
      const s = gu.mul(2 / Math.max(n - correction, 0));
      const r = c.mul(s);
      for (const t of [m, c, gu, s]) t.dispose();
      return [r];
    };
  });
}

// ---- linear algebra ---------------------------------------------------------------------------------

/**
 * Set by lib/autocast.ts: inside ck.autocast('cpu') it returns the bf16 matmul of two FP32 CPU tensors (and null
 * outside a region), so Tensor.matmul follows PyTorch's CPU autocast list without a module cycle.
 */
let autocastMatmul: ((a: Tensor, b: Tensor) => Tensor | null) | null = null;
export function setAutocastMatmul(f: (a: Tensor, b: Tensor) => Tensor | null): void {
  autocastMatmul = f;
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  return autocastMatmul?.(a, b) ?? matmulFp32(a, b);
}

/** matmul in the operands' own precision (ck.autocast's bf16 matmul calls it on bf16-rounded operands). */
export function matmulFp32(a: Tensor, b: Tensor): Tensor {
  if (!needsGrad(a, b)) return rawMatmul(a, b);
  // 1-D operands go through differentiable views so the core handles only rank >= 2.
  if (a.ndim === 1 || b.ndim === 1) {
    const a2 = a.ndim === 1 ? a.unsqueeze(0) : a;
    const b2 = b.ndim === 1 ? b.unsqueeze(-1) : b;
    const o2 = matmulFp32(a2, b2);
    let o = o2;
    if (a.ndim === 1) o = o.squeeze(-2);
    if (b.ndim === 1) {
      const p = o;
      o = o.squeeze(-1);
      if (p !== o2) p.dispose();
    }
    if (a2 !== a) a2.dispose();
    if (b2 !== b) b2.dispose();
    if (o !== o2) o2.dispose();
    return o;
  }
  const out = rawMatmul(a, b);
  return record(out, 'MatmulBackward', [a, b], (save) => {
    const sa = b.requiresGrad ? save(a) : null;
    const sb = a.requiresGrad ? save(b) : null;
    return (g) => {
      // ga = g @ b^T, gb = a^T @ g, each summed back over the batch dims broadcasting gave its operand
      const withTransposed = (saved: Tensor, gFirst: boolean, shape: readonly number[]): Tensor => {
        const t = saved.transpose(-1, -2);
        const p = gFirst ? rawMatmul(g, t) : rawMatmul(t, g);
        const r = sumTo(p, shape);
        t.dispose();
        p.dispose();
        return r;
      };
      const ga = sb ? withTransposed(sb, true, a.shape) : null;
      const gb = sa ? withTransposed(sa, false, b.shape) : null;
      return [ga, gb];
    };
  });
}

// ---- views and copies -------------------------------------------------------------------------------

/** Records a view op whose gradient is `back(g)`. */
export function viewOp(x: Tensor, out: Tensor, name: string, back: (g: Tensor) => Tensor): Tensor {
  return needsGrad(x) ? record(out, name, [x], () => (g) => [back(g)]) : out;
}

/** The gradient of a slice-like view: zeros of the input's shape with g written into the view. */
export function embed(g: Tensor, shape: readonly number[], carve: (t: Tensor) => Tensor): Tensor {
  const z = Tensor.empty(shape, g.dtype, g.device);
  fillRun(z, 0);
  const v = carve(z);
  v.copyFrom(g);
  v.dispose();
  return z;
}
