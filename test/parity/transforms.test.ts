/**
 * transforms against torchvision 0.14 on the same image and the same random choice: each random
 * transform runs under a seed, its getParams replays the choice under the same seed, and torchvision's
 * functional API applies that choice. Float tensors (the tensor path) must agree to 1e-5; uint8 Images
 * (torchvision's uint8 tensor path: PIL's role) exactly, except where noted.
 */
import * as ck from '../../lib';
import { Arr, runTorch, stopTorch } from '../helpers/torch';
import { expectClose } from '../helpers/compare';

const T = ck.transforms;
const F = ck.transforms.functional;
type Image = ck.transforms.Image;
afterAll(() => stopTorch());

const TOL = { atol: 1e-5, rtol: 1e-5 };
const PRE = 'import torchvision.transforms.functional as TF\nfrom torchvision.transforms import InterpolationMode as IM\n';

// A deterministic test image (smooth gradients plus noise, so resampling and colour ops see structure).
function testImage(h: number, w: number, c: number, salt = 0): Image {
  const data = new Uint8Array(h * w * c);
  let s = 12345 + salt * 7919;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        s = (s * 1103515245 + 12345) >>> 0;
        const noise = (s >>> 16) % 64;
        data[(y * w + x) * c + ch] = Math.min(255, Math.round((x * 255) / w * (ch === 0 ? 1 : 0.5) + (y * 128) / h + noise * (ch + 1) * 0.5));
      }
  return { data, height: h, width: w, channels: c };
}

/** An Image as a CHW int32 array for the Python side (made uint8 there). */
function chw(img: Image): Arr {
  const { data, height: h, width: w, channels: c } = img;
  const out: number[] = new Array(c * h * w);
  for (let k = 0; k < h * w; k++) for (let ch = 0; ch < c; ch++) out[ch * h * w + k] = data[k * c + ch];
  return { shape: [c, h, w], dtype: 'int32', data: out };
}

function floatImage(c: number, h: number, w: number, seed: number): ck.Tensor {
  ck.manualSeed(seed);
  return ck.rand([c, h, w]);
}

/** Exact comparison of an Image with torchvision's uint8 (C, H, W) result. */
async function expectImage(got: unknown, code: string, inputs: Record<string, ck.Tensor | Arr>, what: string): Promise<void> {
  const want = (await runTorch(PRE + code, inputs)) as Arr;
  expect(ck.transforms.isImage(got)).toBe(true);
  expectClose(chw(got as Image), want, { atol: 0, rtol: 0 }, what);
}

async function expectFloat(got: unknown, code: string, inputs: Record<string, ck.Tensor | Arr>, what: string, tol = TOL): Promise<void> {
  const want = (await runTorch(PRE + code, inputs)) as Arr;
  expect(got).toBeInstanceOf(ck.Tensor);
  expectClose(got as ck.Tensor, want, tol, what);
}

