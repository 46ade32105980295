/** nn.init: in-place initialisers with PyTorch's formulas (fan computation, gains), seeded by manualSeed. */
import { noGrad } from '../autograd/grad_mode';
import { rand, randn } from '../creation';
import { ckError, fmtShape } from '../errors';
import { Tensor } from '../tensor';

export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu';

export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv2d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    default: throw ckError('ERR_ARG', `unsupported nonlinearity ${String(nonlinearity)}`, 'RangeError');
  }
}

export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  isTensor(t);
  if (t.ndim < 2) throw ckError('ERR_SHAPE', `fan in and fan out need a tensor with at least 2 dims, got ${fmtShape(t.shape)}`, 'RangeError');
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1] * receptive, t.shape[0] * receptive];
}

function isTensor(t: unknown): void {
  if (!(t instanceof Tensor)) throw ckError('ERR_ARG', `nn.init: expected a Tensor, got ${t === null ? 'null' : typeof t}`, 'TypeError');
}

function fill(t: Tensor, src: Tensor): Tensor {
  noGrad(() => t.copy_(src));
  src.dispose();
  return t;
}

export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  isTensor(t);
  const r = rand([...t.shape]);
  const s = noGrad(() => r.mul(b - a).add(a));
  r.dispose();
  return fill(t, s);
}
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  isTensor(t);
  const r = randn([...t.shape]);
  const s = noGrad(() => r.mul(std).add(mean));
  r.dispose();
  return fill(t, s);
}
export function constant_(t: Tensor, v: number): Tensor {
  isTensor(t);
  noGrad(() => t.fill_(v));
  return t;
}
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}
function kaimingStd(t: Tensor, o: KaimingOptions): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const fan = (o.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  return calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan);
}
export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, o);
  return uniform_(t, -bound, bound);
}
export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd(t, o));
}
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const [fi, fo] = calculateFanInAndFanOut(t);
  const a = gain * Math.sqrt(6 / (fi + fo));
  return uniform_(t, -a, a);
}
export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  const [fi, fo] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fi + fo)));
}
