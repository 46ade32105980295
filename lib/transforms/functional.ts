/**
 * transforms.functional: the deterministic image operations behind the transforms, with
 * torchvision.transforms.functional's names, arguments and numerics (its tensor path). Every op takes
 * an Image (HWC uint8), a ck.Tensor (float32, (..., C, H, W) or (H, W)) or a HostTensor, and returns
 * the same kind.
 *
 * Float results are computed in float32 exactly as PyTorch's CPU kernels do: each operation of the
 * reference is one Math.fround here (a double result rounded once to float32 is the correctly rounded
 * float32 result for +, -, *, /), so outputs agree bit for bit except where PyTorch sums in another
 * order (means) or contracts into FMA. Uint8 images take torchvision's uint8 tensor path: cast to
 * float32, compute, round (resampling) or truncate (colour blends) back.
 */
import { ckError, fmtShape, shapeError } from '../errors';
import {
  describe, fromPlanes, getDimensions, hostData, HostTensor, Image, ImageLike, isImage, newTensor, Planes,
  roundHalfEven, TensorLike, toPlanes, wrapTensor,
} from './image';
import { isTensor } from './lazy_tensor';

const f = Math.fround;
// float32 fused multiply-add: a*b is exact in double, so one rounding of the double sum (and a second to
// float32, which only matters on exact double ties) stands in for the hardware FMA.
const fma = (a: number, b: number, c: number): number => f(a * b + c);

export type Size = number | [number] | [number, number];
export type Interpolation = 'bilinear' | 'nearest';
export type PaddingMode = 'constant' | 'edge' | 'reflect' | 'symmetric';
export type Padding = number | [number] | [number, number] | [number, number, number, number];
export type Fill = number | number[];

function argError(msg: string, kind: 'Error' | 'TypeError' | 'RangeError' = 'RangeError'): Error {
  return ckError('ERR_ARG', msg, kind);
}

function requireTensor(x: ImageLike, op: string): TensorLike {
  if (isImage(x)) throw argError(`${op} expects a tensor image; put transforms.ToTensor() before it`, 'TypeError');
  if (!isTensor(x) && !(x instanceof HostTensor)) throw argError(`${op}: expected a tensor image, got ${describe(x)}`, 'TypeError');
  return x;
}

export function pair(size: Size, what: string): [number, number] {
  const s: number[] = typeof size === 'number' ? [size, size] : size.length === 1 ? [size[0], size[0]] : [...size];
  if (s.length !== 2 || !s.every((v) => Number.isInteger(v) && v > 0))
    throw argError(`${what}: size must be a positive integer or [h, w] of positive integers, got ${JSON.stringify(size)}`);
  return [s[0], s[1]];
}

// ---- conversion and normalisation ----------------------------------------------------------------

// x / 255 for every byte value, as float32 division gives it.
const BYTE_TO_FLOAT = Float32Array.from({ length: 256 }, (_, i) => f(i / 255));

/** HWC uint8 Image -> (C, H, W) float32 in [0, 1] (torchvision's to_tensor). */
export function toTensor(img: Image): TensorLike {
  if (!isImage(img)) {
    if (isTensor(img) || (img as unknown) instanceof HostTensor)
      throw argError('toTensor: the input is already a tensor (ToTensor converts an Image; remove the extra ToTensor)', 'TypeError');
    throw argError(`toTensor: expected an Image {data, height, width, channels}, got ${describe(img)}`, 'TypeError');
  }
  const { data, height: h, width: w, channels: c } = img;
  const plane = h * w;
  const out = new Float32Array(c * plane);
  if (c === 1) for (let k = 0; k < plane; k++) out[k] = BYTE_TO_FLOAT[data[k]];
  else for (let k = 0; k < plane; k++) for (let ch = 0; ch < c; ch++) out[ch * plane + k] = BYTE_TO_FLOAT[data[k * c + ch]];
  return newTensor(out, [c, h, w]);
}

function perChannel(v: number | number[], c: number, what: string): number[] {
  const a = typeof v === 'number' ? [v] : [...v];
  if (a.length === 1) return new Array<number>(c).fill(a[0]);
  if (a.length !== c) throw argError(`${what} has ${a.length} values for an image with ${c} channels`);
  return a;
}

