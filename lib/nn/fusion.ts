/**
 * Layer fusion on the CPU, where PyTorch eager runs one op (and one pass over memory) per layer
 * (kernels: csrc/cpu/fused.cc; tests: test/parity/fusion.test.ts):
 *  - eval mode, gradients off: Conv2d -> BatchNorm2d [-> + residual] [-> ReLU] as one convolution whose epilogue
 *    normalises by the running statistics, adds and clamps each output tile while it is in cache;
 *  - training mode: BatchNorm2d -> ReLU in one kernel each way (the ReLU's output is the only tensor kept), and
 *    BatchNorm2d -> ReLU -> MaxPool2d(2) in one kernel each way (the pooled output and its indices are all that is
 *    written: the full-size activation stays in cache, and so does its gradient in the backward).
 * `forwardChain` applies them wherever the pattern appears in a chain of layers (nn.Sequential, the zoo's
 * blocks); `convBnAct` / `bnRelu` are the explicit API. Anything else (CUDA tensors, gradients needed in eval
 * mode, shapes the kernels do not take) runs the unfused layers, so results never depend on whether fusion
 * applied beyond float rounding. `setFusion(false)` turns it off (to compare, or to debug).
 */
import { native } from '../binding';
import { isAutocastEnabled } from '../autocast';
import { needsGrad, record } from '../autograd/functions';
import { callNative } from '../ops/native_call';
import { Tensor } from '../tensor';
import { addRelu } from './functional/activation';
import { conv2dOutputSize } from './functional/conv';
import { BatchNorm2d, Conv2d, MaxPool2d, ReLU } from './layers';
import type { TensorModule } from './module';

let enabled = true;

/** Turns layer fusion on (default) or off for the whole process. */
export function setFusion(on: boolean): void {
  enabled = !!on;
}
export function fusionEnabled(): boolean {
  return enabled;
}

// The convolution's padding as a pair, or null when the fused kernel does not take it (an odd 'same').
function pads(conv: Conv2d): [number, number] | null {
  if (conv.padding === 'valid') return [0, 0];
  if (conv.padding !== 'same') return conv.padding;
  const th = conv.dilation[0] * (conv.kernelSize[0] - 1), tw = conv.dilation[1] * (conv.kernelSize[1] - 1);
  return th % 2 || tw % 2 ? null : [th / 2, tw / 2];
}

// A layer whose forward was replaced on the instance (ck.utils.summary's instrumentation, a user's wrapper) or
// overridden by a subclass runs as itself: fusing it would skip that forward.
// (The classes are read at call time: layers.ts imports this module, so they are not defined when it loads.)
function plain(...ms: unknown[]): boolean {
  const layers = [Conv2d, BatchNorm2d, ReLU, MaxPool2d];
  return ms.every((m) => !Object.prototype.hasOwnProperty.call(m, 'forward') &&
    layers.every((L) => !(m instanceof L) || (m as { forward: unknown }).forward === L.prototype.forward));
}

function cpuF32(...ts: (Tensor | null | undefined)[]): boolean {
  return ts.every((t) => !t || (t.device.type === 'cpu' && t.dtype === 'float32'));
}

// The fused eval-mode kernel when it applies, else null.
function convBnActFused(x: Tensor, conv: Conv2d, bn: BatchNorm2d, relu: boolean, residual: Tensor | null): Tensor | null {
  if (!enabled || isAutocastEnabled('cpu') || !plain(conv, bn) || bn.training || !bn.running_mean || !bn.running_var || bn.numFeatures !== conv.outChannels) return null;
  if (x.ndim !== 4 || x.shape[1] !== conv.inChannels || !cpuF32(x, conv.weight, conv.bias, bn.weight, bn.bias, residual)) return null;
  if (needsGrad(x, conv.weight, conv.bias, bn.weight, bn.bias, residual)) return null;
  const p = pads(conv);
  if (!p) return null;
  const [N, C, H, W] = x.shape;
  const [KH, KW] = conv.kernelSize;
  const [OH, OW] = conv2dOutputSize(H, W, [KH, KW], conv.stride, p, conv.dilation);
  if (OH < 1 || OW < 1) return null;
  const O = conv.outChannels;
  if (residual && (residual.ndim !== 4 || [N, O, OH, OW].some((s, i) => residual.shape[i] !== s))) return null;
  const y = Tensor.empty([N, O, OH, OW], 'float32', x.device);
  const params = {
    N, C, H, W, O, KH, KW, OH, OW, sh: conv.stride[0], sw: conv.stride[1], ph: p[0], pw: p[1],
    dh: conv.dilation[0], dw: conv.dilation[1], groups: conv.groups, eps: bn.eps, relu,
  };
  callNative(
    { input: x, weight: conv.weight, bias: conv.bias, bnWeight: bn.weight, bnBias: bn.bias, runningMean: bn.running_mean, runningVar: bn.running_var, residual },
    { output: y },
    (o) => native.conv2dBnActEval(params, o),
  );
  return y;
}

