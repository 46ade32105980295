/** ToTensor and Normalize: the step from Image to float tensor, and per-channel standardisation. */
import { ckError } from '../errors';
import * as F from './functional';
import { Image, TensorLike } from './image';
import { Compose, Transform, TransformLike, TransformSpec } from './transform';

/** HWC uint8 Image -> float32 (C, H, W) in [0, 1]. */
export class ToTensor extends Transform<Image, TensorLike> {
  forward(img: Image): TensorLike {
    return F.toTensor(img);
  }
  spec(): TransformSpec {
    return { kind: 'ToTensor', args: [] };
  }
}

/** output[c] = (input[c] - mean[c]) / std[c] on a float tensor image. */
export class Normalize extends Transform<TensorLike, TensorLike> {
  readonly mean: number[];
  readonly std: number[];
  constructor(mean: number[], std: number[]) {
    super();
    if (!Array.isArray(mean) || !Array.isArray(std) || !mean.length || !std.length)
      throw ckError('ERR_ARG', 'Normalize: mean and std must be non-empty arrays of numbers', 'TypeError');
    this.mean = [...mean];
    this.std = [...std];
  }
  forward(x: TensorLike): TensorLike {
    return F.normalize(x, this.mean, this.std);
  }
  spec(): TransformSpec {
    return { kind: 'Normalize', args: [this.mean, this.std] };
  }
}

/**
 * @internal The per-channel byte tables (F.byteLookup) of a transform that is exactly ToTensor followed by
 * Normalizes, in Composes of any depth; null for any other transform (a subclass included: it may
 * override forward).
 */
export function byteTransformLookup(t: TransformLike | null, channels: number): Float32Array[] | null {
  const flat: TransformLike[] = [];
  const walk = (x: TransformLike): void => {
    if (x instanceof Compose && x.constructor === Compose) x.transforms.forEach(walk);
    else flat.push(x);
  };
  if (t === null) return null;
  walk(t);
  if (flat.length === 0 || flat[0].constructor !== ToTensor) return null;
  const norms = flat.slice(1);
  if (!norms.every((n) => n.constructor === Normalize)) return null;
  return F.byteLookup(channels, norms as Normalize[]);
}
