/**
 * batchnorm: batch norm and its backward (csrc/cpu/batchnorm.cc, cuda/batchnorm.cu), tested in
 * test/parity/batchnorm.test.ts and test/cuda/batchnorm.test.ts, benchmarked in benchmarks/suites/batchnorm.js.
 */
import { native } from '../../binding';
import { needsGrad, record } from '../../autograd/functions';
import { rawModule } from '../../autograd/grad_mode';
import * as ewRaw from '../../ops/elementwise';
import { ckError, fmtShape, shapeError } from '../../errors';
import { callNative } from '../../ops/native_call';
import { numelOf } from '../../shape';
import { Tensor } from '../../tensor';
import { float32, isTensor, sameDevice } from './common';

const ew = rawModule(ewRaw);

export interface BatchNormOptions {
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Batch norm over dim 1 of a (N, C), (N, C, L) or (N, C, H, W) input. In training mode the batch
 * statistics normalise, and running stats (if given) are updated in place with `momentum`.
 */
export function batchNorm(
  input: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null = null, bias: Tensor | null = null,
  opts: BatchNormOptions = {},
): Tensor {
  const training = opts.training ?? false;
  const momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
  const eps = opts.eps === undefined ? 1e-5 : opts.eps;
  if (typeof momentum !== 'number') throw ckError('ERR_ARG', `batch_norm: momentum must be a number, got ${momentum === null ? 'null' : typeof momentum}`, 'TypeError');
  if (typeof eps !== 'number') throw ckError('ERR_ARG', `batch_norm: eps must be a number, got ${eps === null ? 'null' : typeof eps}`, 'TypeError');
  isTensor('batch_norm', 'input', input);
  if (input.ndim < 2) throw shapeError(`batch_norm: expected an input with a channel dim (N, C, ...), got ${fmtShape(input.shape)}`);
  float32('batch_norm', input);
  sameDevice('batch_norm', { input, running_mean: runningMean, running_var: runningVar, weight, bias });
  const [N, C] = input.shape;
  const L = numelOf(input.shape.slice(2));
  for (const [name, t] of [['running_mean', runningMean], ['running_var', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== C)) throw shapeError(`batch_norm: ${name} ${fmtShape(t.shape)} does not match ${C} channels of input ${fmtShape(input.shape)}`);
  }
  if (!training && (!runningMean || !runningVar)) throw ckError('ERR_ARG', 'batch_norm: eval mode needs running_mean and running_var');
  if (training && N * L <= 1) throw shapeError(`batch_norm: expected more than 1 value per channel when training, got input ${fmtShape(input.shape)}`);
  const need = needsGrad(input, weight, bias);
  if (!training) {
    if (need) {
      // Eval mode with gradients: the affine map by the running stats, composed of differentiable ops.
      const shape = [1, C, ...input.shape.slice(2).map(() => 1)];
      const inv = ew.unary(ew.unary(runningVar!, ew.U.AddScalar, eps), ew.U.Rsqrt).reshape(shape);
      const mean = runningMean!.reshape(shape);
      // Each step's input is this function's own: freed once the next has its output (autograd keeps what it saved).
      const then = (prev: Tensor, next: Tensor): Tensor => (prev.dispose(), next);
      const centered = input.sub(mean);
      let out = then(centered, centered.mul(inv));
      if (weight) out = then(out, out.mul(weight.reshape(shape)));
      if (bias) out = then(out, out.add(bias.reshape(shape)));
      return out;
    }
    const y = Tensor.empty(input.shape, 'float32', input.device);
    callNative({ input, weight, bias, runningMean: runningMean!, runningVar: runningVar! }, { output: y },
      (o) => native.batchNormEval({ N, C, L, eps }, o));
    return y;
  }
  for (const t of [runningMean, runningVar]) if (t && !t.isContiguous()) throw ckError('ERR_ARG', 'batch_norm: running stats must be contiguous');
  const y = Tensor.empty(input.shape, 'float32', input.device);
  const mean = Tensor.empty([C], 'float32', input.device);
  const invstd = Tensor.empty([C], 'float32', input.device);
  // The running stats are contiguous: their handles are views, so the kernel updates them in place.
  const { input: xc, weight: wc } = callNative({ input, weight, bias, runningMean, runningVar }, { output: y, saveMean: mean, saveInvstd: invstd },
    (o) => native.batchNormTrain({ N, C, L, eps, momentum }, o), ['input', 'weight']);
  if (need) {
    const needW = !!weight?.requiresGrad;
    const needB = !!bias?.requiresGrad;
    record(y, 'BatchNormBackward', [input, weight, bias], (save) => {
      const sx = save(xc);
      const sw = wc ? save(wc) : null;
      const sm = save(mean);
      const si = save(invstd);
      return (g) => {
        const gx = Tensor.empty(input.shape, 'float32', g.device);
        const gw = needW ? Tensor.empty([C], 'float32', g.device) : null;
        const gb = needB ? Tensor.empty([C], 'float32', g.device) : null;
        callNative({ gradOutput: g, input: sx, weight: sw, saveMean: sm, saveInvstd: si }, { gradInput: gx, gradWeight: gw, gradBias: gb },
          (o) => native.batchNormBackward({ N, C, L }, o));
        return [input.requiresGrad ? gx : (gx.dispose(), null), gw, gb];
      };
    });
  }
  for (const t of [xc, wc, mean, invstd]) t?.dispose();
  return y;
}
