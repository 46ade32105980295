/**
 * Number and tensor formatting as Python and PyTorch 1.13 print them, so that `console.log` of a
 * tensor, a module, an optimizer or a device reads like PyTorch's `print`.
 *
 * Python's `'{:.4f}'` and `'{:.4e}'` round the exact binary value half-to-even; JavaScript's
 * `toFixed`/`toExponential` round ties up. Ties are real for float32 data (1.03125 has four
 * decimals of 1.0312 in Python), so the fixed and scientific forms here work on the exact decimal
 * expansion of the double (BigInt) instead.
 *
 * The tensor layout follows torch/_tensor_str.py (`_Formatter`, `_vector_str`,
 * `_tensor_str_with_formatter`, `get_summarized_data`, `_add_suffixes`) with its default print
 * options: precision 4, threshold 1000 elements, 3 edge items, line width 80.
 */

export const PRINT_OPTIONS = { precision: 4, threshold: 1000, edgeitems: 3, linewidth: 80 };

const F64 = new Float64Array(1);
const U64 = new BigUint64Array(F64.buffer);

/** |x| = n / 10^k exactly (x finite). */
function exactDecimal(x: number): { neg: boolean; n: bigint; k: number } {
  F64[0] = x;
  const bits = U64[0];
  const neg = bits >> 63n === 1n;
  const e = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const mant = e === 0 ? frac : frac | (1n << 52n);
  const exp2 = e === 0 ? -1074 : e - 1075;
  if (exp2 >= 0) return { neg, n: mant << BigInt(exp2), k: 0 };
  return { neg, n: mant * 5n ** BigInt(-exp2), k: -exp2 };
}

/** round(n / 10^shift) half to even (shift may be negative: multiply). */
function roundShift(n: bigint, shift: number): bigint {
  if (shift <= 0) return n * 10n ** BigInt(-shift);
  const d = 10n ** BigInt(shift);
  const q = n / d;
  const r = n - q * d;
  const twice = 2n * r;
  if (twice > d || (twice === d && q % 2n === 1n)) return q + 1n;
  return q;
}

function nonFinite(x: number): string | null {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return null;
}

/** Python's `'{:.Nf}'.format(x)`. */
export function pyFixed(x: number, digits: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  const { neg, n, k } = exactDecimal(x);
  let s = roundShift(n, k - digits).toString();
  if (digits > 0) {
    s = s.padStart(digits + 1, '0');
    s = `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
  }
  return (neg ? '-' : '') + s;
}

function expSuffix(e: number): string {
  return `e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/** Python's `'{:.Ne}'.format(x)`. */
export function pyExp(x: number, digits: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  const { neg, n, k } = exactDecimal(x);
  const sign = neg ? '-' : '';
  if (n === 0n) return `${sign}${digits > 0 ? `0.${'0'.repeat(digits)}` : '0'}e+00`;
  let e = n.toString().length - 1 - k;
  let m = roundShift(n, k + e - digits);
  if (m.toString().length > digits + 1) {
    m /= 10n;
    e += 1;
  }
  const ms = m.toString();
  return `${sign}${ms[0]}${digits > 0 ? `.${ms.slice(1)}` : ''}${expSuffix(e)}`;
}

/** Python's `repr(float)`: the shortest round-trip digits, scientific below 1e-4 and from 1e16. */
export function pyFloat(x: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e');
  const e = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = neg ? '-' : '';
  if (e < -4 || e >= 16) return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}${expSuffix(e)}`;
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  if (digits.length <= e + 1) return `${sign}${digits.padEnd(e + 1, '0')}.0`;
  return `${sign}${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
}

/** A Python value as `repr` prints it: True/False/None, floats as pyFloat, tuples as `(3, 3)`. */
export function pyRepr(v: unknown, asFloat = false): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return asFloat || !Number.isInteger(v) ? pyFloat(v) : String(v);
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return v.length === 1 ? `(${pyRepr(v[0], asFloat)},)` : `(${v.map((x) => pyRepr(x, asFloat)).join(', ')})`;
  return String(v);
}

// ---- tensors ------------------------------------------------------------------------------------

class Formatter {
  intMode = true;
  sciMode = false;
  maxWidth = 1;
  constructor(readonly floating: boolean, values: ArrayLike<number>) {
    const p = PRINT_OPTIONS.precision;
    if (!floating) {
      for (let i = 0; i < values.length; i++) this.maxWidth = Math.max(this.maxWidth, String(values[i]).length);
      return;
    }
    const nz: number[] = [];
    for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]) && values[i] !== 0) nz.push(values[i]);
    if (nz.length === 0) return;
    let min = Infinity;
    let max = 0;
    for (const v of nz) {
      min = Math.min(min, Math.abs(v));
      max = Math.max(max, Math.abs(v));
      if (v !== Math.ceil(v)) this.intMode = false;
    }
    if (max / min > 1000 || max > 1e8 || (!this.intMode && min < 1e-4)) {
      this.sciMode = true;
      for (const v of nz) this.maxWidth = Math.max(this.maxWidth, pyExp(v, p).length);
    } else if (this.intMode) {
      for (const v of nz) this.maxWidth = Math.max(this.maxWidth, pyFixed(v, 0).length + 1);
    } else {
      for (const v of nz) this.maxWidth = Math.max(this.maxWidth, pyFixed(v, p).length);
    }
  }
  get width(): number {
    return this.maxWidth;
  }
  format(v: number): string {
    let s: string;
    if (!this.floating) s = String(v);
    else if (this.sciMode) s = pyExp(v, PRINT_OPTIONS.precision);
    else if (this.intMode) s = pyFixed(v, 0) + (Number.isFinite(v) ? '.' : '');
    else s = pyFixed(v, PRINT_OPTIONS.precision);
    return s.padStart(this.maxWidth, ' ');
  }
}