/**
 * @internal What toTensor followed by `norms` (normalize calls, in order) makes of each byte value, per
 * channel of a `c`-channel image: the same float32 operations, so a batch built by table lookup equals
 * the per-image path bit for bit. null where a normalize would throw (the per-image path reports it).
 */
export function byteLookup(c: number, norms: { mean: number[]; std: number[] }[]): Float32Array[] | null {
  const luts = Array.from({ length: c }, () => BYTE_TO_FLOAT.slice());
  for (const { mean, std } of norms) {
    if ((mean.length !== 1 && mean.length !== c) || (std.length !== 1 && std.length !== c)) return null;
    const m = perChannel(mean, c, 'normalize: mean').map(f);
    const s = perChannel(std, c, 'normalize: std').map(f);
    if (s.some((v) => v === 0)) return null;
    luts.forEach((lut, ch) => {
      for (let b = 0; b < 256; b++) lut[b] = f(f(lut[b] - m[ch]) / s[ch]);
    });
  }
  return luts;
}

/** (x - mean[c]) / std[c] per channel, in float32 as torchvision's normalize. */
export function normalize(x: TensorLike, mean: number[], std: number[]): TensorLike {
  requireTensor(x, 'normalize');
  if (x.shape.length < 3)
    throw shapeError(`normalize: expected a tensor image of size (..., C, H, W), got ${fmtShape(x.shape)}`);
  const p = toPlanes(x, 'normalize');
  const m = perChannel(mean, p.c, 'normalize: mean').map(f);
  const s = perChannel(std, p.c, 'normalize: std').map(f);
  if (s.some((v) => v === 0)) throw argError(`normalize: std evaluated to zero after conversion to float32 (std ${JSON.stringify(std)})`);
  const plane = p.h * p.w;
  const src = p.data;
  const out = new Float32Array(src.length);
  for (let q = 0; q < p.images * p.c; q++) {
    const mc = m[q % p.c];
    const sc = s[q % p.c];
    const end = (q + 1) * plane;
    for (let k = q * plane; k < end; k++) out[k] = f(f(src[k] - mc) / sc);
  }
  return fromPlanes(x, p, out, p.h, p.w) as TensorLike;
}

// ---- geometry: index remapping --------------------------------------------------------------------

function fillValues(fill: Fill, c: number, uint8: boolean, op: string): number[] {
  const v = perChannel(fill, c, `${op}: fill`);
  return uint8 ? v.map((x) => Math.min(255, Math.max(0, Math.round(x)))) : v.map(f);
}

/**
 * out[y][x] = src[ys[y]][xs[x]], or fill where either index is -1: crop, pad (every mode), flips and
 * center crop are all separable index maps, so one loop serves them on both layouts.
 */
export function remap(x: ImageLike, op: string, ys: Int32Array, xs: Int32Array, fill: Fill = 0): ImageLike {
  const oh = ys.length;
  const ow = xs.length;
  if (isImage(x)) {
    const { data, width: w, channels: c } = x;
    const fv = fillValues(fill, c, true, op);
    const out = new Uint8Array(oh * ow * c);
    if (c === 1) {
      // The common grayscale case without the channel loop.
      const f0 = fv[0];
      for (let y = 0, o = 0; y < oh; y++) {
        const sy = ys[y];
        if (sy < 0) {
          out.fill(f0, o, o + ow);
          o += ow;
          continue;
        }
        const row = sy * w;
        for (let xx = 0; xx < ow; xx++, o++) {
          const sx = xs[xx];
          out[o] = sx < 0 ? f0 : data[row + sx];
        }
      }
      return { data: out, height: oh, width: ow, channels: 1 };
    }
    for (let y = 0; y < oh; y++) {
      const sy = ys[y];
      for (let xx = 0; xx < ow; xx++) {
        const sx = xs[xx];
        const o = (y * ow + xx) * c;
        if (sy < 0 || sx < 0) for (let ch = 0; ch < c; ch++) out[o + ch] = fv[ch];
        else {
          const s = (sy * w + sx) * c;
          for (let ch = 0; ch < c; ch++) out[o + ch] = data[s + ch];
        }
      }
    }
    return { data: out, height: oh, width: ow, channels: c };
  }
  const t = requireTensor(x, op);
  const p = toPlanes(t, op);
  const fv = fillValues(fill, p.c, false, op);
  const out = new Float32Array(p.images * p.c * oh * ow);
  const inPlane = p.h * p.w;
  for (let q = 0; q < p.images * p.c; q++) {
    const src = q * inPlane;
    const fc = fv[q % p.c];
    let o = q * oh * ow;
    for (let y = 0; y < oh; y++) {
      const sy = ys[y];
      if (sy < 0) {
        out.fill(fc, o, o + ow);
        o += ow;
        continue;
      }
      const row = src + sy * p.w;
      for (let xx = 0; xx < ow; xx++, o++) {
        const sx = xs[xx];
        out[o] = sx < 0 ? fc : p.data[row + sx];
      }
    }
  }
  return fromPlanes(x, p, out, oh, ow);
}

