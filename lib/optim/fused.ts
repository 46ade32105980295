/**
 * The bridge to the native fused updates (csrc/binding/optim_ops.cc): one native call per parameter group and
 * device, which on CUDA is one kernel launch for every tensor of the group. Tensors travel as operands
 * { storage, offset } of contiguous float32 runs; a non-contiguous parameter or state goes through a
 * contiguous copy that is written back afterwards, and a gradient on another device or strided is copied.
 */
import { AdamHyper, native, Operand, OptimEntry, RmspropHyper, SgdHyper } from '../binding';
import { ckError } from '../errors';
import { Tensor } from '../tensor';

export interface FusedSlot {
  param: Tensor;
  grad: Tensor;
  /** Up to three state buffers, each shaped like param; null where the update does not use one. */
  states: (Tensor | null)[];
  /** Per-tensor number: SGD 1 = new momentum buffer; Adam the step count; RMSprop unused. */
  scalar: number;
  /** Capturable Adam: the step count as a one-element float32 tensor on the parameter's device. */
  step?: Tensor;
}

/** Each fused update with its hyperparameters (lib/binding.ts). */
export type Fused =
  | { kernel: 'sgdStep'; hyper: SgdHyper }
  /** deviceHyper (capturable Adam): the group's hyperparameter buffer on a parameter's device (null on the CPU). */
  | { kernel: 'adamStep'; hyper: AdamHyper; deviceHyper?: (param: Tensor) => Tensor | null }
  | { kernel: 'rmspropStep'; hyper: RmspropHyper };

export function runFused(update: Fused, slots: FusedSlot[]): void {
  const byDevice = new Map<number, FusedSlot[]>();
  for (const s of slots) {
    const list = byDevice.get(s.param.device.index);
    if (list) list.push(s);
    else byDevice.set(s.param.device.index, [s]);
  }
  for (const group of byDevice.values()) runOnDevice(update, group);
}

function runOnDevice(update: Fused, slots: FusedSlot[]): void {
  const temps: Tensor[] = [];
  const writeBack: [Tensor, Tensor][] = [];
  const flat = (t: Tensor, writable: boolean): Tensor => {
    if (t.isContiguous()) return t;
    const c = t.clone();
    temps.push(c);
    if (writable) writeBack.push([t, c]);
    return c;
  };
  try {
    const op = (t: Tensor): Operand => ({ storage: t.storage, offset: t.offset });
    const entries = slots.map((s): OptimEntry => {
      if (s.grad.dtype !== 'float32')
        throw ckError('ERR_DTYPE', `optimizer step: gradients must be float32 (got ${s.grad.dtype})`, 'TypeError');
      const p = flat(s.param, true);
      let g = s.grad;
      if (!g.device.equals(s.param.device)) {
        g = g.to(s.param.device);
        temps.push(g);
      }
      g = flat(g, false);
      const state = (k: number): Operand | null => {
        const st = s.states[k] ?? null;
        if (st === null) return null;
        if (!st.device.equals(s.param.device))
          throw ckError('ERR_DEVICE', `optimizer step: state on ${st.device}, parameter on ${s.param.device}`);
        return op(flat(st, true));
      };
      const e: OptimEntry = { param: op(p), grad: op(g), n: p.numel(), states: [state(0), state(1), state(2)], scalar: s.scalar };
      if (s.step) e.step = op(s.step);
      return e;
    });
    if (update.kernel === 'sgdStep') native.sgdStep(entries, update.hyper);
    else if (update.kernel === 'adamStep') {
      const buf = update.deviceHyper?.(slots[0].param) ?? null;
      native.adamStep(entries, buf ? { ...update.hyper, hyper: op(buf) } : update.hyper);
    }
    else native.rmspropStep(entries, update.hyper);
    for (const [dst, src] of writeBack) dst.copyFrom(src);
  } finally {
    for (const t of temps) t.dispose();
  }
}