/**
 * relu?(bn(conv(x)) (+ residual)): fused in eval mode on the CPU when gradients are off, else the layers one
 * after another (the residual join then is the add+ReLU kernel, or a plain add without ReLU).
 */
export function convBnAct(x: Tensor, conv: Conv2d, bn: BatchNorm2d, opts: { relu?: boolean; residual?: Tensor | null } = {}): Tensor {
  const relu = opts.relu ?? true;
  const residual = opts.residual ?? null;
  const fused = convBnActFused(x, conv, bn, relu, residual);
  if (fused) return fused;
  const c = conv.forward(x);
  if (!residual) {
    const y = relu ? bnRelu(c, bn) : bn.forward(c);  // BN + ReLU of a training-mode layer fuse on their own
    c.dispose();
    return y;
  }
  const b = bn.forward(c);
  c.dispose();
  const j = relu ? addRelu(b, residual) : b.add(residual);
  b.dispose();
  return j;
}

// Whether the training-mode fused kernels take bn on x: CPU float32, (N, C, H, W) with C its features, more than
// one value per channel (else the layer's own error), contiguous running statistics.
function trainFusable(x: Tensor, bn: BatchNorm2d): boolean {
  if (!enabled || !plain(bn) || !bn.training || x.ndim !== 4 || x.shape[1] !== bn.numFeatures || !cpuF32(x, bn.weight, bn.bias)) return false;
  if (x.shape[0] * x.shape[2] * x.shape[3] <= 1) return false;
  const rm = bn.trackRunningStats ? bn.running_mean : null;
  const rv = bn.trackRunningStats ? bn.running_var : null;
  return !(rm && !rm.isContiguous()) && !(rv && !rv.isContiguous());
}

// BatchNormBase.forward's bookkeeping before a training-mode fused kernel: the batch counter, and momentum null
// as a cumulative average. Returns the momentum and the running statistics to update (null without tracking).
function trainBookkeeping(bn: BatchNorm2d): { momentum: number; rm: Tensor | null; rv: Tensor | null } {
  let momentum = bn.momentum ?? 0;
  if (bn.trackRunningStats && bn.num_batches_tracked) {
    bn.num_batches_tracked.add_(1);
    if (bn.momentum === null) momentum = 1 / bn.num_batches_tracked.item();
  }
  return { momentum, rm: bn.trackRunningStats ? bn.running_mean : null, rv: bn.trackRunningStats ? bn.running_var : null };
}

/** relu(bn(x)): one kernel each way for a training-mode BatchNorm2d on the CPU, else the two layers. */
export function bnRelu(x: Tensor, bn: BatchNorm2d): Tensor {
  if (!trainFusable(x, bn)) return unfusedBnRelu(x, bn);
  const [N, C, H, W] = x.shape;
  const L = H * W;
  const { momentum, rm, rv } = trainBookkeeping(bn);
  const y = Tensor.empty(x.shape, 'float32', x.device);
  const mean = Tensor.empty([C], 'float32', x.device);
  const invstd = Tensor.empty([C], 'float32', x.device);
  const { input: xc, weight: wc, bias: bc } = callNative(
    { input: x, weight: bn.weight, bias: bn.bias, runningMean: rm, runningVar: rv },
    { output: y, saveMean: mean, saveInvstd: invstd },
    (o) => native.batchNormTrain({ N, C, L, eps: bn.eps, momentum }, o, true),
    ['input', 'weight', 'bias'],
  );
  const weight = bn.weight, bias = bn.bias;
  if (needsGrad(x, weight, bias)) {
    const needW = !!weight?.requiresGrad, needB = !!bias?.requiresGrad;
    // The backward recomputes the ReLU's mask from x, weight, bias and the statistics (csrc/cpu/fused.h), so it
    // keeps those, not the output.
    record(y, 'BatchNormReluBackward', [x, weight, bias], (save) => {
      const sx = save(xc), sw = wc ? save(wc) : null, sb = bc ? save(bc) : null, sm = save(mean), si = save(invstd);
      return (g) => {
        const gx = Tensor.empty(x.shape, 'float32', g.device);
        const gw = needW ? Tensor.empty([C], 'float32', g.device) : null;
        const gb = needB ? Tensor.empty([C], 'float32', g.device) : null;
        callNative({ gradOutput: g, input: sx, weight: sw, bias: sb, saveMean: sm, saveInvstd: si }, { gradInput: gx, gradWeight: gw, gradBias: gb },
          (o) => native.batchNormBackward({ N, C, L }, o, true));
        return [x.requiresGrad ? gx : (gx.dispose(), null), gw, gb];
      };
    });
  }
  for (const t of [xc, wc, bc, mean, invstd]) t?.dispose();
  return y;
}