/** Indices start..start+len-1, -1 outside [0, n). */
export function rangeIndex(start: number, len: number, n: number): Int32Array {
  const a = new Int32Array(len);
  for (let i = 0; i < len; i++) {
    const s = start + i;
    a[i] = s >= 0 && s < n ? s : -1;
  }
  return a;
}

export function hflip(x: ImageLike): ImageLike {
  const [, h, w] = getDimensions(x);
  const xs = new Int32Array(w);
  for (let i = 0; i < w; i++) xs[i] = w - 1 - i;
  return remap(x, 'hflip', rangeIndex(0, h, h), xs);
}

export function vflip(x: ImageLike): ImageLike {
  const [, h, w] = getDimensions(x);
  const ys = new Int32Array(h);
  for (let i = 0; i < h; i++) ys[i] = h - 1 - i;
  return remap(x, 'vflip', ys, rangeIndex(0, w, w));
}

/** The region [top, top+height) x [left, left+width); parts outside the image are 0 (torchvision's crop). */
export function crop(x: ImageLike, top: number, left: number, height: number, width: number): ImageLike {
  const [, h, w] = getDimensions(x);
  if (![top, left, height, width].every(Number.isInteger) || height < 0 || width < 0)
    throw argError(`crop: top, left, height, width must be integers with non-negative sizes, got ${[top, left, height, width].join(', ')}`);
  return remap(x, 'crop', rangeIndex(top, height, h), rangeIndex(left, width, w));
}

/** [left, right, top, bottom] from torchvision's 1, 2 or 4 value padding ([l, t, r, b] for 4). */
export function parsePadding(padding: Padding): [number, number, number, number] {
  const p = typeof padding === 'number' ? [padding] : [...padding];
  if (!p.every(Number.isInteger)) throw argError(`padding must be integers, got ${JSON.stringify(padding)}`);
  if (p.length === 1) return [p[0], p[0], p[0], p[0]];
  if (p.length === 2) return [p[0], p[0], p[1], p[1]];
  if (p.length === 4) return [p[0], p[2], p[1], p[3]];
  throw argError(`padding must be an int or a 1, 2, or 4 element array, not a ${p.length} element array`);
}

function padIndex(i: number, n: number, mode: PaddingMode): number {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 'constant':
      return -1;
    case 'edge':
      return i < 0 ? 0 : n - 1;
    case 'reflect':
      return i < 0 ? -i : 2 * (n - 1) - i;
    case 'symmetric':
      return i < 0 ? -i - 1 : 2 * n - 1 - i;
  }
}

/** The index maps of pad(); `op` names the caller in errors. */
export function padIndices(h: number, w: number, padding: Padding, mode: PaddingMode, op = 'pad'): { ys: Int32Array; xs: Int32Array } {
  if (!['constant', 'edge', 'reflect', 'symmetric'].includes(mode))
    throw argError(`${op}: padding mode should be either constant, edge, reflect or symmetric, got '${mode}'`);
  const [l, r, t, b] = parsePadding(padding);
  const oh = h + t + b;
  const ow = w + l + r;
  if (oh <= 0 || ow <= 0) throw argError(`${op}: padding ${JSON.stringify(padding)} leaves no pixels of a ${h}x${w} image`);
  // Reflection can only reach one image length away (torch's reflect pad: pad < size).
  const limit = mode === 'reflect' ? (n: number) => n - 1 : mode === 'symmetric' ? (n: number) => n : () => Infinity;
  if (Math.max(l, r) > limit(w) || Math.max(t, b) > limit(h))
    throw argError(`${op}: ${mode} padding ${JSON.stringify(padding)} is too large for a ${h}x${w} image`);
  const ys = new Int32Array(oh);
  const xs = new Int32Array(ow);
  for (let y = 0; y < oh; y++) ys[y] = padIndex(y - t, h, mode);
  for (let x = 0; x < ow; x++) xs[x] = padIndex(x - l, w, mode);
  return { ys, xs };
}

