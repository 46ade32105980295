/**
 * Mixed precision on the CPU in the spirit of `torch.autocast('cpu', dtype=torch.bfloat16)` (PyTorch 1.13):
 * `ck.autocast('cpu', { dtype: 'bfloat16' }, fn)` runs fn with convolutions and linear layers in bf16 with FP32
 * accumulation, forward and backward (the autograd node remembers the precision its forward ran in, so a
 * backward() after the region still runs them in bf16). Tensors stay FP32: the parameters are the FP32 master
 * weights, and every other op (batch norm, activations, pooling, losses, the optimizer) computes in FP32.
 *
 * convkit models PyTorch's numerics on FP32 storage: the operands of conv2d / linear (input, weight, bias) are
 * rounded to bf16 (round to nearest even; the GEMM does it while packing), products are accumulated in FP32
 * (csrc/cpu/gemm_bf16.h: vdpbf16ps on CPUs with AVX512_BF16, its exact emulation elsewhere), the bias is added
 * in FP32 and the output is rounded to bf16 (PyTorch's output is a bf16 tensor). Backward rounds the incoming
 * gradient (the gradient of a bf16 tensor is bf16), and the gradients of input, weight and bias (PyTorch's
 * gradients of the bf16 casts, before they are cast back to FP32).
 *
 * Tensor.matmul (PyTorch's mm / bmm / matmul) is cast too: its operands are rounded to bf16 by a recorded cast
 * whose backward rounds the incoming gradient (the gradient of a bf16 tensor is bf16), the product of the rounded
 * operands is exact in FP32 and summed in FP32 by the FP32 GEMM, and the output is rounded by another such cast:
 * the values of PyTorch's bf16 matmul up to the order of the FP32 sums. Not cast, unlike PyTorch's list:
 * conv1d/3d, conv_transpose (convkit has none). Ops on neither list run in
 * PyTorch in the dtype of their input, so batch norm, ReLU and pooling after a bf16 conv compute on bf16 there;
 * convkit computes them in FP32 on the bf16-rounded values (the more accurate choice, and what the ops' FP32
 * kernels do). Losses are on PyTorch's FP32 list and run in FP32 in both.
 *
 * The region state lives in an AsyncLocalStorage: nesting restores the outer state, an exception leaves the
 * region as a return does, and an async fn keeps the state across its awaits without leaking it into code
 * that runs concurrently outside the region.
 */
import { AsyncLocalStorage } from 'async_hooks';
import { native } from './binding';
import { matmulFp32, needsGrad, record, setAutocastMatmul } from './autograd/functions';
import { noGrad } from './autograd/grad_mode';
import { ckError } from './errors';
import { matmul as rawMatmul } from './ops/matmul';
import { callNative } from './ops/native_call';
import { Tensor } from './tensor';

export type AutocastDtype = 'bfloat16';
export interface AutocastOptions {
  /** 'bfloat16' (the default on the CPU, as in PyTorch). */
  dtype?: AutocastDtype;
  /** false runs fn with autocast off (also inside an enabled region), as torch.autocast(enabled=False). */
  enabled?: boolean;
}

interface State {
  enabled: boolean;
  dtype: AutocastDtype;
}
const store = new AsyncLocalStorage<State>();

function checkDevice(deviceType: unknown): void {
  if (deviceType === 'cpu') return;
  if (typeof deviceType === 'string' && /^cuda(:\d+)?$/.test(deviceType))
    throw ckError('ERR_DEVICE', `autocast: device '${deviceType}' is not supported: convkit's CUDA kernels run in FP32 (TF32 with ck.backends.cuda.matmul.allowTF32); mixed precision is autocast('cpu', { dtype: 'bfloat16' })`);
  throw ckError('ERR_ARG', `autocast: the device type must be 'cpu', got ${typeof deviceType === 'string' ? `'${deviceType}'` : String(deviceType)}`, 'TypeError');
}

/**
 * Runs fn with conv2d and linear in bf16 on CPU tensors (see the file comment); returns what fn returns (an
 * async fn's promise keeps the region until it settles).
 */
export function autocast<T>(deviceType: 'cpu', fn: () => T): T;
export function autocast<T>(deviceType: 'cpu', options: AutocastOptions, fn: () => T): T;
export function autocast<T>(deviceType: 'cpu', a: AutocastOptions | (() => T), b?: () => T): T {
  checkDevice(deviceType);
  const opts: AutocastOptions = typeof a === 'function' ? {} : a ?? {};
  const fn = typeof a === 'function' ? a : b;
  if (typeof opts !== 'object') throw ckError('ERR_ARG', `autocast: options must be an object, got ${typeof opts}`, 'TypeError');
  if (typeof fn !== 'function') throw ckError('ERR_ARG', `autocast: expected a function to run in the region, got ${fn === null ? 'null' : typeof fn}`, 'TypeError');
  const dtype = opts.dtype ?? 'bfloat16';
  if (dtype !== 'bfloat16')
    throw ckError('ERR_DTYPE', `autocast('cpu'): dtype '${String(dtype)}' is not supported; CPU autocast runs in 'bfloat16' (as torch.autocast('cpu') in PyTorch 1.13)`, 'TypeError');
  const enabled = opts.enabled ?? true;
  if (typeof enabled !== 'boolean') throw ckError('ERR_ARG', `autocast: enabled must be a boolean, got ${typeof enabled}`, 'TypeError');
  return store.run({ enabled, dtype }, fn);
}