describe('ToTensor and Normalize', () => {
  test('ToTensor: every byte value, HWC -> CHW / 255, as to_tensor on the array', async () => {
    const data = Uint8Array.from({ length: 256 * 3 }, (_, i) => (i * 7) % 256);
    const img: Image = { data, height: 16, width: 16, channels: 3 };
    const got = new T.ToTensor().forward(img) as ck.Tensor;
    expect(got.shape).toEqual([3, 16, 16]);
    const want = (await runTorch(PRE + 'import numpy as np\nout = TF.to_tensor(x.permute(1, 2, 0).numpy().astype(np.uint8))', { x: chw(img) })) as Arr;
    expectClose(got, want, { atol: 0, rtol: 0 }, 'to_tensor');
    const gray = new T.ToTensor().forward(testImage(5, 7, 1)) as ck.Tensor;
    expect(gray.shape).toEqual([1, 5, 7]);
  });

  test('Normalize: per channel, one value broadcast, and batched (N, C, H, W)', async () => {
    const x = floatImage(3, 9, 11, 1);
    const mean = [0.4914, 0.4822, 0.4465];
    const std = [0.247, 0.243, 0.261];
    await expectFloat(new T.Normalize(mean, std).forward(x), `out = TF.normalize(x, ${JSON.stringify(mean)}, ${JSON.stringify(std)})`, { x }, 'normalize', { atol: 0, rtol: 0 });
    await expectFloat(new T.Normalize([0.5], [0.25]).forward(x), 'out = TF.normalize(x, [0.5], [0.25])', { x }, 'normalize broadcast', { atol: 0, rtol: 0 });
    ck.manualSeed(2);
    const b = ck.rand([2, 3, 4, 5]);
    await expectFloat(new T.Normalize(mean, std).forward(b), `out = TF.normalize(b, ${JSON.stringify(mean)}, ${JSON.stringify(std)})`, { b }, 'normalize batch', { atol: 0, rtol: 0 });
  });

  test('Normalize rejects Images, zero std and wrong channel counts with clear errors', () => {
    expect(() => new T.Normalize([0.5], [0.5]).forward(testImage(4, 4, 3) as never)).toThrow(/ToTensor/);
    expect(() => new T.Normalize([0.5], [0]).forward(floatImage(1, 2, 2, 0))).toThrow(/std evaluated to zero/);
    expect(() => new T.Normalize([0.5, 0.5], [1, 1]).forward(floatImage(3, 2, 2, 0))).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });
});