/** The indices of one dimension that are shown: all, or edgeitems at each end. */
function shownIndices(n: number, summarize: boolean): number[] | null {
  const e = PRINT_OPTIONS.edgeitems;
  if (summarize && n > 2 * e) {
    const idx: number[] = [];
    for (let i = 0; i < e; i++) idx.push(i);
    for (let i = n - e; i < n; i++) idx.push(i);
    return idx;
  }
  return null;
}

function all(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function collectShown(data: ArrayLike<number>, shape: readonly number[], summarize: boolean): number[] {
  const out: number[] = [];
  const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const walk = (d: number, off: number): void => {
    if (d === shape.length) {
      out.push(data[off]);
      return;
    }
    for (const i of shownIndices(shape[d], summarize) ?? all(shape[d])) walk(d + 1, off + i * strides[d]);
  };
  walk(0, 0);
  return out;
}

function tensorBody(data: ArrayLike<number>, shape: readonly number[], floating: boolean, indent: number): string {
  if (shape.reduce((a, b) => a * b, 1) === 0) return '[]';
  const summarize = data.length > PRINT_OPTIONS.threshold;
  const fmt = new Formatter(floating, summarize ? collectShown(data, shape, true) : data);
  if (shape.length === 0) return fmt.format(data[0]);
  const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const rec = (d: number, off: number, ind: number): string => {
    const n = shape[d];
    const shown = shownIndices(n, summarize);
    const dim = shape.length - d;
    if (dim === 1) {
      const elemLen = fmt.width + 2;
      const perLine = Math.max(1, Math.floor((PRINT_OPTIONS.linewidth - ind) / elemLen));
      const items = shown
        ? [...shown.slice(0, PRINT_OPTIONS.edgeitems).map((i) => fmt.format(data[off + i])), ' ...', ...shown.slice(PRINT_OPTIONS.edgeitems).map((i) => fmt.format(data[off + i]))]
        : all(n).map((i) => fmt.format(data[off + i]));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return `[${lines.join(`,\n${' '.repeat(ind + 1)}`)}]`;
    }
    const sub = (i: number): string => rec(d + 1, off + i * strides[d], ind + 1);
    const slices = shown
      ? [...shown.slice(0, PRINT_OPTIONS.edgeitems).map(sub), '...', ...shown.slice(PRINT_OPTIONS.edgeitems).map(sub)]
      : all(n).map(sub);
    return `[${slices.join(`,${'\n'.repeat(dim - 1)}${' '.repeat(ind + 1)}`)}]`;
  };
  return rec(0, 0, indent);
}

function addSuffixes(body: string, suffixes: string[], indent: number): string {
  const parts = [body];
  let lastLineLen = body.length - body.lastIndexOf('\n') + 1;
  for (const s of suffixes) {
    if (lastLineLen + s.length + 2 > PRINT_OPTIONS.linewidth) {
      parts.push(`,\n${' '.repeat(indent)}${s}`);
      lastLineLen = indent + s.length;
    } else {
      parts.push(`, ${s}`);
      lastLineLen += s.length + 2;
    }
  }
  parts.push(')');
  return parts.join('');
}

export interface TensorReprInput {
  data: ArrayLike<number>;
  shape: readonly number[];
  dtype: 'float32' | 'int32';
  /** 'cpu' or 'cuda:N'. */
  device: string;
  requiresGrad: boolean;
  gradFn: string | null;
  isParameter: boolean;
}

/**
 * PyTorch's `repr(tensor)` with convkit's spellings of the suffixes:
 * `device='cuda:0'` (as PyTorch), `dtype=int32` (PyTorch: `dtype=torch.int32`; convkit's default
 * dtype is float32, so every int32 tensor says so, where PyTorch is silent for int64),
 * `requiresGrad=true` (PyTorch: `requires_grad=True`), `gradFn=<AddBackward>` (PyTorch:
 * `grad_fn=<AddBackward0>`; convkit's node names have no overload number), and `size=(0, 3)` for an
 * empty tensor that is not 1-d (as PyTorch). A parameter prints `Parameter containing:` first, as
 * PyTorch does.
 */
export function tensorRepr(t: TensorReprInput): string {
  const prefix = 'tensor(';
  const indent = prefix.length;
  const suffixes: string[] = [];
  if (t.device !== 'cpu') suffixes.push(`device='${t.device}'`);
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (numel === 0 && t.shape.length !== 1) suffixes.push(`size=${pyRepr([...t.shape])}`);
  if (t.dtype !== 'float32') suffixes.push(`dtype=${t.dtype}`);
  if (t.gradFn !== null) suffixes.push(`gradFn=<${t.gradFn}>`);
  else if (t.requiresGrad) suffixes.push('requiresGrad=true');
  const s = addSuffixes(prefix + tensorBody(t.data, t.shape, t.dtype === 'float32', indent), suffixes, indent);
  return t.isParameter ? `Parameter containing:\n${s}` : s;
}