/** Whether a MaxPool2d is the 2x2, stride-2 pool without padding, dilation or ceil mode that the fused kernel runs. */
function isPool2(m: MaxPool2d): boolean {
  const two = (v: number | [number, number]) => (Array.isArray(v) ? v[0] === 2 && v[1] === 2 : v === 2);
  const one = (v: number | [number, number]) => (Array.isArray(v) ? v[0] === 1 && v[1] === 1 : v === 1);
  const zero = (v: number | [number, number]) => (Array.isArray(v) ? v[0] === 0 && v[1] === 0 : v === 0);
  return two(m.kernelSize) && two(m.stride) && zero(m.padding) && one(m.dilation) && !m.ceilMode;
}

/**
 * maxPool2d(relu(bn(x)), 2) for a training-mode BatchNorm2d on the CPU in one kernel each way: the normalised
 * activation of each image is pooled while in cache and never stored; the backward expands the pooled gradient
 * through the saved indices where batch norm's backward reads it (csrc/cpu/fused.h). Else the three layers.
 */
export function bnReluMaxPool2(x: Tensor, bn: BatchNorm2d, pool: MaxPool2d): Tensor {
  if (!trainFusable(x, bn) || !plain(pool) || !isPool2(pool) || x.shape[2] < 2 || x.shape[3] < 2) {
    const r = bnRelu(x, bn);
    const p = pool.forward(r) as Tensor;
    r.dispose();
    return p;
  }
  const [N, C, H, W] = x.shape;
  const { momentum, rm, rv } = trainBookkeeping(bn);
  const shape = [N, C, Math.floor(H / 2), Math.floor(W / 2)];
  const y = Tensor.empty(shape, 'float32', x.device);
  const idx = Tensor.empty(shape, 'int32', x.device);
  const mean = Tensor.empty([C], 'float32', x.device);
  const invstd = Tensor.empty([C], 'float32', x.device);
  const { input: xc, weight: wc, bias: bc } = callNative(
    { input: x, weight: bn.weight, bias: bn.bias, runningMean: rm, runningVar: rv },
    { output: y, indices: idx, saveMean: mean, saveInvstd: invstd },
    (o) => native.batchNormReluMaxPool2Train({ N, C, H, W, eps: bn.eps, momentum }, o),
    ['input', 'weight', 'bias'],
  );
  const weight = bn.weight, bias = bn.bias;
  if (needsGrad(x, weight, bias)) {
    const needW = !!weight?.requiresGrad, needB = !!bias?.requiresGrad;
    record(y, 'BatchNormReluMaxPool2Backward', [x, weight, bias], (save) => {
      const sx = save(xc), sw = wc ? save(wc) : null, sb = bc ? save(bc) : null, sm = save(mean), si = save(invstd), sidx = save(idx);
      return (g) => {
        const gx = x.requiresGrad ? Tensor.empty(x.shape, 'float32', g.device) : null;
        const gw = needW ? Tensor.empty([C], 'float32', g.device) : null;
        const gb = needB ? Tensor.empty([C], 'float32', g.device) : null;
        callNative({ gradOutput: g, indices: sidx, input: sx, weight: sw, bias: sb, saveMean: sm, saveInvstd: si }, { gradInput: gx, gradWeight: gw, gradBias: gb },
          (o) => native.batchNormReluMaxPool2Backward({ N, C, H, W }, o));
        return [gx, gw, gb];
      };
    });
  }
  for (const t of [xc, wc, bc, mean, invstd, idx]) t?.dispose();
  return y;
}

function unfusedBnRelu(x: Tensor, bn: BatchNorm2d): Tensor {
  const b = bn.forward(x);
  const y = b.relu();
  b.dispose();
  return y;
}

/**
 * mods applied to x in order, intermediates freed (x is not), with Conv2d -> BatchNorm2d [-> ReLU] and
 * BatchNorm2d -> ReLU fused where they apply.
 */
export function forwardChain(x: Tensor, mods: readonly TensorModule[]): Tensor {
  let cur = x;
  for (let i = 0; i < mods.length; ) {
    const [a, b, c] = [mods[i], mods[i + 1], mods[i + 2]];
    let next: Tensor | null = null;
    let used = 1;
    if (enabled && a instanceof Conv2d && b instanceof BatchNorm2d && plain(a, b, c ?? {})) {
      const relu = c instanceof ReLU;
      next = convBnActFused(cur, a, b, relu, null);
      if (next) used = relu ? 3 : 2;
    }
    if (!next && enabled && a instanceof BatchNorm2d && b instanceof ReLU && a.training && plain(a, b)) {
      // bnReluMaxPool2 runs the pool unfused after bn-relu when the kernel does not take it, as the chain would.
      if (c instanceof MaxPool2d) {
        next = bnReluMaxPool2(cur, a, c);
        used = 3;
      } else {
        next = bnRelu(cur, a);
        used = 2;
      }
    }
    if (!next) next = a.forward(cur) as Tensor;
    if (cur !== x && cur !== next) cur.dispose();
    cur = next;
    i += used;
  }
  return cur;
}
