/**
 * dropout (csrc/cpu/dropout.cc, cuda/dropout.cu): the mask is drawn from the seeded Philox stream, so CPU and
 * CUDA drop the same elements; the backward multiplies by the saved mask. Inside a CUDA graph capture the draw's
 * counter is read on the device from the graph's word (lib/cuda/graph.ts, graphRandom), so every replay draws
 * the mask the same step would draw eagerly.
 */
import { native } from '../../binding';
import { needsGrad, record } from '../../autograd/functions';
import { rawModule } from '../../autograd/grad_mode';
import * as ewRaw from '../../ops/elementwise';
import { graphRandom } from '../../cuda/graph';
import { ckError } from '../../errors';
import { callNative } from '../../ops/native_call';
import { takeRandom } from '../../random';
import { Tensor } from '../../tensor';
import { float32, isTensor } from './common';

const ew = rawModule(ewRaw);

/** Zeroes elements with probability p and scales the rest by 1/(1-p); the identity when not training. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  isTensor('dropout', 'input', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw ckError('ERR_ARG', `dropout: probability must be in [0, 1], got ${p}`, 'RangeError');
  if (!training || p === 0) return x.reshape([...x.shape]);
  if (p === 1) return x.mul(0); // as PyTorch: input * 0 (NaN and inf inputs give NaN)
  float32('dropout', x);
  const n = x.numel();
  const y = Tensor.empty(x.shape, 'float32', x.device);
  const mask = Tensor.empty(x.shape, 'float32', x.device);
  const [seedHi, seedLo, counter] = takeRandom(n);
  const g = graphRandom(x.device);
  const offset = g ? counter - g.start : counter;
  const offsetBase = g ? { storage: g.base.storage, offset: g.base.offset } : null;
  callNative({ input: x }, { output: y, mask }, (o) => native.dropoutForward({ n, p, seedHi, seedLo, offset }, { ...o, offsetBase }));
  if (needsGrad(x)) record(y, 'DropoutBackward', [x], (save) => {
    const sm = save(mask);
    return (g) => [ew.mul(g, sm)];
  });
  mask.dispose();
  return y;
}