describe('flips and crops', () => {
  test('RandomHorizontalFlip: both decisions, on an Image and on a tensor', async () => {
    const img = testImage(6, 9, 3);
    const x = floatImage(3, 6, 9, 3);
    const seen = new Set<boolean>();
    for (let seed = 0; seed < 6; seed++) {
      ck.manualSeed(seed);
      const flip = T.RandomHorizontalFlip.getParams(0.5);
      seen.add(flip);
      ck.manualSeed(seed);
      const gi = new T.RandomHorizontalFlip().forward(img);
      ck.manualSeed(seed);
      const gt = new T.RandomHorizontalFlip().forward(x);
      const code = (src: string) => `img = ${src}\nout = TF.hflip(img) if ${flip ? 'True' : 'False'} else img`;
      await expectImage(gi, code('x.to(torch.uint8)'), { x: chw(img) }, `hflip image seed ${seed}`);
      await expectFloat(gt, code('x'), { x }, `hflip tensor seed ${seed}`, { atol: 0, rtol: 0 });
    }
    expect(seen.size).toBe(2);
    const v = new T.RandomVerticalFlip(1).forward(img);
    await expectImage(v, 'out = TF.vflip(x.to(torch.uint8))', { x: chw(img) }, 'vflip');
  });

  const cropCases: [string, number | [number, number], ck.transforms.RandomCropOptions, number, number][] = [
    ['CIFAR recipe: 32, padding 4', 32, { padding: 4 }, 32, 32],
    ['padding [l/r, t/b], fill 128', [20, 24], { padding: [3, 1], fill: 128 }, 22, 25],
    ['padding [l, t, r, b], edge', [16, 18], { padding: [1, 2, 3, 4], paddingMode: 'edge' }, 17, 15],
    ['reflect', 12, { padding: 3, paddingMode: 'reflect' }, 12, 13],
    ['symmetric', 12, { padding: 2, paddingMode: 'symmetric' }, 11, 12],
    ['padIfNeeded', [20, 20], { padIfNeeded: true, fill: 7 }, 14, 17],
    ['no padding, same size: no draw', [9, 10], {}, 9, 10],
  ];
  for (const [name, size, opts, h, w] of cropCases) {
    test(`RandomCrop ${name}`, async () => {
      const img = testImage(h, w, 3, 5);
      const x = floatImage(3, h, w, 5);
      const t = new T.RandomCrop(size, opts);
      for (let seed = 10; seed < 13; seed++) {
        ck.manualSeed(seed);
        const gi = t.forward(img);
        ck.manualSeed(seed);
        const gt = t.forward(x);
        // Replay: pad exactly as forward does (no draws), then the crop draw.
        let padded: ck.transforms.ImageLike = img;
        if (opts.padding !== undefined) padded = F.pad(padded, opts.padding as never, opts.fill ?? 0, opts.paddingMode ?? 'constant');
        const [, , pw0] = F.getDimensions(padded);
        const [th, tw] = typeof size === 'number' ? [size, size] : size;
        if (opts.padIfNeeded && pw0 < tw) padded = F.pad(padded, [tw - pw0, 0], opts.fill ?? 0, opts.paddingMode ?? 'constant');
        const [, ph1] = F.getDimensions(padded);
        if (opts.padIfNeeded && ph1 < th) padded = F.pad(padded, [0, th - ph1], opts.fill ?? 0, opts.paddingMode ?? 'constant');
        ck.manualSeed(seed);
        const [i, j] = T.RandomCrop.getParams(padded, [th, tw]);
        const mode = opts.paddingMode ?? 'constant';
        const fill = opts.fill ?? 0;
        const code = (src: string) =>
          `img = ${src}\n` +
          (opts.padding !== undefined ? `img = TF.pad(img, ${JSON.stringify(opts.padding)}, ${fill}, '${mode}')\n` : '') +
          `_, hh, ww = TF.get_dimensions(img)\n` +
          (opts.padIfNeeded ? `if ww < ${tw}: img = TF.pad(img, [${tw} - ww, 0], ${fill}, '${mode}')\n_, hh, ww = TF.get_dimensions(img)\nif hh < ${th}: img = TF.pad(img, [0, ${th} - hh], ${fill}, '${mode}')\n` : '') +
          `out = TF.crop(img, ${i}, ${j}, ${th}, ${tw})`;
        await expectImage(gi, code('x.to(torch.uint8)'), { x: chw(img) }, `${name} image seed ${seed}`);
        await expectFloat(gt, code('x'), { x }, `${name} tensor seed ${seed}`, { atol: 0, rtol: 0 });
      }
    });
  }

  test('CenterCrop: smaller, odd margins, and larger than the image (zero padded)', async () => {
    const img = testImage(11, 14, 3, 2);
    const x = floatImage(3, 11, 14, 2);
    for (const size of [[5, 8], [7, 7], [16, 20], [11, 3], [13, 14]] as [number, number][]) {
      await expectImage(new T.CenterCrop(size).forward(img), `out = TF.center_crop(x.to(torch.uint8), ${JSON.stringify(size)})`, { x: chw(img) }, `center crop ${size}`);
      await expectFloat(new T.CenterCrop(size).forward(x), `out = TF.center_crop(x, ${JSON.stringify(size)})`, { x }, `center crop tensor ${size}`, { atol: 0, rtol: 0 });
    }
  });

  test('Pad: every mode on an Image and a tensor', async () => {
    const img = testImage(5, 6, 3, 4);
    const x = floatImage(3, 5, 6, 4);
    for (const mode of ['constant', 'edge', 'reflect', 'symmetric'] as const) {
      const p: [number, number, number, number] = [2, 1, 3, 4];
      await expectImage(new T.Pad(p, { paddingMode: mode, fill: 9 }).forward(img), `out = TF.pad(x.to(torch.uint8), ${JSON.stringify(p)}, 9, '${mode}')`, { x: chw(img) }, `pad ${mode}`);
      await expectFloat(new T.Pad(p, { paddingMode: mode, fill: 0.25 }).forward(x), `out = TF.pad(x, ${JSON.stringify(p)}, 0.25, '${mode}')`, { x }, `pad tensor ${mode}`, { atol: 0, rtol: 0 });
    }
    expect(() => F.pad(img, 6, 0, 'reflect')).toThrow(/too large/);
  });
});