export function pad(x: ImageLike, padding: Padding, fill: Fill = 0, paddingMode: PaddingMode = 'constant'): ImageLike {
  const [, h, w] = getDimensions(x);
  const { ys, xs } = padIndices(h, w, padding, paddingMode);
  return remap(x, 'pad', ys, xs, fill);
}

export function centerCrop(x: ImageLike, outputSize: Size): ImageLike {
  const [ch, cw] = pair(outputSize, 'centerCrop');
  let img = x;
  let [, h, w] = getDimensions(x);
  if (cw > w || ch > h) {
    const padLtrb: [number, number, number, number] = [
      cw > w ? Math.floor((cw - w) / 2) : 0,
      ch > h ? Math.floor((ch - h) / 2) : 0,
      cw > w ? Math.floor((cw - w + 1) / 2) : 0,
      ch > h ? Math.floor((ch - h + 1) / 2) : 0,
    ];
    img = pad(img, padLtrb, 0);
    [, h, w] = getDimensions(img);
    if (cw === w && ch === h) return img;
  }
  return crop(img, roundHalfEven((h - ch) / 2), roundHalfEven((w - cw) / 2), ch, cw);
}

// ---- resampling ---------------------------------------------------------------------------------

export interface ResizeOptions {
  interpolation?: Interpolation;
  maxSize?: number;
  /** Only false is supported (torchvision's default for tensors). */
  antialias?: boolean;
}

/** [h, w] after resize(size) (torchvision's _compute_resized_output_size). */
export function resizedOutputSize(h: number, w: number, size: Size, maxSize?: number): [number, number] {
  const s = typeof size === 'number' ? [size] : [...size];
  if (!s.every((v) => Number.isInteger(v) && v > 0) || s.length < 1 || s.length > 2)
    throw argError(`resize: size must be a positive integer or [h, w], got ${JSON.stringify(size)}`);
  if (s.length === 2) {
    if (maxSize !== undefined) throw argError('resize: maxSize is only allowed when size is a single number (the smaller edge)');
    return [s[0], s[1]];
  }
  const [short, long] = w <= h ? [w, h] : [h, w];
  let newShort = s[0];
  let newLong = Math.trunc((newShort * long) / short);
  if (maxSize !== undefined) {
    if (maxSize <= newShort)
      throw argError(`resize: maxSize = ${maxSize} must be strictly greater than the requested size for the smaller edge size = ${newShort}`);
    if (newLong > maxSize) [newShort, newLong] = [Math.trunc((maxSize * newShort) / newLong), maxSize];
  }
  return w <= h ? [newLong, newShort] : [newShort, newLong];
}

interface Linear {
  i0: Int32Array;
  i1: Int32Array;
  l0: Float32Array;
  l1: Float32Array;
}

// upsample_bilinear2d (align_corners=False): source index scale*(d+0.5)-0.5 clamped at 0 with a float32
// scale. PyTorch's compiled kernel rounds the weight once from the exact source index (measured against
// torch 1.13: bit-exact), so the index is kept in double here.
function linearWeights(inSize: number, outSize: number): Linear {
  const scale = f(inSize / outSize);
  const r: Linear = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), l0: new Float32Array(outSize), l1: new Float32Array(outSize) };
  for (let d = 0; d < outSize; d++) {
    let src = scale * (d + 0.5) - 0.5;
    if (src < 0) src = 0;
    const i0 = Math.trunc(src);
    const l1 = Math.min(Math.max(f(src - i0), 0), 1);
    r.i0[d] = i0;
    r.i1[d] = i0 + (i0 < inSize - 1 ? 1 : 0);
    r.l1[d] = l1;
    r.l0[d] = f(1 - l1);
  }
  return r;
}

