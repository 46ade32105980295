/**
 * Geometric transforms: flips, crops, padding, resizing and rotation, with torchvision's parameters
 * (camelCase) and its order of random draws. Each random one exposes its draw as a static getParams,
 * so the same choice can be fed to torchvision's functional API (or to transforms.functional).
 */
import { ckError } from '../errors';
import * as F from './functional';
import { getDimensions, ImageLike, roundHalfEven } from './image';
import * as R from './random';
import { Transform, TransformSpec } from './transform';

function argError(msg: string): Error {
  return ckError('ERR_ARG', msg, 'RangeError');
}

function checkProb(p: number, what: string): number {
  if (!(p >= 0 && p <= 1)) throw argError(`${what}: p must be a probability in [0, 1], got ${p}`);
  return p;
}

/** RandomHorizontalFlip and RandomVerticalFlip: flip with probability p. */
abstract class RandomFlip extends Transform<ImageLike, ImageLike> {
  /** `kind`: the registry name, also used in errors. */
  constructor(readonly p: number, private readonly kind: string) {
    super();
    checkProb(p, kind);
  }
  /** Whether to flip: one draw, torch.rand(1) < p. */
  static getParams(p: number): boolean {
    return R.rand() < p;
  }
  protected abstract flip(x: ImageLike): ImageLike;
  forward(x: ImageLike): ImageLike {
    return RandomFlip.getParams(this.p) ? this.flip(x) : x;
  }
  spec(): TransformSpec {
    return { kind: this.kind, args: [this.p] };
  }
}

export class RandomHorizontalFlip extends RandomFlip {
  constructor(p = 0.5) {
    super(p, 'RandomHorizontalFlip');
  }
  protected flip(x: ImageLike): ImageLike {
    return F.hflip(x);
  }
}

export class RandomVerticalFlip extends RandomFlip {
  constructor(p = 0.5) {
    super(p, 'RandomVerticalFlip');
  }
  protected flip(x: ImageLike): ImageLike {
    return F.vflip(x);
  }
}

export interface PadOptions {
  fill?: F.Fill;
  paddingMode?: F.PaddingMode;
}

export class Pad extends Transform<ImageLike, ImageLike> {
  constructor(readonly padding: F.Padding, readonly opts: PadOptions = {}) {
    super();
    F.parsePadding(padding);
  }
  forward(x: ImageLike): ImageLike {
    return F.pad(x, this.padding, this.opts.fill ?? 0, this.opts.paddingMode ?? 'constant');
  }
  spec(): TransformSpec {
    return { kind: 'Pad', args: [this.padding, this.opts] };
  }
}

export interface RandomCropOptions {
  padding?: F.Padding | null;
  padIfNeeded?: boolean;
  fill?: F.Fill;
  paddingMode?: F.PaddingMode;
}

// Index maps of a further padding applied to an image whose rows/cols are already given by `map`.
function padMap(map: Int32Array, before: number, after: number, mode: F.PaddingMode, op: string): Int32Array {
  const n = map.length;
  const { ys } = F.padIndices(n, 1, [0, before, 0, after], mode, op);
  return ys.map((k) => (k < 0 ? -1 : map[k]));
}

export class RandomCrop extends Transform<ImageLike, ImageLike> {
  readonly size: [number, number];
  constructor(size: F.Size, readonly opts: RandomCropOptions = {}) {
    super();
    this.size = F.pair(size, 'RandomCrop');
    if (opts.padding !== undefined && opts.padding !== null) F.parsePadding(opts.padding);
  }

  /** [top, left, height, width] of a random crop of outputSize (no draw when the sizes are equal). */
  static getParams(img: ImageLike, outputSize: [number, number]): [number, number, number, number] {
    const [, h, w] = getDimensions(img);
    return RandomCrop.paramsFor(h, w, outputSize);
  }

  /** getParams from the image's (padded) height and width. */
  static paramsFor(h: number, w: number, [th, tw]: [number, number]): [number, number, number, number] {
    if (h < th || w < tw) throw argError(`RandomCrop: required crop size (${th}, ${tw}) is larger than input image size (${h}, ${w})`);
    if (w === tw && h === th) return [0, 0, h, w];
    const i = R.randint(0, h - th + 1);
    const j = R.randint(0, w - tw + 1);
    return [i, j, th, tw];
  }

  forward(x: ImageLike): ImageLike {
    const [, h, w] = getDimensions(x);
    const mode = this.opts.paddingMode ?? 'constant';
    const fill = this.opts.fill ?? 0;
    // Padding and cropping are both index maps: compose them and copy the pixels once.
    let ys = F.rangeIndex(0, h, h);
    let xs = F.rangeIndex(0, w, w);
    if (this.opts.padding !== undefined && this.opts.padding !== null) {
      const m = F.padIndices(h, w, this.opts.padding, mode, 'RandomCrop');
      ys = m.ys;
      xs = m.xs;
    }
    const [th, tw] = this.size;
    // torchvision pads by the whole shortfall on both sides; the random crop then picks within it.
    if (this.opts.padIfNeeded && xs.length < tw) xs = padMap(xs, tw - xs.length, tw - xs.length, mode, 'RandomCrop');
    if (this.opts.padIfNeeded && ys.length < th) ys = padMap(ys, th - ys.length, th - ys.length, mode, 'RandomCrop');
    const [i, j] = RandomCrop.paramsFor(ys.length, xs.length, this.size);
    return F.remap(x, 'RandomCrop', ys.subarray(i, i + th), xs.subarray(j, j + tw), fill);
  }
  spec(): TransformSpec {
    return { kind: 'RandomCrop', args: [this.size, this.opts] };
  }
}