describe('resizing', () => {
  const sizes: (number | [number, number])[] = [[7, 9], [24, 40], 10, [32, 17], [13, 13], 31];
  test('Resize (bilinear, antialias off) on a float tensor to 1e-5 (RGB: bit for bit)', async () => {
    const x = floatImage(3, 19, 23, 6);
    for (const s of sizes)
      await expectFloat(new T.Resize(s).forward(x), `out = TF.resize(x, ${JSON.stringify(s)}, IM.BILINEAR, antialias=False)`, { x }, `resize ${s}`, { atol: 0, rtol: 0 });
    // One channel takes PyTorch's channels-last kernel, which rounds its float32 sum differently.
    const g = floatImage(1, 28, 28, 7);
    await expectFloat(new T.Resize(32).forward(g), 'out = TF.resize(x, 32, IM.BILINEAR, antialias=False)', { x: g }, 'resize gray');
    await expectFloat(new T.Resize([20, 9]).forward(g), 'out = TF.resize(x, [20, 9], IM.BILINEAR, antialias=False)', { x: g }, 'resize gray down');
    ck.manualSeed(8);
    const b = ck.rand([2, 3, 8, 6]);
    await expectFloat(new T.Resize([5, 11]).forward(b), 'out = TF.resize(x, [5, 11], IM.BILINEAR, antialias=False)', { x: b }, 'resize batch', { atol: 0, rtol: 0 });
  });

  test('Resize nearest, maxSize, and the uint8 path (rounded) on an Image', async () => {
    const x = floatImage(3, 19, 23, 9);
    for (const s of [[7, 9], [38, 46], 12] as (number | [number, number])[])
      await expectFloat(new T.Resize(s, { interpolation: 'nearest' }).forward(x), `out = TF.resize(x, ${JSON.stringify(s)}, IM.NEAREST)`, { x }, `nearest ${s}`, { atol: 0, rtol: 0 });
    await expectFloat(new T.Resize(10, { maxSize: 12 }).forward(x), 'out = TF.resize(x, 10, IM.BILINEAR, max_size=12, antialias=False)', { x }, 'max_size');
    const img = testImage(19, 23, 3, 9);
    for (const s of sizes) {
      const got = new T.Resize(s).forward(img) as Image;
      const want = (await runTorch(PRE + `out = TF.resize(x.to(torch.uint8), ${JSON.stringify(s)}, IM.BILINEAR, antialias=False)`, { x: chw(img) })) as Arr;
      expectClose(chw(got), want, { atol: 0, rtol: 0 }, `resize uint8 ${s}`);
    }
    // Grayscale: PyTorch's channels-last kernel sums in another float32 order, so a value that lands
    // within an ulp of .5 may round the other way: at most one level, on a few pixels.
    const gray = testImage(19, 23, 1, 9);
    const got = new T.Resize([30, 11]).forward(gray) as Image;
    const want = (await runTorch(PRE + 'out = TF.resize(x.to(torch.uint8), [30, 11], IM.BILINEAR, antialias=False)', { x: chw(gray) })) as Arr;
    expectClose(chw(got), want, { atol: 1, rtol: 0 }, 'resize uint8 gray');
    expect(chw(got).data.filter((v, k) => v !== want.data[k]).length).toBeLessThanOrEqual(8);
  });

  test('RandomResizedCrop: getParams replayed through resized_crop', async () => {
    const x = floatImage(3, 30, 40, 10);
    const img = testImage(30, 40, 3, 10);
    const t = new T.RandomResizedCrop([16, 20], { scale: [0.2, 1], ratio: [0.5, 2] });
    for (let seed = 0; seed < 5; seed++) {
      ck.manualSeed(seed);
      const gt = t.forward(x);
      ck.manualSeed(seed);
      const gi = t.forward(img) as Image;
      ck.manualSeed(seed);
      const [i, j, h, w] = T.RandomResizedCrop.getParams(x, [0.2, 1], [0.5, 2]);
      expect(h).toBeGreaterThan(0);
      await expectFloat(gt, `out = TF.resized_crop(x, ${i}, ${j}, ${h}, ${w}, [16, 20], IM.BILINEAR, antialias=False)`, { x }, `rrc seed ${seed}`, { atol: 0, rtol: 0 });
      const want = (await runTorch(PRE + `out = TF.resized_crop(x.to(torch.uint8), ${i}, ${j}, ${h}, ${w}, [16, 20], IM.BILINEAR, antialias=False)`, { x: chw(img) })) as Arr;
      expectClose(chw(gi), want, { atol: 0, rtol: 0 }, `rrc uint8 seed ${seed}`);
    }
  });

  test('RandomResizedCrop falls back to a centre crop after 10 failed tries', () => {
    const x = floatImage(1, 10, 100, 0);
    ck.manualSeed(0);
    // No crop of area >= 90% of a 10x100 image has an aspect ratio in [1, 1.1]: the fallback crops the centre.
    expect(T.RandomResizedCrop.getParams(x, [0.9, 1], [1, 1.1])).toEqual([0, 44, 10, 11]);
  });
});