// upsample_nearest2d: floor(d * scale) with float32 scale, exact shortcuts for 1x and 2x.
function nearestIndex(inSize: number, outSize: number): Int32Array {
  const a = new Int32Array(outSize);
  const scale = f(inSize / outSize);
  for (let d = 0; d < outSize; d++) {
    if (outSize === inSize) a[d] = d;
    else if (outSize === 2 * inSize) a[d] = d >> 1;
    else a[d] = Math.min(Math.floor(f(d * scale)), inSize - 1);
  }
  return a;
}

function resamplePlanes(p: Planes, oh: number, ow: number, mode: Interpolation): Float32Array {
  const out = new Float32Array(p.images * p.c * oh * ow);
  const inPlane = p.h * p.w;
  const src = p.data;
  if (mode === 'nearest') {
    const ys = nearestIndex(p.h, oh);
    const xs = nearestIndex(p.w, ow);
    for (let q = 0, o = 0; q < p.images * p.c; q++)
      for (let y = 0; y < oh; y++) {
        const row = q * inPlane + ys[y] * p.w;
        for (let x = 0; x < ow; x++, o++) out[o] = src[row + xs[x]];
      }
    return out;
  }
  const Y = linearWeights(p.h, oh);
  const X = linearWeights(p.w, ow);
  for (let q = 0, o = 0; q < p.images * p.c; q++) {
    const base = q * inPlane;
    for (let y = 0; y < oh; y++) {
      const r0 = base + Y.i0[y] * p.w;
      const r1 = base + Y.i1[y] * p.w;
      const h0 = Y.l0[y];
      const h1 = Y.l1[y];
      for (let x = 0; x < ow; x++, o++) {
        const x0 = X.i0[x];
        const x1 = X.i1[x];
        const w0 = X.l0[x];
        const w1 = X.l1[x];
        // t0 * w0 + t1 * w1 as the compiled kernel contracts it: fma(t0, w0, t1 * w1), rows then columns.
        const t0 = fma(src[r0 + x0], w0, f(src[r0 + x1] * w1));
        const t1 = fma(src[r1 + x0], w0, f(src[r1 + x1] * w1));
        out[o] = fma(t0, h0, f(t1 * h1));
      }
    }
  }
  return out;
}

/**
 * Resize to `size` ([h, w], or the smaller edge when one number). Bilinear without antialiasing
 * (align_corners=False) or nearest, as torchvision on a tensor; a uint8 image is rounded back.
 */
export function resize(x: ImageLike, size: Size, opts: ResizeOptions = {}): ImageLike {
  const mode = opts.interpolation ?? 'bilinear';
  if (mode !== 'bilinear' && mode !== 'nearest') throw argError(`resize: interpolation must be 'bilinear' or 'nearest', got '${mode}'`);
  if (opts.antialias) throw argError('resize: antialias=true is not supported (torchvision\'s tensor default, antialias=false, is what convkit computes)');
  const [, h, w] = getDimensions(x);
  const [oh, ow] = resizedOutputSize(h, w, size, opts.maxSize);
  if (oh === h && ow === w) return x;
  const p = toPlanes(x, 'resize');
  return fromPlanes(x, p, resamplePlanes(p, oh, ow, mode), oh, ow, 'round');
}

export function resizedCrop(x: ImageLike, top: number, left: number, height: number, width: number, size: Size, opts: ResizeOptions = {}): ImageLike {
  return resize(crop(x, top, left, height, width), pair(size, 'resizedCrop'), opts);
}

// ---- colour -------------------------------------------------------------------------------------

function colorPlanes(x: ImageLike, op: string): Planes {
  const p = toPlanes(x, op);
  if (p.c !== 1 && p.c !== 3) throw argError(`${op}: expected an image with 1 or 3 channels, got ${p.c}`);
  return p;
}

// rgb_to_grayscale: 0.2989 r + 0.587 g + 0.114 b, cast back to the image's dtype (truncated for uint8).
function grayOf(p: Planes, img: number, out: Float32Array): void {
  const plane = p.h * p.w;
  const r = img * 3 * plane;
  const kr = f(0.2989);
  const kg = f(0.587);
  const kb = f(0.114);
  for (let k = 0; k < plane; k++) {
    const v = f(f(f(kr * p.data[r + k]) + f(kg * p.data[r + plane + k])) + f(kb * p.data[r + 2 * plane + k]));
    out[k] = p.uint8 ? Math.trunc(v) : v;
  }
}

