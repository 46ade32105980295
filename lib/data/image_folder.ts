/**
 * ImageFolder: a folder per class of image files (root/<class>/.../<image>), as torchvision's: classes
 * are the sorted sub-folder names, samples every file with an image extension under each, in sorted
 * order; images are decoded with sharp (libvips) and converted to 3-channel RGB, as PIL's
 * convert('RGB') (alpha dropped, grey replicated).
 */
import * as fs from 'fs';
import * as path from 'path';
import { TransformLike } from '../transforms/transform';
import { Image } from '../transforms/image';
import { checkIndex, DatasetSpec, RawItem, SourceDataset } from './dataset';
import { ckError } from '../errors';
import { dataError, readError } from './errors';

/** The extensions sharp decodes (torchvision's list, less the formats libvips lacks: bmp, ppm, pgm). */
export const IMG_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif'];

/**
 * The default cap on an image's pixels (width x height), read from its header before it is decoded:
 * Pillow's DecompressionBombError threshold (2 x Image.MAX_IMAGE_PIXELS), which is what torchvision's
 * ImageFolder refuses. Override with the `maxPixels` option or the CONVKIT_MAX_IMAGE_PIXELS variable.
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 178_956_970;

export interface ImageFolderOptions {
  transform?: TransformLike | null;
  /** Lower-case extensions with the dot (default IMG_EXTENSIONS). */
  extensions?: string[];
  /** Images with more pixels than this are refused (ERR_DATA) before decoding; default CONVKIT_MAX_IMAGE_PIXELS or 178,956,970. Infinity: no cap. */
  maxPixels?: number;
}

export interface DecodeOptions {
  /** See ImageFolderOptions.maxPixels. */
  maxPixels?: number;
}

/** The pixel cap in force: the option, else CONVKIT_MAX_IMAGE_PIXELS, else the default. */
export function resolveMaxPixels(maxPixels?: number): number {
  const ok = (v: number) => v === Infinity || (Number.isSafeInteger(v) && v > 0);
  if (maxPixels !== undefined) {
    if (typeof maxPixels !== 'number' || !ok(maxPixels))
      throw ckError('ERR_ARG', `maxPixels must be a positive integer or Infinity, got ${String(maxPixels)}`, 'TypeError');
    return maxPixels;
  }
  const env = process.env.CONVKIT_MAX_IMAGE_PIXELS;
  if (env !== undefined && env !== '') {
    const v = env.trim().toLowerCase() === 'infinity' ? Infinity : Number(env);
    if (!ok(v)) throw ckError('ERR_ARG', `CONVKIT_MAX_IMAGE_PIXELS must be a positive integer or Infinity, got '${env}'`, 'TypeError');
    return v;
  }
  return DEFAULT_MAX_IMAGE_PIXELS;
}

type Sharp = (input: Buffer, opts?: { limitInputPixels?: number | boolean }) => {
  metadata(): Promise<{ width?: number; height?: number; pageHeight?: number }>;
  removeAlpha(): ReturnType<Sharp>;
  toColourspace(c: string): ReturnType<Sharp>;
  raw(o?: { depth?: string }): ReturnType<Sharp>;
  toBuffer(o: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
};

let sharpModule: Sharp | null = null;
function loadSharp(): Sharp {
  if (sharpModule) return sharpModule;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    sharpModule = require('sharp') as Sharp;
    return sharpModule;
  } catch (e) {
    throw dataError('ERR_DATA', `ImageFolder needs the 'sharp' package to decode images, and it did not load: ${(e as Error).message.split('\n')[0]}. Install it with: npm install sharp`);
  }
}

/** Decodes an image file to an RGB Image; ERR_DATA if unreadable, ERR_FORMAT if not a decodable image. */
export async function decodeImage(file: string, opts: DecodeOptions = {}): Promise<Image> {
  const maxPixels = resolveMaxPixels(opts.maxPixels);
  const sharp = loadSharp();
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (e) {
    throw readError(file, e);
  }
  // The size from the header, before any pixel is decoded (a 261 KB PNG can declare 16383 x 16383).
  let width = 0;
  let height = 0;
  try {
    const meta = await sharp(buf, { limitInputPixels: false }).metadata();
    width = meta.width ?? 0;
    height = meta.pageHeight ?? meta.height ?? 0;
  } catch (e) {
    throw dataError('ERR_FORMAT', `${file}: cannot decode the image (${(e as Error).message})`, file);
  }
  if (width * height > maxPixels)
    throw dataError(
      'ERR_DATA',
      `${file}: the image is ${width} x ${height} = ${width * height} pixels, more than the limit of ${maxPixels} (a decompression bomb?); ` +
        'raise it with the maxPixels option or CONVKIT_MAX_IMAGE_PIXELS if the image is genuine',
      file,
    );
  try {
    const limit = maxPixels === Infinity ? false : maxPixels;
    const { data, info } = await sharp(buf, { limitInputPixels: limit }).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), height: info.height, width: info.width, channels: 3 };
  } catch (e) {
    throw dataError('ERR_FORMAT', `${file}: cannot decode the image (${(e as Error).message})`, file);
  }
}

function listDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw readError(dir, e, 'ImageFolder: cannot list');
  }
}

/** stat through symlinks; a dangling link is null, any other failure (ELOOP, EACCES ...) an ERR_DATA naming the path. */
function statFollow(p: string): fs.Stats | null {
  try {
    return fs.statSync(p, { throwIfNoEntry: false }) ?? null;
  } catch (e) {
    throw readError(p, e, 'ImageFolder: cannot follow');
  }
}

function realPath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch (e) {
    throw readError(p, e, 'ImageFolder: cannot resolve');
  }
}

/**
 * Every file under dir with an allowed extension, walking sub-folders and following symlinks, in sorted
 * order (os.walk(followlinks=True) + sorted). A symlink back to a folder being walked is a loop, refused
 * with ERR_DATA naming the link (os.walk would descend until the OS says ELOOP).
 */
function walk(dir: string, exts: Set<string>, out: string[], ancestors: Set<string> = new Set([realPath(dir)])): void {
  const entries = listDir(dir).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const subdirs: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const st = statFollow(p);
      isDir = !!st?.isDirectory();
      isFile = !!st?.isFile();
    }
    if (isFile && exts.has(path.extname(e.name).toLowerCase())) out.push(p);
    if (isDir) subdirs.push(p);
  }
  for (const p of subdirs) {
    const real = realPath(p);
    if (ancestors.has(real))
      throw dataError('ERR_DATA', `ImageFolder: ${p} is a symlink loop (it leads back to ${real}, which is being walked)`, p);
    ancestors.add(real);
    walk(p, exts, out, ancestors);
    ancestors.delete(real);
  }
}

export class ImageFolder extends SourceDataset<[unknown, number]> {
  readonly root: string;
  readonly classes: string[];
  readonly classToIdx: Record<string, number>;
  /** [file, class index] for every image. */
  readonly samples: [string, number][];
  /** The pixel cap images are checked against before decoding. */
  readonly maxPixels: number;

  constructor(root: string, opts: ImageFolderOptions = {}) {
    super();
    this.root = root;
    this.transform = opts.transform ?? null;
    this.maxPixels = resolveMaxPixels(opts.maxPixels);
    if (!fs.existsSync(root)) throw dataError('ERR_DATA', `ImageFolder: no such folder ${root}`, root);
    const exts = new Set((opts.extensions ?? IMG_EXTENSIONS).map((e) => e.toLowerCase()));
    this.classes = listDir(root)
      .filter((e) => e.isDirectory() || (e.isSymbolicLink() && statFollow(path.join(root, e.name))?.isDirectory()))
      .map((e) => e.name)
      .sort();
    if (this.classes.length === 0) throw dataError('ERR_DATA', `ImageFolder: couldn't find any class folder in ${root}`, root);
    this.classToIdx = Object.fromEntries(this.classes.map((c, i) => [c, i]));
    this.samples = [];
    const empty: string[] = [];
    for (const c of this.classes) {
      const files: string[] = [];
      walk(path.join(root, c), exts, files);
      if (files.length === 0) empty.push(c);
      for (const f of files) this.samples.push([f, this.classToIdx[c]]);
    }
    if (empty.length)
      throw dataError('ERR_DATA', `ImageFolder: found no valid file for the classes ${empty.join(', ')} under ${root}. Supported extensions are: ${[...exts].join(', ')}`, root);
  }

  /** @internal rebuilt from its file list in a worker (no rescan, so both threads see the same samples). */
  static fromSpec(spec: DatasetSpec, transform: TransformLike | null): ImageFolder {
    const ds = Object.create(ImageFolder.prototype) as ImageFolder;
    const classes = spec.classes as string[];
    Object.assign(ds, {
      root: spec.root, classes, classToIdx: Object.fromEntries(classes.map((c, i) => [c, i])), samples: spec.samples,
      maxPixels: typeof spec.maxPixels === 'number' ? spec.maxPixels : resolveMaxPixels(), transform,
    });
    return ds;
  }

  get length(): number {
    return this.samples.length;
  }
  get targets(): number[] {
    return this.samples.map((s) => s[1]);
  }

  getRaw(index: number): Promise<RawItem> {
    const [file, label] = this.samples[checkIndex(index, this.length, 'ImageFolder')];
    return decodeImage(file, { maxPixels: this.maxPixels }).then((img) => [img, label]);
  }

  /** [input after the transform, label], once the file is read and decoded. */
  get(index: number): Promise<[unknown, number]> {
    return this.getRaw(index).then((r) => this.applyTo(r));
  }

  toSpec(): DatasetSpec {
    return { kind: 'ImageFolder', root: this.root, classes: this.classes, samples: this.samples, maxPixels: this.maxPixels, transform: this.transformSpec() };
  }
}