export class CenterCrop extends Transform<ImageLike, ImageLike> {
  readonly size: [number, number];
  constructor(size: F.Size) {
    super();
    this.size = F.pair(size, 'CenterCrop');
  }
  forward(x: ImageLike): ImageLike {
    return F.centerCrop(x, this.size);
  }
  spec(): TransformSpec {
    return { kind: 'CenterCrop', args: [this.size] };
  }
}

export class Resize extends Transform<ImageLike, ImageLike> {
  constructor(readonly size: F.Size, readonly opts: F.ResizeOptions = {}) {
    super();
    F.resizedOutputSize(1, 1, size, typeof size === 'number' || size.length === 1 ? opts.maxSize : undefined);
    if (opts.antialias) throw argError('Resize: antialias=true is not supported');
  }
  forward(x: ImageLike): ImageLike {
    return F.resize(x, this.size, this.opts);
  }
  spec(): TransformSpec {
    return { kind: 'Resize', args: [this.size, this.opts] };
  }
}

export interface RandomResizedCropOptions {
  scale?: [number, number];
  ratio?: [number, number];
  interpolation?: F.Interpolation;
  antialias?: boolean;
}

export class RandomResizedCrop extends Transform<ImageLike, ImageLike> {
  readonly size: [number, number];
  readonly scale: [number, number];
  readonly ratio: [number, number];
  constructor(size: F.Size, readonly opts: RandomResizedCropOptions = {}) {
    super();
    this.size = F.pair(size, 'RandomResizedCrop');
    this.scale = opts.scale ?? [0.08, 1.0];
    this.ratio = opts.ratio ?? [3 / 4, 4 / 3];
    if (this.scale.length !== 2 || this.ratio.length !== 2) throw argError('RandomResizedCrop: scale and ratio must be [min, max]');
    if (opts.antialias) throw argError('RandomResizedCrop: antialias=true is not supported');
  }

  /**
   * `[top, left, height, width]`: up to 10 tries of a random area (scale) and log-uniform aspect ratio
   * that fit, then a centre crop clamped to the ratio range (torchvision's algorithm and draw order).
   */
  static getParams(img: ImageLike, scale: [number, number], ratio: [number, number]): [number, number, number, number] {
    const [, height, width] = getDimensions(img);
    for (const [w, h] of R.areaAspectTries(height * width, scale, ratio)) {
      if (w > 0 && w <= width && h > 0 && h <= height) {
        const i = R.randint(0, height - h + 1);
        const j = R.randint(0, width - w + 1);
        return [i, j, h, w];
      }
    }
    const inRatio = width / height;
    let w: number;
    let h: number;
    if (inRatio < Math.min(...ratio)) {
      w = width;
      h = roundHalfEven(w / Math.min(...ratio));
    } else if (inRatio > Math.max(...ratio)) {
      h = height;
      w = roundHalfEven(h * Math.max(...ratio));
    } else {
      w = width;
      h = height;
    }
    return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
  }

  forward(x: ImageLike): ImageLike {
    const [i, j, h, w] = RandomResizedCrop.getParams(x, this.scale, this.ratio);
    return F.resizedCrop(x, i, j, h, w, this.size, { interpolation: this.opts.interpolation ?? 'bilinear' });
  }
  spec(): TransformSpec {
    return { kind: 'RandomResizedCrop', args: [this.size, this.opts] };
  }
}


export interface RandomRotationOptions {
  interpolation?: F.Interpolation;
  expand?: boolean;
  center?: [number, number];
  fill?: F.Fill;
}

export class RandomRotation extends Transform<ImageLike, ImageLike> {
  readonly degrees: [number, number];
  constructor(degrees: number | [number, number], readonly opts: RandomRotationOptions = {}) {
    super();
    if (typeof degrees === 'number') {
      if (!(degrees >= 0)) throw argError('RandomRotation: if degrees is a single number, it must be positive');
      this.degrees = [-degrees, degrees];
    } else {
      if (!Array.isArray(degrees) || degrees.length !== 2) throw argError('RandomRotation: degrees should be a number or [min, max]');
      this.degrees = [degrees[0], degrees[1]];
    }
    if (opts.expand) throw argError('RandomRotation: expand=true is not supported');
  }
  /** The angle in degrees: one uniform float32 draw on [degrees[0], degrees[1]). */
  static getParams(degrees: [number, number]): number {
    return R.uniform(degrees[0], degrees[1]);
  }
  forward(x: ImageLike): ImageLike {
    const angle = RandomRotation.getParams(this.degrees);
    return F.rotate(x, angle, { interpolation: this.opts.interpolation ?? 'nearest', center: this.opts.center, fill: this.opts.fill ?? 0 });
  }
  spec(): TransformSpec {
    return { kind: 'RandomRotation', args: [this.degrees, this.opts] };
  }
}