// _blend: (ratio * a + (1 - ratio) * b).clamp(0, bound), with the scalars taken as float32.
function blend(a: number, b: number, r: number, r1: number, bound: number): number {
  const v = f(f(r * a) + f(r1 * b));
  return v < 0 ? 0 : v > bound ? bound : v;
}

function checkFactor(v: number, what: string): void {
  if (!(v >= 0)) throw argError(`${what} (${v}) is not non-negative.`);
}

/**
 * _blend of every image with its degenerate one, torchvision's adjust_brightness/contrast/saturation:
 * `degenerate(img, d)` fills d (one plane, zeros on entry, shared by the channels) for image img.
 */
function blendDegenerate(x: ImageLike, p: Planes, factor: number, degenerate: (img: number, d: Float32Array) => void): ImageLike {
  const r = f(factor);
  const r1 = f(1 - factor);
  const bound = p.uint8 ? 255 : 1;
  const plane = p.h * p.w;
  const out = new Float32Array(p.data.length);
  const d = new Float32Array(plane);
  for (let img = 0; img < p.images; img++) {
    degenerate(img, d);
    for (let ch = 0, base = img * p.c * plane; ch < p.c; ch++, base += plane)
      for (let k = 0; k < plane; k++) out[base + k] = blend(p.data[base + k], d[k], r, r1, bound);
  }
  return fromPlanes(x, p, out, p.h, p.w, 'trunc');
}

export function adjustBrightness(x: ImageLike, brightnessFactor: number): ImageLike {
  checkFactor(brightnessFactor, 'brightness_factor');
  return blendDegenerate(x, colorPlanes(x, 'adjustBrightness'), brightnessFactor, () => {}); // blended with black
}

export function adjustContrast(x: ImageLike, contrastFactor: number): ImageLike {
  checkFactor(contrastFactor, 'contrast_factor');
  const p = colorPlanes(x, 'adjustContrast');
  const plane = p.h * p.w;
  return blendDegenerate(x, p, contrastFactor, (img, d) => {
    // blended with the mean of the grayscale image
    const base = img * p.c * plane;
    let sum = 0;
    if (p.c === 3) {
      grayOf(p, img, d);
      for (let k = 0; k < plane; k++) sum += d[k];
    } else for (let k = base; k < base + plane; k++) sum += p.data[k];
    d.fill(f(f(sum) / plane));
  });
}

export function adjustSaturation(x: ImageLike, saturationFactor: number): ImageLike {
  checkFactor(saturationFactor, 'saturation_factor');
  const p = colorPlanes(x, 'adjustSaturation');
  if (p.c === 1) return x; // torchvision matches PIL: a grayscale image has no saturation to change
  return blendDegenerate(x, p, saturationFactor, (img, d) => grayOf(p, img, d)); // blended with the grayscale image
}

