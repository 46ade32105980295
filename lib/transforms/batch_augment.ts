/**
 * batchAugment: the CIFAR-10 training recipe (random crop with padding, horizontal flip, normalise) on a
 * whole (N, C, H, W) float32 batch as one native kernel, on the CPU or on the GPU where the batch already
 * is. The per-sample choices are drawn here, on the host, from the seeded stream, in the same order as
 * Compose([RandomCrop(crop, {padding}), RandomHorizontalFlip(), ...]) draws them per sample, so for the
 * same seed both paths pick the same crops and flips.
 */
import { native } from '../binding';
import { tensor } from '../creation';
import { ckError, fmtShape, shapeError } from '../errors';
import { noGrad } from '../autograd/grad_mode';
import { callNative } from '../ops/native_call';
import { Tensor } from '../tensor';
import { pair, Size } from './functional';
import * as R from './random';

export interface BatchAugmentOptions {
  /** Zero padding on every side before cropping (default 0). */
  padding?: number;
  /** Crop size (default the input's H, W). */
  crop?: Size;
  /** Random horizontal flip with probability 0.5 (default true). */
  flip?: boolean;
  /** Per-channel normalisation after the crop; both or neither. */
  mean?: number[];
  std?: number[];
  /** Value of padded pixels before normalisation (default 0). */
  fill?: number;
}

function geometry(x: Tensor | readonly number[], opts: BatchAugmentOptions): { N: number; C: number; H: number; W: number; OH: number; OW: number; pad: number } {
  const shape = x instanceof Tensor ? x.shape : x;
  if (shape.length !== 4) throw shapeError(`batchAugment: expected an (N, C, H, W) batch, got ${fmtShape(shape)}`);
  const [N, C, H, W] = shape;
  const pad = opts.padding ?? 0;
  if (!Number.isInteger(pad) || pad < 0) throw ckError('ERR_ARG', `batchAugment: padding must be a non-negative integer, got ${pad}`, 'RangeError');
  const [OH, OW] = opts.crop === undefined ? [H, W] : pair(opts.crop, 'batchAugment crop');
  if (OH > H + 2 * pad || OW > W + 2 * pad)
    throw shapeError(`batchAugment: crop ${OH}x${OW} is larger than the padded ${H + 2 * pad}x${W + 2 * pad} image`);
  return { N, C, H, W, OH, OW, pad };
}

/**
 * The per-sample choices for a batch of shape `shape`: (N, 3) int32 [top, left, flip], top/left in
 * padded coordinates. Per sample: top, then left (no draws when the crop is the whole padded image, as
 * RandomCrop), then one flip draw when flip is on.
 */
export function batchAugmentParams(shape: readonly number[], opts: BatchAugmentOptions = {}): Int32Array {
  const { N, H, W, OH, OW, pad } = geometry(shape, opts);
  const flip = opts.flip ?? true;
  const out = new Int32Array(N * 3);
  const same = H + 2 * pad === OH && W + 2 * pad === OW;
  for (let n = 0; n < N; n++) {
    if (!same) {
      out[n * 3] = R.randint(0, H + 2 * pad - OH + 1);
      out[n * 3 + 1] = R.randint(0, W + 2 * pad - OW + 1);
    }
    out[n * 3 + 2] = flip && R.rand() < 0.5 ? 1 : 0;
  }
  return out;
}

/**
 * Crops (after zero padding), flips and normalises every image of x (N, C, H, W) with its own random
 * choice; returns a new (N, C, OH, OW) tensor on x's device. `params` replaces the random draws (an
 * Int32Array or int32 tensor of (N, 3) [top, left, flip]).
 */
export function batchAugment(x: Tensor, opts: BatchAugmentOptions = {}, params?: Int32Array | Tensor): Tensor {
  if (!(x instanceof Tensor)) throw ckError('ERR_ARG', 'batchAugment: expected a ck.Tensor batch', 'TypeError');
  if (x.dtype !== 'float32') throw ckError('ERR_DTYPE', `batchAugment: expected a float32 batch, got ${x.dtype}`, 'TypeError');
  const g = geometry(x, opts);
  if ((opts.mean === undefined) !== (opts.std === undefined)) throw ckError('ERR_ARG', 'batchAugment: give both mean and std, or neither', 'TypeError');
  let norm: Float32Array | null = null;
  if (opts.mean && opts.std) {
    const per = (v: number[], what: string) => {
      if (v.length !== 1 && v.length !== g.C) throw ckError('ERR_ARG', `batchAugment: ${what} has ${v.length} values for ${g.C} channels`, 'RangeError');
      return v.length === 1 ? new Array<number>(g.C).fill(v[0]) : v;
    };
    norm = Float32Array.from([...per(opts.mean, 'mean'), ...per(opts.std, 'std')]);
    if (norm.subarray(g.C).some((s) => s === 0)) throw ckError('ERR_ARG', 'batchAugment: std evaluated to zero after conversion to float32', 'RangeError');
  }
  let host: Int32Array;
  if (params === undefined) host = batchAugmentParams(x.shape, opts);
  else if (params instanceof Tensor) {
    const hp = params.to('cpu', 'int32');
    try {
      host = hp.dataSync() as Int32Array;
    } finally {
      hp.dispose();
    }
  }
  else host = params;
  if (host.length !== g.N * 3) throw shapeError(`batchAugment: params hold ${host.length} values for ${g.N} samples (need N x 3)`);
  for (let n = 0; n < g.N; n++) {
    const [t, l] = [host[n * 3], host[n * 3 + 1]];
    if (t < 0 || t > g.H + 2 * g.pad - g.OH || l < 0 || l > g.W + 2 * g.pad - g.OW)
      throw ckError('ERR_ARG', `batchAugment: sample ${n} has crop offset (${t}, ${l}) outside the padded image`, 'RangeError');
  }
  return noGrad(() => {
    const p = tensor(host, { shape: [g.N, 3], dtype: 'int32', device: x.device });
    const nt = norm ? tensor(norm, { shape: [2, g.C], device: x.device }) : null;
    try {
      const y = Tensor.empty([g.N, g.C, g.OH, g.OW], 'float32', x.device);
      const params = { N: g.N, C: g.C, H: g.H, W: g.W, OH: g.OH, OW: g.OW, pad: g.pad, fill: opts.fill ?? 0 };
      callNative({ input: x, params: p, norm: nt }, { output: y }, (o) => native.batchAugment(params, o));
      return y;
    } finally {
      p.dispose();
      nt?.dispose();
    }
  });
}
