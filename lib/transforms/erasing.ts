/** RandomErasing (Zhong et al.): erases a random rectangle of a tensor image, torchvision's algorithm. */
import { ckError } from '../errors';
import * as F from './functional';
import { getDimensions, TensorLike } from './image';
import * as R from './random';
import { Transform, TransformSpec } from './transform';

export interface RandomErasingOptions {
  p?: number;
  scale?: [number, number];
  ratio?: [number, number];
  /** A number, one number per channel, or 'random' (standard normal noise per pixel). */
  value?: number | number[] | 'random';
  /** Accepted for torchvision compatibility; convkit always returns a new image. */
  inplace?: boolean;
}

export type ErasingParams = [number, number, number, number, Float32Array | number[] | null];

export class RandomErasing extends Transform<TensorLike, TensorLike> {
  readonly p: number;
  readonly scale: [number, number];
  readonly ratio: [number, number];
  readonly value: number | number[] | 'random';
  constructor(readonly opts: RandomErasingOptions = {}) {
    super();
    this.p = opts.p ?? 0.5;
    this.scale = opts.scale ?? [0.02, 0.33];
    this.ratio = opts.ratio ?? [0.3, 3.3];
    this.value = opts.value ?? 0;
    const bad = (m: string) => ckError('ERR_ARG', `RandomErasing: ${m}`, 'RangeError');
    if (typeof this.value === 'string' && this.value !== 'random') throw bad("if value is a string, it should be 'random'");
    if (this.scale[0] < 0 || this.scale[1] > 1) throw bad('scale should be between 0 and 1');
    if (!(this.p >= 0 && this.p <= 1)) throw bad('random erasing probability should be between 0 and 1');
  }

  /**
   * `[i, j, h, w, v]`: up to 10 tries of a random area and log-uniform aspect ratio that fits strictly
   * inside; v is `value`, or (C, h, w) normal noise when value is null ('random'). When nothing fits,
   * `[0, 0, H, W, null]`: the image is returned unchanged.
   */
  static getParams(img: TensorLike, scale: [number, number], ratio: [number, number], value: number[] | null = null): ErasingParams {
    const [c, imgH, imgW] = getDimensions(img);
    for (const [h, w] of R.areaAspectTries(imgH * imgW, scale, ratio)) {
      if (!(h < imgH && w < imgW)) continue;
      const v = value === null ? R.normal(c * h * w) : value;
      const i = R.randint(0, imgH - h + 1);
      const j = R.randint(0, imgW - w + 1);
      return [i, j, h, w, v];
    }
    return [0, 0, imgH, imgW, null];
  }

  forward(x: TensorLike): TensorLike {
    if (!(R.rand() < this.p)) return x;
    const [c] = getDimensions(x);
    const value = this.value === 'random' ? null : typeof this.value === 'number' ? [this.value] : this.value;
    if (value !== null && value.length !== 1 && value.length !== c)
      throw ckError('ERR_ARG', `RandomErasing: if value is a sequence, it should have either a single value or ${c} (number of input channels)`, 'RangeError');
    const [i, j, h, w, v] = RandomErasing.getParams(x, this.scale, this.ratio, value);
    if (v === null) return x;
    return F.erase(x, i, j, h, w, v);
  }
  spec(): TransformSpec {
    return { kind: 'RandomErasing', args: [this.opts] };
  }
}
