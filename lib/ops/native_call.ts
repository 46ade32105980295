/**
 * How TypeScript calls a native kernel (lib/binding.ts types every entry point): tensors become operand
 * objects here, and callNative is the one home of the pattern every op shares: contiguous inputs → outputs
 * allocated by the caller → the kernel → the contiguous copies disposed (the outputs too if the kernel threw).
 */
import { ByteRange, native, Operand, ViewOperand } from '../binding';
import { DTYPE_CODE } from '../dtype';
import { Tensor } from '../tensor';

/** The operand of a contiguous tensor: its storage from its offset. */
export function operand(t: Tensor): Operand {
  return { storage: t.storage, offset: t.offset };
}

/** The strided-view operand of any tensor. */
export function viewOperand(t: Tensor): ViewOperand {
  return { storage: t.storage, layout: t.layout() };
}

/** The bytes of t's storage from element `offset` (t's own offset by default). */
export function byteRange(t: Tensor, offset = t.offset): ByteRange {
  return { storage: t.storage, byteOffset: offset * 4 };
}

/** Fills `n` elements of t's storage from element `offset` (t's whole contiguous run by default) with value. */
export function fillRun(t: Tensor, value: number, offset = t.offset, n = t.numel()): void {
  native.fill({ dtype: DTYPE_CODE[t.dtype], n, value }, { output: { storage: t.storage, offset } });
}

/**
 * Runs `fill`, which writes the fresh tensor `out`, and returns out (or what fill returns, when it returns a
 * tensor made from out); if fill throws, out is disposed. The `temps` (null/undefined skipped) are disposed
 * either way. The one home of the try/catch/finally every raw op that allocates its own output needs.
 */
export function produce(out: Tensor, temps: readonly (Tensor | null | undefined)[], fill: () => Tensor | void): Tensor {
  try {
    return fill() ?? out;
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    for (const t of temps) t?.dispose();
  }
}

/** A contiguous handle on t (a view of it when it already is), not recorded by autograd. */
export function contiguousHandle(t: Tensor): Tensor {
  if (t.isContiguous()) return t.viewOf(t.shape, t.strides, t.offset);
  const c = Tensor.empty(t.shape, t.dtype, t.device);
  return produce(c, [], () => native.copy({ source: viewOperand(t), destination: viewOperand(c) }));
}

type Tensors = Record<string, Tensor | null>;
/** Each tensor of T as its operand (null stays null). */
export type OperandsOf<T extends Tensors> = { [K in keyof T]: T[K] extends Tensor ? Operand : Operand | null };

/**
 * Runs one native kernel. `inputs` are made contiguous (a view when they already are); `outputs` are fresh
 * tensors the caller allocated; `kernel` receives every one as an operand under its key, the keys the entry
 * point names its operands by. Afterwards the contiguous inputs are disposed, except those listed in `keep`,
 * which are returned for a backward to save (the caller disposes them); if the kernel throws, the outputs
 * and kept inputs are disposed too.
 */
export function callNative<I extends Tensors, O extends Tensors, Keep extends keyof I = never>(
  inputs: I,
  outputs: O,
  kernel: (operands: OperandsOf<I> & OperandsOf<O>) => void,
  keep: readonly Keep[] = [],
): { [K in Keep]: I[K] } {
  const handles: Tensors = {};
  const ops: Record<string, Operand | null> = {};
  try {
    for (const [k, t] of Object.entries(inputs)) {
      const h = t ? contiguousHandle(t) : null;
      handles[k] = h;
      ops[k] = h ? operand(h) : null;
    }
    for (const [k, t] of Object.entries(outputs)) ops[k] = t ? operand(t) : null;
    kernel(ops as OperandsOf<I> & OperandsOf<O>);
  } catch (e) {
    for (const t of Object.values(outputs)) t?.dispose();
    for (const t of Object.values(handles)) t?.dispose();
    throw e;
  }
  const kept: Tensors = {};
  for (const [k, h] of Object.entries(handles)) {
    if ((keep as readonly string[]).includes(k)) kept[k] = h;
    else h?.dispose();
  }
  return kept as { [K in Keep]: I[K] };
}
