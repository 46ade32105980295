/**
 * activation: ReLU, bias+ReLU and add+ReLU, each with its backward (csrc/cpu/activation.cc, cuda/activation.cu;
 * plain ReLU's forward is the elementwise kernel), tested in test/parity/activation.test.ts and
 * test/cuda/activation.test.ts, benchmarked in benchmarks/suites/activation.js; and the bounded activations.
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

/** ReLU's backward, shared by relu, add+ReLU and bias+ReLU: dx = dy where the output y > 0, else 0. */
export function reluGrad(g: Tensor, y: Tensor): Tensor {
  const gx = Tensor.empty(y.shape, 'float32', g.device);
  callNative({ gradOutput: g, output: y }, { gradInput: gx }, (o) => native.reluBackward({ n: y.numel() }, o));
  return gx;
}

/** Records y, a ReLU of `inputs`, with a backward that reads only g and the saved output y. */
function recordOnOutput(y: Tensor, name: string, inputs: Tensor[], backward: (g: Tensor, y: Tensor) => (Tensor | null)[]): Tensor {
  if (!needsGrad(...inputs)) return y;
  return record(y, name, inputs, (save) => {
    const sy = save(y);
    return (g) => backward(g, sy);
  });
}

/** max(x, 0) (Tensor.relu()), recorded with reluGrad as its backward. */
export function relu(x: Tensor): Tensor {
  isTensor('relu', 'input', x);
  return recordOnOutput(ew.unary(x, ew.U.Relu), 'ReluBackward', [x], (g, y) => [reluGrad(g, y)]);
}

/** relu(x + b), b broadcast over channel dim 1 of a (N, C, ...) input: one kernel each way. */
export function biasRelu(x: Tensor, b: Tensor): Tensor {
  float32('bias_relu', x);
  if (x.ndim < 2 || b.ndim !== 1 || b.shape[0] !== x.shape[1])
    throw shapeError(`bias_relu: bias ${fmtShape(b.shape)} does not match channels of input ${fmtShape(x.shape)}`);
  sameDevice('bias_relu', { input: x, bias: b });
  const [N, C] = x.shape;
  const L = numelOf(x.shape.slice(2));
  const y = Tensor.empty(x.shape, 'float32', x.device);
  callNative({ input: x, bias: b }, { output: y }, (o) => native.biasReluForward({ N, C, L }, o));
  const needB = b.requiresGrad;
  const needX = x.requiresGrad;
  return recordOnOutput(y, 'BiasReluBackward', [x, b], (g, sy) => {
    const gx = Tensor.empty(x.shape, 'float32', g.device);
    const gb = needB ? Tensor.empty([C], 'float32', g.device) : null;
    callNative({ gradOutput: g, output: sy }, { gradInput: gx, gradBias: gb }, (o) => native.biasReluBackward({ N, C, L }, o));
    return [needX ? gx : (gx.dispose(), null), gb];
  });
}

/** relu(a + b) for same-shaped tensors (a ResNet block's residual join): one kernel each way. */
export function addRelu(a: Tensor, b: Tensor): Tensor {
  float32('add_relu', a);
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i]))
    throw shapeError(`add_relu: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} must match`);
  sameDevice('add_relu', { a, b });
  const y = Tensor.empty(a.shape, 'float32', a.device);
  callNative({ a, b }, { output: y }, (o) => native.addReluForward({ n: a.numel() }, o));
  const needA = a.requiresGrad;
  const needB = b.requiresGrad;
  return recordOnOutput(y, 'AddReluBackward', [a, b], (g, sy) => {
    const gx = reluGrad(g, sy);
    if (needA && needB) return [gx, gx.clone()];
    return needA ? [gx, null] : [null, gx];
  });
}

/** min(max(x, minVal), maxVal), as torch.nn.functional.hardtanh. */
export function hardtanh(x: Tensor, minVal = -1, maxVal = 1): Tensor {
  isTensor('hardtanh', 'input', x);
  if (!(minVal <= maxVal)) throw ckError('ERR_ARG', `hardtanh: min_val ${minVal} must not exceed max_val ${maxVal}`, 'RangeError');
  return x.clamp(minVal, maxVal);
}

/** min(max(x, 0), 6), as torch.nn.functional.relu6 (MobileNetV2's activation). */
export function relu6(x: Tensor): Tensor {
  return hardtanh(x, 0, 6);
}