describe('colour', () => {
  const jitters: [string, ConstructorParameters<typeof T.ColorJitter>][] = [
    ['all four', [0.4, 0.4, 0.4, 0.1]],
    ['ranges', [[0.5, 1.5], [0.2, 0.8], [0, 2], [-0.5, 0.5]]],
    ['options object, hue only', [{ hue: 0.3 }]],
  ];
  for (const [name, args] of jitters) {
    test(`ColorJitter ${name}: same order and factors as torchvision`, async () => {
      const x = floatImage(3, 10, 12, 11);
      const img = testImage(10, 12, 3, 11);
      const t = new T.ColorJitter(...args);
      for (let seed = 0; seed < 4; seed++) {
        ck.manualSeed(seed);
        const gt = t.forward(x);
        ck.manualSeed(seed);
        const gi = t.forward(img);
        ck.manualSeed(seed);
        const [order, b, c, s, h] = T.ColorJitter.getParams(t.brightness, t.contrast, t.saturation, t.hue);
        const apply = (src: string) =>
          `img = ${src}\n` +
          order.map((id) => {
            const v = [b, c, s, h][id];
            if (v === null) return '';
            return `img = TF.${['adjust_brightness', 'adjust_contrast', 'adjust_saturation', 'adjust_hue'][id]}(img, ${v})\n`;
          }).join('') + 'out = img';
        await expectFloat(gt, apply('x'), { x }, `jitter ${name} seed ${seed}`);
        // uint8: torchvision truncates each blend back to uint8; the contrast mean is a float32 sum in
        // another order, which can move one pixel across an integer.
        const want = (await runTorch(PRE + apply('x.to(torch.uint8)'), { x: chw(img) })) as Arr;
        const got = chw(gi as Image);
        const off = got.data.filter((v, k) => v !== want.data[k]).length;
        expect(off).toBeLessThanOrEqual(2);
        expectClose(got, want, { atol: 1, rtol: 0 }, `jitter uint8 ${name} seed ${seed}`);
      }
    });
  }

  test('each adjustment alone, on RGB and grayscale, float and uint8', async () => {
    const x = floatImage(3, 7, 9, 12);
    const g = floatImage(1, 7, 9, 13);
    const img = testImage(7, 9, 3, 12);
    const cases: [string, (v: ck.transforms.ImageLike) => ck.transforms.ImageLike, string][] = [
      ['brightness', (v) => F.adjustBrightness(v, 1.37), 'TF.adjust_brightness(x, 1.37)'],
      ['brightness dark', (v) => F.adjustBrightness(v, 0.21), 'TF.adjust_brightness(x, 0.21)'],
      ['contrast', (v) => F.adjustContrast(v, 1.8), 'TF.adjust_contrast(x, 1.8)'],
      ['saturation', (v) => F.adjustSaturation(v, 0.3), 'TF.adjust_saturation(x, 0.3)'],
      ['hue', (v) => F.adjustHue(v, -0.27), 'TF.adjust_hue(x, -0.27)'],
      ['hue +', (v) => F.adjustHue(v, 0.49), 'TF.adjust_hue(x, 0.49)'],
    ];
    for (const [name, fn, py] of cases) {
      await expectFloat(fn(x), `out = ${py}`, { x }, name);
      await expectFloat(fn(g), `out = ${py}`, { x: g }, `${name} gray`);
      const want = (await runTorch(PRE + `x = x.to(torch.uint8)\nout = ${py}`, { x: chw(img) })) as Arr;
      expectClose(chw(fn(img) as Image), want, { atol: name === 'contrast' ? 1 : 0, rtol: 0 }, `${name} uint8`);
    }
  });
});

