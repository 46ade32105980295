/**
 * conv: 2-d convolution and its backward (csrc/cpu/conv.cc, cuda/conv.cu, or cuDNN through csrc/cudnn/conv.cc),
 * tested in test/parity/conv.test.ts and test/cuda/conv.test.ts, benchmarked in benchmarks/suites/conv.js.
 */
import { Conv2dParams, native } from '../../binding';
import { autocastBf16, inBf16, roundedBf16 } from '../../autocast';
import { ConvBackend, resolveConvBackend } from '../../backends';
import { needsGrad, record } from '../../autograd/functions';
import { ckError, fmtShape, shapeError } from '../../errors';
import { callNative } from '../../ops/native_call';
import { Tensor } from '../../tensor';
import { float32, intPair, isTensor, Pair, sameDevice } from './common';

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
  /** Overrides backends.conv for this call on CUDA tensors: 'auto' | 'cudnn' | 'native'. */
  backend?: ConvBackend;
}

export function conv2dOutputSize(h: number, w: number, k: [number, number], s: [number, number], p: [number, number], d: [number, number]): [number, number] {
  return [Math.floor((h + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0]) + 1, Math.floor((w + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1]) + 1];
}

export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  isTensor('conv2d', 'input', input);
  isTensor('conv2d', 'weight', weight);
  isTensor('conv2d', 'bias', bias, true);
  const unbatched = input.ndim === 3;
  if (input.ndim !== 4 && !unbatched)
    throw shapeError(`conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got ${fmtShape(input.shape)}`);
  if (weight.ndim !== 4) throw shapeError(`conv2d: expected a 4-D weight (O, C/groups, KH, KW), got ${fmtShape(weight.shape)}`);
  float32('conv2d', input);
  sameDevice('conv2d', { input, weight, bias });
  const x4 = unbatched ? input.unsqueeze(0) : input;
  const [N, C, H, W] = x4.shape;
  const [O, Cg, KH, KW] = weight.shape;
  const groups = opts.groups ?? 1;
  const s = intPair('conv2d', 'stride', opts.stride === undefined ? 1 : opts.stride, 1);
  const d = intPair('conv2d', 'dilation', opts.dilation === undefined ? 1 : opts.dilation, 1);
  float32('conv2d weight', weight);
  let p: [number, number];
  if (opts.padding === 'valid') p = [0, 0];
  else if (opts.padding === 'same') {
    if (s[0] !== 1 || s[1] !== 1) throw shapeError("conv2d: padding='same' needs stride 1");
    const th = d[0] * (KH - 1);
    const tw = d[1] * (KW - 1);
    if (th % 2 || tw % 2) {
      // An odd total padding: PyTorch puts the extra row/column at the bottom/right. The same result is a
      // convolution padded one more on both sides, without its first output row/column.
      const y = conv2d(input, weight, bias, { ...opts, padding: [Math.ceil(th / 2), Math.ceil(tw / 2)] });
      const a = y.slice(-2, th % 2);
      const b = a.slice(-1, tw % 2);
      a.dispose();
      y.dispose();
      return b;
    }
    p = [th / 2, tw / 2];
  } else if (typeof opts.padding === 'string') {
    throw ckError('ERR_ARG', `conv2d: padding must be 'valid', 'same' or integers, got '${opts.padding}'`, 'RangeError');
  } else p = intPair('conv2d', 'padding', opts.padding === undefined ? 0 : opts.padding, 0);
  if (typeof groups === 'number' && groups > 2 ** 31 - 1) throw ckError('ERR_ARG', `conv2d: groups ${groups} is out of the int32 range`, 'RangeError');
  if (!Number.isInteger(groups) || groups < 1 || C % groups || O % groups)
    throw shapeError(`conv2d: groups=${groups} must divide input channels ${C} and output channels ${O}`);
  if (Cg * groups !== C)
    throw shapeError(`conv2d: weight ${fmtShape(weight.shape)} expects ${Cg * groups} input channels (groups=${groups}), but the input ${fmtShape(input.shape)} has ${C}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) throw shapeError(`conv2d: bias ${fmtShape(bias.shape)} does not match ${O} output channels`);
  const [OH, OW] = conv2dOutputSize(H, W, [KH, KW], s, p, d);
  if (OH < 1 || OW < 1)
    throw shapeError(`conv2d: input ${fmtShape(input.shape)} is too small for kernel ${KH}x${KW} (padding ${p}, dilation ${d}, stride ${s})`);
  const params: Conv2dParams = { N, C, H, W, O, KH, KW, OH, OW, sh: s[0], sw: s[1], ph: p[0], pw: p[1], dh: d[0], dw: d[1], groups };
  // cuDNN or the hand-written kernels, chosen once here so that backward runs the same implementation.
  const cudnn = resolveConvBackend(input.device.type, opts.backend, 'conv2d') === 'cudnn';
  const convForward = cudnn ? native.cudnnConv2dForward : native.conv2dForward;
  const convBackwardData = cudnn ? native.cudnnConv2dBackwardData : native.conv2dBackwardData;
  const convBackwardWeight = cudnn ? native.cudnnConv2dBackwardWeight : native.conv2dBackwardWeight;
  const y = Tensor.empty([N, O, OH, OW], 'float32', input.device);
  // Inside ck.autocast('cpu') (lib/autocast.ts): the GEMM rounds x and w to bf16 while packing; the bias, and x and w
  // where one input channel per group takes the direct loops instead of a GEMM, are rounded here; y after.
  const bf16 = autocastBf16(input);
  const [xr, wr, br] = bf16 ? [Cg === 1 ? roundedBf16(x4) : x4, Cg === 1 ? roundedBf16(weight) : weight, bias && roundedBf16(bias)] : [x4, weight, bias];
  const { input: xc, weight: wc } = inBf16(bf16, [y], () => callNative({ input: xr, weight: wr, bias: br }, { output: y }, (o) => convForward(params, o), ['input', 'weight']));
  for (const [t, orig] of [[xr, x4], [wr, weight], [br, bias]] as const) if (t !== orig) t?.dispose();
  if (needsGrad(input, weight, bias)) {
    const needX = input.requiresGrad;
    const needW = weight.requiresGrad;
    const needB = !!bias?.requiresGrad;
    record(y, 'Conv2dBackward', [x4 === input ? input : x4, weight, bias], (save) => {
      const sx = needW ? save(xc) : null;
      const sw = needX ? save(wc) : null;
      return (g0) => {
        const g = bf16 ? roundedBf16(g0) : g0; // the gradient of a bf16 output is bf16
        let gx: Tensor | null = null;
        let gw: Tensor | null = null;
        let gb: Tensor | null = null;
        if (needX) {
          gx = Tensor.empty([N, C, H, W], 'float32', g.device);
          inBf16(bf16, [gx], () => callNative({ gradOutput: g, weight: sw! }, { gradInput: gx! }, (o) => convBackwardData(params, o)));
        }
        if (needW || needB) {
          gw = Tensor.empty(weight.shape, 'float32', g.device);
          gb = needB ? Tensor.empty([O], 'float32', g.device) : null;
          const xs = sx ?? save(xc);
          inBf16(bf16, [gw, gb], () => callNative({ input: xs, gradOutput: g }, { gradWeight: gw!, gradBias: gb }, (o) => convBackwardWeight(params, o)));
          if (!needW) {
            gw.dispose();
            gw = null;
          }
        }
        if (g !== g0) g.dispose();
        return [gx, gw, gb];
      };
    });
  }
  xc.dispose();
  wc.dispose();
  if (!unbatched) return y;
  const out = y.squeeze(0);
  y.dispose();
  x4.dispose();
  return out;
}