/** Shifts the hue by hueFactor (in [-0.5, 0.5]) through HSV, torchvision's _rgb2hsv/_hsv2rgb in float32. */
export function adjustHue(x: ImageLike, hueFactor: number): ImageLike {
  if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) throw argError(`hue_factor (${hueFactor}) is not in [-0.5, 0.5].`);
  const p = colorPlanes(x, 'adjustHue');
  if (p.c === 1) return x;
  const hf = f(hueFactor);
  const plane = p.h * p.w;
  const out = new Float32Array(p.data.length);
  for (let img = 0; img < p.images; img++) {
    const base = img * 3 * plane;
    for (let k = 0; k < plane; k++) {
      let r = p.data[base + k];
      let g = p.data[base + plane + k];
      let b = p.data[base + 2 * plane + k];
      if (p.uint8) {
        r = f(r / 255);
        g = f(g / 255);
        b = f(b / 255);
      }
      // _rgb2hsv
      const maxc = Math.max(r, g, b);
      const minc = Math.min(r, g, b);
      const eqc = maxc === minc;
      const cr = f(maxc - minc);
      const s = f(cr / (eqc ? 1 : maxc));
      const crd = eqc ? 1 : cr;
      const rc = f(f(maxc - r) / crd);
      const gc = f(f(maxc - g) / crd);
      const bc = f(f(maxc - b) / crd);
      const hr = maxc === r ? f(bc - gc) : 0;
      const hg = maxc === g && maxc !== r ? f(f(2 + rc) - bc) : 0;
      const hb = maxc !== g && maxc !== r ? f(f(4 + gc) - rc) : 0;
      let h = f(f(hr + hg) + hb);
      h = f(f(h / 6) + 1) % 1;
      // (h + hue_factor) % 1.0: torch.remainder, the sign of the divisor
      let hh = f(h + hf) % 1;
      if (hh < 0) hh = f(hh + 1);
      // _hsv2rgb
      const v = maxc;
      const h6 = f(hh * 6);
      const i = Math.floor(h6);
      const fr = f(h6 - i);
      const clamp01 = (z: number) => (z < 0 ? 0 : z > 1 ? 1 : z);
      const pp = clamp01(f(v * f(1 - s)));
      const qq = clamp01(f(v * f(1 - f(s * fr))));
      const tt = clamp01(f(v * f(1 - f(s * f(1 - fr)))));
      const sector = ((i % 6) + 6) % 6;
      const R = [v, qq, pp, pp, tt, v][sector];
      const G = [tt, v, v, qq, pp, pp][sector];
      const B = [pp, pp, tt, v, v, qq][sector];
      out[base + k] = p.uint8 ? f(R * 255) : R;
      out[base + plane + k] = p.uint8 ? f(G * 255) : G;
      out[base + 2 * plane + k] = p.uint8 ? f(B * 255) : B;
    }
  }
  return fromPlanes(x, p, out, p.h, p.w, 'trunc');
}

// ---- rotation -----------------------------------------------------------------------------------

export interface RotateOptions {
  interpolation?: Interpolation;
  /** Only false is supported. */
  expand?: boolean;
  /** Centre of rotation (x, y) in pixels from the top-left corner; default the image centre. */
  center?: [number, number];
  fill?: Fill;
}

/**
 * Rotates counter-clockwise by `angle` degrees, as torchvision's tensor rotate: the inverse affine
 * matrix, an affine grid in float32 and grid_sample (align_corners=False); pixels that map outside the
 * image take `fill`.
 */