describe('rotation', () => {
  test('RandomRotation nearest (fill 0): exact on uint8 Images and float tensors', async () => {
    const img = testImage(17, 21, 3, 14);
    const x = floatImage(3, 17, 21, 14);
    const t = new T.RandomRotation(30);
    for (let seed = 0; seed < 6; seed++) {
      ck.manualSeed(seed);
      const gi = t.forward(img);
      ck.manualSeed(seed);
      const gt = t.forward(x);
      ck.manualSeed(seed);
      const angle = T.RandomRotation.getParams([-30, 30]);
      await expectImage(gi, `out = TF.rotate(x.to(torch.uint8), ${angle}, IM.NEAREST, False, None, [0.0] * 3)`, { x: chw(img) }, `rotate seed ${seed} (${angle})`);
      await expectFloat(gt, `out = TF.rotate(x, ${angle}, IM.NEAREST, False, None, [0.0] * 3)`, { x }, `rotate tensor seed ${seed}`, { atol: 0, rtol: 0 });
    }
  });

  test('rotate: fixed angles, a centre, a fill colour, bilinear', async () => {
    const img = testImage(12, 16, 3, 15);
    const x = floatImage(3, 12, 16, 15);
    for (const angle of [0, 90, -90, 180, 45, 12.5]) {
      await expectImage(F.rotate(img, angle, { fill: [10, 20, 30] }), `out = TF.rotate(x.to(torch.uint8), ${angle}, IM.NEAREST, False, None, [10.0, 20.0, 30.0])`, { x: chw(img) }, `rotate ${angle}`);
      await expectFloat(F.rotate(x, angle, { center: [3, 4] }), `out = TF.rotate(x, ${angle}, IM.NEAREST, False, [3, 4], [0.0] * 3)`, { x }, `rotate centre ${angle}`, { atol: 0, rtol: 0 });
      await expectFloat(F.rotate(x, angle, { interpolation: 'bilinear', fill: 0.5 }), `out = TF.rotate(x, ${angle}, IM.BILINEAR, False, None, [0.5] * 3)`, { x }, `rotate bilinear ${angle}`);
    }
  });
});

describe('RandomErasing', () => {
  const values: [string, ck.transforms.RandomErasingOptions['value']][] = [['0', 0], ['per channel', [0.1, 0.2, 0.3]], ['random', 'random']];
  for (const [name, value] of values) {
    test(`value ${name}`, async () => {
      const x = floatImage(3, 20, 24, 16);
      const t = new T.RandomErasing({ p: 1, value });
      for (let seed = 0; seed < 4; seed++) {
        ck.manualSeed(seed);
        const got = t.forward(x) as ck.Tensor;
        ck.manualSeed(seed);
        expect(ck.transforms.RandomHorizontalFlip.getParams(1)).toBe(true); // the p draw
        const v = value === 'random' ? null : typeof value === 'number' ? [value] : (value as number[]);
        const [i, j, h, w, vals] = T.RandomErasing.getParams(x, [0.02, 0.33], [0.3, 3.3], v);
        const vt = vals === null ? null : value === 'random' ? ck.tensor(vals as Float32Array, { shape: [3, h, w] }) : ck.tensor(Array.from(vals as number[]));
        if (vt === null) {
          await expectFloat(got, 'out = x', { x }, 'unchanged');
          continue;
        }
        const code = value === 'random' ? `out = TF.erase(x, ${i}, ${j}, ${h}, ${w}, v)` : 'out = TF.erase(x, ' + `${i}, ${j}, ${h}, ${w}, v[:, None, None])`;
        await expectFloat(got, code, { x, v: vt }, `erase ${name} seed ${seed}`, { atol: 0, rtol: 0 });
      }
    });
  }

  test('p = 0 leaves the image alone; Images are rejected', () => {
    const x = floatImage(3, 4, 4, 0);
    expect(new T.RandomErasing({ p: 0 }).forward(x)).toBe(x);
    expect(() => new T.RandomErasing({ p: 1 }).forward(testImage(4, 4, 3) as never)).toThrow(/ToTensor/);
  });
});