/** Whether autocast is on for the device type here (torch.is_autocast_cpu_enabled). */
export function isAutocastEnabled(deviceType: 'cpu' | 'cuda' = 'cpu'): boolean {
  return deviceType === 'cpu' && (store.getStore()?.enabled ?? false);
}

/** The dtype of the autocast region here, or null outside one. */
export function getAutocastDtype(): AutocastDtype | null {
  const s = store.getStore();
  return s?.enabled ? s.dtype : null;
}

/** Whether a conv2d / linear on `input` runs in bf16 here. */
export function autocastBf16(input: Tensor): boolean {
  return input.device.type === 'cpu' && isAutocastEnabled('cpu');
}

/** A fresh FP32 tensor holding t's values rounded to bf16 (not recorded by autograd). */
export function roundedBf16(t: Tensor): Tensor {
  const out = Tensor.empty(t.shape, 'float32', t.device);
  callNative({ input: t }, { output: out }, (o) => native.roundBf16({ n: t.numel() }, o));
  return out;
}

/** Rounds a contiguous tensor that nothing else reads yet (a fresh op output) to bf16 in place. */
function roundInPlace(t: Tensor): void {
  const o = { storage: t.storage, offset: t.offset };
  native.roundBf16({ n: t.numel() }, { input: o, output: o });
}

/**
 * Runs a native conv / linear call with the CPU GEMM in bf16 when `bf16`, then rounds `outputs` (fresh,
 * contiguous) to bf16; plain `run()` otherwise.
 */
export function inBf16<T>(bf16: boolean, outputs: (Tensor | null)[], run: () => T): T {
  if (!bf16) return run();
  const prev = native.setGemmPrecision('bfloat16');
  let r: T;
  try {
    r = run();
  } finally {
    native.setGemmPrecision(prev);
  }
  for (const t of outputs) if (t && !t.isDisposed) roundInPlace(t);
  return r;
}

/** linear (y = x Wᵀ + b) in bf16 with its own backward (lib/nn/functional/linear.ts calls it under autocast). */
export function linearBf16(input: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [O, I] = weight.shape;
  const outShape = [...input.shape.slice(0, -1), O];
  const y = noGrad(() => {
    const x2 = input.reshape([-1, I]);
    const wt = weight.t();
    const p = inBf16(true, [], () => rawMatmul(x2, wt));
    x2.dispose();
    wt.dispose();
    let s = p;
    if (bias) {
      const b = roundedBf16(bias);
      s = p.add(b);
      b.dispose();
      p.dispose();
    }
    const r = roundedBf16(s);
    s.dispose();
    const out = r.reshape(outShape);
    r.dispose();
    return out;
  });
  if (!needsGrad(input, weight, bias)) return y;
  const needX = input.requiresGrad, needW = weight.requiresGrad, needB = !!bias?.requiresGrad;
  return record(y, 'LinearBackward', [input, weight, bias], (save) => {
    const sx = needW ? save(input) : null;
    const sw = needX ? save(weight) : null;
    return (g) => {
      const g2 = g.reshape([-1, O]);
      const gb = roundedBf16(g2);
      g2.dispose();
      try {
        let gx: Tensor | null = null;
        let gw: Tensor | null = null;
        let gbias: Tensor | null = null;
        if (needX) {
          const d = inBf16(true, [], () => rawMatmul(gb, sw!));
          const r = roundedBf16(d);
          d.dispose();
          gx = r.reshape([...input.shape]);
          r.dispose();
        }
        if (needW) {
          const x2 = sx!.reshape([-1, I]);
          const gt = gb.t();
          const d = inBf16(true, [], () => rawMatmul(gt, x2));
          gt.dispose();
          x2.dispose();
          gw = roundedBf16(d);
          d.dispose();
        }
        if (needB) {
          // A one-element bias broadcast over the outputs gets the sum of them all.
          const s = bias!.shape[0] === 1 && O !== 1 ? gb.sum() : gb.sum(0);
          const r = roundedBf16(s);
          s.dispose();
          gbias = r.reshape([...bias!.shape]);
          r.dispose();
        }
        return [gx, gw, gbias];
      } finally {
        gb.dispose();
      }
    };
  });
}

/**
 * A bf16 cast as autograd sees it, on FP32 storage: the forward rounds to bf16, the backward rounds the gradient
 * (PyTorch: the gradient reaching a bf16 tensor is bf16; the cast back to FP32 is exact).
 */
function castBf16(t: Tensor): Tensor {
  const y = roundedBf16(t);
  if (!needsGrad(t)) return y;
  return record(y, 'ToBf16Backward', [t], () => (g) => [roundedBf16(g)]);
}

/** matmul under autocast: bf16 operands, FP32 accumulation, a bf16 result (see the file comment). */
function matmulBf16(a: Tensor, b: Tensor): Tensor | null {
  if (a.device.type !== 'cpu' || a.dtype !== 'float32' || b.dtype !== 'float32' || !isAutocastEnabled('cpu')) return null;
  const ra = castBf16(a), rb = castBf16(b);
  const p = matmulFp32(ra, rb);
  ra.dispose();
  rb.dispose();
  const y = castBf16(p);
  p.dispose();
  return y;
}
setAutocastMatmul(matmulBf16);
