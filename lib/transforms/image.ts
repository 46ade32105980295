/**
 * What transforms operate on. Before ToTensor an item is an `Image`: height x width x channels bytes
 * (HWC, row-major), the role PIL images play in torchvision. After ToTensor it is a float32 (C, H, W)
 * `ck.Tensor`; inside DataLoader workers (and the loader's own in-process path) it is a `HostTensor`,
 * the same numbers in a plain Float32Array, so per-sample work never crosses into native code.
 *
 * Uint8 images follow torchvision's tensor path on uint8 tensors (computed in float32, then cast back),
 * not PIL's own resampling, so one set of formulas serves both kinds and can be checked exactly.
 */
import { ckError, fmtShape, shapeError } from '../errors';
import type { Tensor } from '../tensor';
import { isTensor, makeTensor } from './lazy_tensor';

/** An image before ToTensor: `data` holds height*width*channels bytes, channel fastest (HWC). */
export interface Image {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/** A host-side float32/int32 array with a shape, what workers pass around instead of ck.Tensor (not for user code; public only because TensorLike names it). */
export class HostTensor {
  constructor(
    readonly data: Float32Array | Int32Array,
    readonly shape: number[],
    readonly dtype: 'float32' | 'int32' = 'float32',
  ) {}
}

export type TensorLike = Tensor | HostTensor;
export type ImageLike = Image | Tensor | HostTensor;

export function isImage(x: unknown): x is Image {
  const o = x as Image;
  return !!o && typeof o === 'object' && o.data instanceof Uint8Array && Number.isInteger(o.height) && Number.isInteger(o.width) && Number.isInteger(o.channels);
}

/** An Image after checking that its fields agree. */
export function makeImage(data: Uint8Array, height: number, width: number, channels: number): Image {
  if (data.length !== height * width * channels)
    throw shapeError(`Image: ${data.length} bytes do not make a ${height}x${width}x${channels} image`);
  return { data, height, width, channels };
}

// Depth counter, not a flag: the loader's host path may nest (Compose inside Compose).
let hostDepth = 0;

/** @internal runs fn with ToTensor producing HostTensors (fn must be synchronous). */
export function withHostTensors<T>(fn: () => T): T {
  hostDepth++;
  try {
    return fn();
  } finally {
    hostDepth--;
  }
}

export function inHostMode(): boolean {
  return hostDepth > 0;
}

/**
 * A float view of an image for arithmetic: `images` images of `c` channels, each c planes of h*w,
 * plus what's needed to rebuild the same kind of value. Uint8 images become float 0..255 (the cast
 * torchvision does before resampling or blending a uint8 tensor).
 */
export interface Planes {
  data: Float32Array;
  images: number;
  c: number;
  h: number;
  w: number;
  lead: number[]; // leading dims of a tensor before (C, H, W); [] for a (C, H, W) or (H, W) input
  ndim: number;
  uint8: boolean;
}

function tensorShape(shape: readonly number[], op: string): { lead: number[]; c: number; h: number; w: number } {
  if (shape.length < 2) throw shapeError(`${op}: expected a tensor image of shape (..., C, H, W) or (H, W), got ${fmtShape(shape)}`);
  const h = shape[shape.length - 2];
  const w = shape[shape.length - 1];
  if (shape.length === 2) return { lead: [], c: 1, h, w };
  return { lead: shape.slice(0, -3) as number[], c: shape[shape.length - 3], h, w };
}

export function hostData(x: TensorLike, op: string): Float32Array {
  if (x.dtype !== 'float32') throw ckError('ERR_DTYPE', `${op}: expected a float32 image tensor, got ${x.dtype}`, 'TypeError');
  if (x instanceof HostTensor) return x.data as Float32Array;
  return x.dataSync() as Float32Array;
}

export function toPlanes(x: ImageLike, op: string): Planes {
  if (isImage(x)) {
    const { height: h, width: w, channels: c, data } = x;
    const out = new Float32Array(c * h * w);
    for (let y = 0, k = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++, k++) for (let ch = 0; ch < c; ch++) out[ch * h * w + k] = data[k * c + ch];
    return { data: out, images: 1, c, h, w, lead: [], ndim: 3, uint8: true };
  }
  if (!isTensor(x) && !(x instanceof HostTensor))
    throw ckError('ERR_ARG', `${op}: expected an Image or a tensor image, got ${describe(x)}`, 'TypeError');
  const { lead, c, h, w } = tensorShape(x.shape, op);
  const images = lead.reduce((a, b) => a * b, 1);
  return { data: hostData(x, op), images, c, h, w, lead, ndim: x.shape.length, uint8: false };
}

export type Rounding = 'round' | 'trunc';

/** Rebuilds the kind of `like` from planes of size h x w (uint8: clamped and rounded as `rounding`). */
export function fromPlanes(like: ImageLike, p: Planes, data: Float32Array, h: number, w: number, rounding: Rounding = 'round'): ImageLike {
  if (isImage(like)) {
    const c = p.c;
    const out = new Uint8Array(h * w * c);
    const plane = h * w;
    for (let ch = 0; ch < c; ch++) {
      for (let k = 0; k < plane; k++) {
        const v = data[ch * plane + k];
        // Uint8Array stores Math.trunc of what it gets: the cast of torch's `.to(torch.uint8)`.
        const r = rounding === 'round' ? roundHalfEven(v) : v;
        out[k * c + ch] = r < 0 ? 0 : r > 255 ? 255 : r;
      }
    }
    return { data: out, height: h, width: w, channels: c };
  }
  const shape = p.ndim === 2 ? [h, w] : [...p.lead, p.c, h, w];
  return wrapTensor(like as TensorLike, data, shape);
}

/** A tensor of the same kind (and device) as `like` holding `data`. */
export function wrapTensor(like: TensorLike, data: Float32Array, shape: number[]): TensorLike {
  if (like instanceof HostTensor) return new HostTensor(data, shape);
  return makeTensor(data, shape, like.device);
}

/** A new float32 tensor: a HostTensor inside the loader, a ck.Tensor otherwise. */
export function newTensor(data: Float32Array, shape: number[]): TensorLike {
  return inHostMode() ? new HostTensor(data, shape) : makeTensor(data, shape);
}

/** torch.round / Python round: halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** [C, H, W] of an image (torchvision's get_dimensions). */
export function getDimensions(x: ImageLike): [number, number, number] {
  if (isImage(x)) return [x.channels, x.height, x.width];
  if (isTensor(x) || x instanceof HostTensor) {
    const { c, h, w } = tensorShape(x.shape, 'getDimensions');
    return [c, h, w];
  }
  throw ckError('ERR_ARG', `expected an Image or a tensor image, got ${describe(x)}`, 'TypeError');
}

export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (isTensor(x)) return x.toString();
  if (x instanceof HostTensor) return `a host tensor of shape ${fmtShape(x.shape)}`;
  if (typeof x === 'object') return `an object (${Object.keys(x as object).slice(0, 4).join(', ')})`;
  return typeof x;
}