describe('pipelines', () => {
  test('the CIFAR-10 recipe on an Image matches torchvision on a PIL image with the same choices', async () => {
    const img = testImage(32, 32, 3, 17);
    const mean = [0.4914, 0.4822, 0.4465];
    const std = [0.2023, 0.1994, 0.201];
    const t = new T.Compose([new T.RandomCrop(32, { padding: 4 }), new T.RandomHorizontalFlip(), new T.ToTensor(), new T.Normalize(mean, std)]);
    for (let seed = 0; seed < 4; seed++) {
      ck.manualSeed(seed);
      const got = t.forward(img) as ck.Tensor;
      ck.manualSeed(seed);
      const [i, j] = T.RandomCrop.getParams(F.pad(img, 4), [32, 32]);
      const flip = T.RandomHorizontalFlip.getParams(0.5);
      const code =
        'import numpy as np\nfrom PIL import Image\n' +
        'pil = Image.fromarray(x.permute(1, 2, 0).numpy().astype(np.uint8))\n' +
        `pil = TF.crop(TF.pad(pil, 4), ${i}, ${j}, 32, 32)\n` +
        (flip ? 'pil = TF.hflip(pil)\n' : '') +
        `out = TF.normalize(TF.to_tensor(pil), ${JSON.stringify(mean)}, ${JSON.stringify(std)})`;
      await expectFloat(got, code, { x: chw(img) }, `cifar recipe seed ${seed}`, { atol: 0, rtol: 0 });
    }
  });

  test('transforms of a tensor stay on its device and keep batch dimensions', () => {
    ck.manualSeed(0);
    const b = ck.rand([2, 3, 8, 8]);
    const out = new T.Compose([new T.RandomCrop(6), new T.RandomHorizontalFlip(), new T.Normalize([0.5], [0.5])]).forward(b) as ck.Tensor;
    expect(out.shape).toEqual([2, 3, 6, 6]);
    expect(out.device.toString()).toBe('cpu');
  });

  test('batchAugment equals the per-sample pipeline for the same seed, and torchvision per sample', async () => {
    ck.manualSeed(3);
    const n = 5;
    const imgs = Array.from({ length: n }, (_, k) => testImage(12, 10, 3, 20 + k));
    const mean = [0.5, 0.4, 0.3];
    const std = [0.2, 0.25, 0.3];
    const perSample = new T.Compose([new T.RandomCrop([8, 9], { padding: 2 }), new T.RandomHorizontalFlip(), new T.ToTensor(), new T.Normalize(mean, std)]);
    ck.manualSeed(42);
    const want = imgs.map((im) => perSample.forward(im) as ck.Tensor);
    const batch = ck.tensor(Float32Array.from(imgs.flatMap((im) => Array.from((new T.ToTensor().forward(im) as ck.Tensor).dataSync()))), { shape: [n, 3, 12, 10] });
    ck.manualSeed(42);
    const got = T.batchAugment(batch, { padding: 2, crop: [8, 9], flip: true, mean, std });
    expect(got.shape).toEqual([n, 3, 8, 9]);
    for (let k = 0; k < n; k++) expectClose(got.select(0, k), want[k], { atol: 0, rtol: 0 }, `sample ${k}`);
    ck.manualSeed(42);
    const params = T.batchAugmentParams([n, 3, 12, 10], { padding: 2, crop: [8, 9] });
    const code =
      'outs = []\n' +
      `for k in range(${n}):\n` +
      '  t, l, f = [int(v) for v in p[k]]\n' +
      '  img = TF.crop(TF.pad(x[k], 2), t, l, 8, 9)\n' +
      '  img = TF.hflip(img) if f else img\n' +
      `  outs.append(TF.normalize(img, ${JSON.stringify(mean)}, ${JSON.stringify(std)}))\n` +
      'out = torch.stack(outs)';
    await expectFloat(got, code, { x: batch, p: ck.tensor(params, { shape: [n, 3] }) }, 'batchAugment vs torchvision', { atol: 0, rtol: 0 });
  });
});
