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
import { dataError, readError } from './errors';

/** The extensions sharp decodes (torchvision's list, less the formats libvips lacks: bmp, ppm, pgm). */
export const IMG_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif'];

export interface ImageFolderOptions {
  transform?: TransformLike | null;
  /** Lower-case extensions with the dot (default IMG_EXTENSIONS). */
  extensions?: string[];
}

type Sharp = (input: Buffer) => {
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
export async function decodeImage(file: string): Promise<Image> {
  const sharp = loadSharp();
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (e) {
    throw readError(file, e);
  }
  try {
    const { data, info } = await sharp(buf).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
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

// Every file under dir with an allowed extension, walking sub-folders, in sorted order (os.walk + sorted).
function walk(dir: string, exts: Set<string>, out: string[]): void {
  const entries = listDir(dir).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const st = fs.statSync(p, { throwIfNoEntry: false });
      isDir = !!st?.isDirectory();
      isFile = !!st?.isFile();
    }
    if (isFile && exts.has(path.extname(e.name).toLowerCase())) out.push(p);
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    const st = e.isSymbolicLink() ? fs.statSync(p, { throwIfNoEntry: false }) : null;
    if (e.isDirectory() || st?.isDirectory()) walk(p, exts, out);
  }
}

export class ImageFolder extends SourceDataset<[unknown, number]> {
  readonly root: string;
  readonly classes: string[];
  readonly classToIdx: Record<string, number>;
  /** [file, class index] for every image. */
  readonly samples: [string, number][];

  constructor(root: string, opts: ImageFolderOptions = {}) {
    super();
    this.root = root;
    this.transform = opts.transform ?? null;
    if (!fs.existsSync(root)) throw dataError('ERR_DATA', `ImageFolder: no such folder ${root}`, root);
    const exts = new Set((opts.extensions ?? IMG_EXTENSIONS).map((e) => e.toLowerCase()));
    this.classes = listDir(root)
      .filter((e) => e.isDirectory() || (e.isSymbolicLink() && fs.statSync(path.join(root, e.name), { throwIfNoEntry: false })?.isDirectory()))
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
    Object.assign(ds, { root: spec.root, classes, classToIdx: Object.fromEntries(classes.map((c, i) => [c, i])), samples: spec.samples, transform });
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
    return decodeImage(file).then((img) => [img, label]);
  }

  /** [input after the transform, label], once the file is read and decoded. */
  get(index: number): Promise<[unknown, number]> {
    return this.getRaw(index).then((r) => this.applyTo(r));
  }

  toSpec(): DatasetSpec {
    return { kind: 'ImageFolder', root: this.root, classes: this.classes, samples: this.samples, transform: this.transformSpec() };
  }
}
