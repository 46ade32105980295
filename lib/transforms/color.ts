/** ColorJitter: random brightness, contrast, saturation and hue in a random order, as torchvision. */
import { ckError } from '../errors';
import * as F from './functional';
import { ImageLike } from './image';
import * as R from './random';
import { Transform, TransformSpec } from './transform';

type Range = number | [number, number];

export interface ColorJitterOptions {
  brightness?: Range;
  contrast?: Range;
  saturation?: Range;
  hue?: Range;
}

// torchvision's _check_input: a number v gives [center - v, center + v] (clipped at 0 for the
// factors); a range that is just the centre turns the adjustment off (null).
function checkInput(value: Range | undefined, name: string, center: number, bound: [number, number], clipFirstOnZero: boolean): [number, number] | null {
  let v: [number, number];
  if (value === undefined) value = 0;
  if (typeof value === 'number') {
    if (!(value >= 0)) throw ckError('ERR_ARG', `ColorJitter: if ${name} is a single number, it must be non negative`, 'RangeError');
    v = [center - value, center + value];
    if (clipFirstOnZero) v[0] = Math.max(v[0], 0);
  } else if (Array.isArray(value) && value.length === 2) {
    if (!(bound[0] <= value[0] && value[0] <= value[1] && value[1] <= bound[1]))
      throw ckError('ERR_ARG', `ColorJitter: ${name} values should be between [${bound[0]}, ${bound[1]}]`, 'RangeError');
    v = [value[0], value[1]];
  } else throw ckError('ERR_ARG', `ColorJitter: ${name} should be a single number or [min, max]`, 'TypeError');
  return v[0] === center && v[1] === center ? null : v;
}

export type ColorJitterParams = [number[], number | null, number | null, number | null, number | null];

export class ColorJitter extends Transform<ImageLike, ImageLike> {
  readonly brightness: [number, number] | null;
  readonly contrast: [number, number] | null;
  readonly saturation: [number, number] | null;
  readonly hue: [number, number] | null;
  private readonly args: ColorJitterOptions;

  /** new ColorJitter(brightness, contrast, saturation, hue) or new ColorJitter({brightness, ...}). */
  constructor(brightness?: Range | ColorJitterOptions, contrast?: Range, saturation?: Range, hue?: Range) {
    super();
    const o: ColorJitterOptions =
      brightness !== null && typeof brightness === 'object' && !Array.isArray(brightness) ? brightness : { brightness, contrast, saturation, hue };
    this.args = o;
    this.brightness = checkInput(o.brightness, 'brightness', 1, [0, Infinity], true);
    this.contrast = checkInput(o.contrast, 'contrast', 1, [0, Infinity], true);
    this.saturation = checkInput(o.saturation, 'saturation', 1, [0, Infinity], true);
    this.hue = checkInput(o.hue, 'hue', 0, [-0.5, 0.5], false);
  }

  /**
   * `[order, brightness, contrast, saturation, hue]`: a random permutation of the four adjustments
   * (0 brightness, 1 contrast, 2 saturation, 3 hue), then one float32 factor for each range given.
   */
  static getParams(
    brightness: [number, number] | null, contrast: [number, number] | null, saturation: [number, number] | null, hue: [number, number] | null,
  ): ColorJitterParams {
    const fnIdx = R.randperm(4);
    const b = brightness === null ? null : R.uniform(brightness[0], brightness[1]);
    const c = contrast === null ? null : R.uniform(contrast[0], contrast[1]);
    const s = saturation === null ? null : R.uniform(saturation[0], saturation[1]);
    const h = hue === null ? null : R.uniform(hue[0], hue[1]);
    return [fnIdx, b, c, s, h];
  }

  /** Applies the adjustments of `params` (from getParams) in their order. */
  static apply(x: ImageLike, [fnIdx, b, c, s, h]: ColorJitterParams): ImageLike {
    let img = x;
    for (const id of fnIdx) {
      if (id === 0 && b !== null) img = F.adjustBrightness(img, b);
      else if (id === 1 && c !== null) img = F.adjustContrast(img, c);
      else if (id === 2 && s !== null) img = F.adjustSaturation(img, s);
      else if (id === 3 && h !== null) img = F.adjustHue(img, h);
    }
    return img;
  }

  forward(x: ImageLike): ImageLike {
    return ColorJitter.apply(x, ColorJitter.getParams(this.brightness, this.contrast, this.saturation, this.hue));
  }
  spec(): TransformSpec {
    return { kind: 'ColorJitter', args: [this.args] };
  }
}