export function rotate(x: ImageLike, angle: number, opts: RotateOptions = {}): ImageLike {
  const mode = opts.interpolation ?? 'nearest';
  if (mode !== 'bilinear' && mode !== 'nearest') throw argError(`rotate: interpolation must be 'nearest' or 'bilinear', got '${mode}'`);
  if (opts.expand) throw argError('rotate: expand=true is not supported');
  if (!Number.isFinite(angle)) throw argError(`rotate: angle must be a finite number, got ${angle}`, 'TypeError');
  const p = toPlanes(x, 'rotate');
  const { h, w } = p;
  let cx = 0;
  let cy = 0;
  if (opts.center) {
    cx = opts.center[0] - w * 0.5;
    cy = opts.center[1] - h * 0.5;
  }
  // _get_inverse_affine_matrix(center, -angle, translate 0, scale 1, shear 0), in double.
  const rot = (-angle * Math.PI) / 180;
  const a = Math.cos(rot);
  const b = -Math.sin(rot);
  const c = Math.sin(rot);
  const d = Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0];
  m[2] += m[0] * -cx + m[1] * -cy;
  m[5] += m[3] * -cx + m[4] * -cy;
  m[2] += cx;
  m[5] += cy;
  const th = m.map(f); // theta is a float32 tensor
  // _gen_affine_grid: base grid of pixel centres, theta^T / [w/2, h/2]
  const hw = f(0.5 * w);
  const hh = f(0.5 * h);
  const R00 = f(th[0] / hw), R10 = f(th[1] / hw), R20 = f(th[2] / hw);
  const R01 = f(th[3] / hh), R11 = f(th[4] / hh), R21 = f(th[5] / hh);
  const fv = fillValues(opts.fill ?? 0, p.c, p.uint8, 'rotate').map(f);
  const plane = h * w;
  const out = new Float32Array(p.data.length);
  const sw = w / 2;
  const sh = h / 2;
  for (let y = 0; y < h; y++) {
    const by = -h * 0.5 + 0.5 + y;
    for (let xx = 0; xx < w; xx++) {
      const bx = -w * 0.5 + 0.5 + xx;
      const gx = f(f(f(bx * R00) + f(by * R10)) + R20);
      const gy = f(f(f(bx * R01) + f(by * R11)) + R21);
      // grid_sample unnormalize, align_corners=False: (g + 1) * size/2 - 0.5
      const ix = f(f(f(gx + 1) * sw) - 0.5);
      const iy = f(f(f(gy + 1) * sh) - 0.5);
      const o = y * w + xx;
      if (mode === 'nearest') {
        const nx = roundHalfEven(ix);
        const ny = roundHalfEven(iy);
        const inside = nx >= 0 && nx < w && ny >= 0 && ny < h;
        for (let q = 0; q < p.images * p.c; q++)
          out[q * plane + o] = inside ? p.data[q * plane + ny * w + nx] : fv[q % p.c];
      } else {
        const x0 = Math.floor(ix);
        const y0 = Math.floor(iy);
        const wx = f(ix - x0);
        const ex = f(1 - wx);
        const wy = f(iy - y0);
        const ey = f(1 - wy);
        const wNW = f(ey * ex), wNE = f(ey * wx), wSW = f(wy * ex), wSE = f(wy * wx);
        const inX0 = x0 >= 0 && x0 < w, inX1 = x0 + 1 >= 0 && x0 + 1 < w;
        const inY0 = y0 >= 0 && y0 < h, inY1 = y0 + 1 >= 0 && y0 + 1 < h;
        // The mask channel (ones sampled the same way) blends toward the fill colour.
        const mask = f(f(f(f(inY0 && inX0 ? wNW : 0) + (inY0 && inX1 ? wNE : 0)) + (inY1 && inX0 ? wSW : 0)) + (inY1 && inX1 ? wSE : 0));
        for (let q = 0; q < p.images * p.c; q++) {
          const s = q * plane;
          const at = (yy: number, xq: number, ok: boolean) => (ok ? p.data[s + yy * w + xq] : 0);
          let v = f(at(y0, x0, inY0 && inX0) * wNW);
          v = f(v + f(at(y0, x0 + 1, inY0 && inX1) * wNE));
          v = f(v + f(at(y0 + 1, x0, inY1 && inX0) * wSW));
          v = f(v + f(at(y0 + 1, x0 + 1, inY1 && inX1) * wSE));
          out[q * plane + o] = f(f(v * mask) + f(f(1 - mask) * fv[q % p.c]));
        }
      }
    }
  }
  return fromPlanes(x, p, out, h, w, 'round');
}

// ---- erasing ------------------------------------------------------------------------------------

/**
 * Sets the region [i, i+h) x [j, j+w) of every channel to v: one value, one per channel, or a
 * (C, h, w) array of values (random erasing). Tensors only, as torchvision.
 */
export function erase(x: TensorLike, i: number, j: number, h: number, w: number, v: number | number[] | Float32Array | TensorLike): TensorLike {
  requireTensor(x, 'erase');
  const p = toPlanes(x, 'erase');
  const out = Float32Array.from(p.data);
  if (i < 0 || j < 0 || i + h > p.h || j + w > p.w) throw argError(`erase: region (${i}, ${j}, ${h}, ${w}) is outside the ${p.h}x${p.w} image`);
  let vals: Float32Array | number[];
  let perPixel = false;
  if (isTensor(v) || v instanceof HostTensor) {
    vals = hostData(v, 'erase');
    perPixel = vals.length > 1 && vals.length !== p.c;
  } else if (v instanceof Float32Array) {
    vals = v;
    perPixel = v.length > 1 && v.length !== p.c;
  } else vals = perChannel(v, p.c, 'erase: value').map(f);
  if (perPixel && vals.length !== p.c * h * w)
    throw shapeError(`erase: ${vals.length} values for a ${p.c}x${h}x${w} region`);
  const plane = p.h * p.w;
  for (let q = 0; q < p.images * p.c; q++) {
    const ch = q % p.c;
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        out[q * plane + (i + y) * p.w + j + xx] = perPixel ? vals[(ch * h + y) * w + xx] : vals.length === 1 ? vals[0] : vals[ch];
  }
  return wrapTensor(x, out, [...x.shape]);
}

export { getDimensions };
