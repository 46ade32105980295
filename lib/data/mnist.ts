/**
 * MNIST and Fashion-MNIST from their IDX files ({train,t10k}-{images-idx3,labels-idx1}-ubyte, each
 * optionally .gz). Accepted layouts under `root`: torchvision's <root>/<ClassName>/raw/, <root>/raw/,
 * or the files directly in <root> (as Debian's dataset-fashion-mnist installs them in
 * /usr/share/datasets/fashion-mnist). FashionMNIST without a root reads the small subset that ships in
 * this package's data/ folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TransformLike } from '../transforms/transform';
import { Image } from '../transforms/image';
import { ByteImages, checkIndex, DatasetSpec, RawItem, SourceDataset } from './dataset';
import { dataError, formatError } from './errors';
import { IDX_IMAGES, IDX_LABELS, readIdx } from './idx';

export interface MNISTOptions {
  /** The training split (default) or the test split (t10k). */
  train?: boolean;
  transform?: TransformLike | null;
}

export const MNIST_CLASSES = ['0 - zero', '1 - one', '2 - two', '3 - three', '4 - four', '5 - five', '6 - six', '7 - seven', '8 - eight', '9 - nine'];
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** The folder of the small Fashion-MNIST subset shipped with convkit (data/fashion-mnist). */
export const BUNDLED_FASHION_MNIST = path.resolve(__dirname, '..', '..', 'data', 'fashion-mnist');

function findFile(dirs: string[], base: string): string | null {
  for (const dir of dirs) for (const name of [base, `${base}.gz`]) {
    const f = path.join(dir, name);
    if (fs.existsSync(f)) return f;
  }
  return null;
}

export class MNIST extends SourceDataset<[unknown, number]> {
  static readonly classes: string[] = MNIST_CLASSES;
  readonly root: string;
  readonly train: boolean;
  /** All images, (N, H, W) bytes. */
  readonly data: Uint8Array;
  readonly targets: Uint8Array;
  readonly rows: number;
  readonly cols: number;
  /** The image and label files read. */
  readonly files: [string, string];

  constructor(root: string, opts: MNISTOptions = {}) {
    super();
    if (typeof root !== 'string' || !root) throw dataError('ERR_DATA', `${new.target.name}: root must be a folder path`);
    this.root = root;
    this.train = opts.train ?? true;
    this.transform = opts.transform ?? null;
    const name = new.target.name;
    const prefix = this.train ? 'train' : 't10k';
    const dirs = [path.join(root, name, 'raw'), path.join(root, 'raw'), root];
    const imgBase = `${prefix}-images-idx3-ubyte`;
    const lblBase = `${prefix}-labels-idx1-ubyte`;
    const imgFile = findFile(dirs, imgBase);
    const lblFile = findFile(dirs, lblBase);
    if (!imgFile || !lblFile) {
      const missing = !imgFile ? imgBase : lblBase;
      throw dataError('ERR_DATA', `${name}: no ${missing}[.gz] in ${dirs.join(', ')}`, path.join(root, missing));
    }
    const images = readIdx(imgFile, IDX_IMAGES);
    const labels = readIdx(lblFile, IDX_LABELS);
    if (images.dims.length !== 3) throw formatError(imgFile, `an images file needs 3 dimensions, this one has [${images.dims.join(', ')}]`);
    if (labels.dims.length !== 1) throw formatError(lblFile, `a labels file needs 1 dimension, this one has [${labels.dims.join(', ')}]`);
    if (images.dims[0] !== labels.dims[0])
      throw dataError('ERR_FORMAT', `${name}: ${imgFile} holds ${images.dims[0]} images but ${lblFile} holds ${labels.dims[0]} labels`, imgFile);
    this.data = images.data;
    this.targets = labels.data;
    this.rows = images.dims[1];
    this.cols = images.dims[2];
    this.files = [imgFile, lblFile];
  }

  get classes(): string[] {
    return (this.constructor as typeof MNIST).classes;
  }
  get classToIdx(): Record<string, number> {
    return Object.fromEntries(this.classes.map((c, i) => [c, i]));
  }
  get length(): number {
    return this.targets.length;
  }

  /** @internal rebuilt from shared arrays in a worker. */
  static fromSpec<T extends MNIST>(this: { prototype: T }, spec: DatasetSpec, transform: TransformLike | null): T {
    const ds = Object.create(this.prototype) as T;
    Object.assign(ds, { root: spec.root, train: spec.train, data: spec.data, targets: spec.targets, rows: spec.rows, cols: spec.cols, files: spec.files, transform });
    return ds;
  }

  /** [Image (rows x cols x 1, a view of the shared data: do not modify), label]. */
  getRaw(index: number): RawItem {
    const i = checkIndex(index, this.length, this.constructor.name);
    const n = this.rows * this.cols;
    const img: Image = { data: this.data.subarray(i * n, (i + 1) * n), height: this.rows, width: this.cols, channels: 1 };
    return [img, this.targets[i]];
  }

  /** @internal */
  byteImages(): ByteImages | null {
    if (this.getRaw !== MNIST.prototype.getRaw) return null; // a subclass with its own items
    return { data: this.data, targets: this.targets, height: this.rows, width: this.cols, channels: 1 };
  }

  /** [input after the transform, label] (synchronous: the data is in memory). */
  get(index: number): [unknown, number] {
    return this.applyTo(this.getRaw(index));
  }

  toSpec(): DatasetSpec {
    return {
      kind: this.constructor.name, root: this.root, train: this.train, data: this.data, targets: this.targets,
      rows: this.rows, cols: this.cols, files: this.files, transform: this.transformSpec(),
    };
  }
}

export class FashionMNIST extends MNIST {
  static readonly classes: string[] = FASHION_MNIST_CLASSES;
  /** `root` defaults to the small subset shipped with convkit (6000 train / 1000 test images). */
  constructor(root?: string | null, opts: MNISTOptions = {}) {
    super(root ?? BUNDLED_FASHION_MNIST, opts);
  }
}

/** The Fashion-MNIST subset that ships with convkit: the first 6000 training and 1000 test images. */
export function bundledFashionMNIST(opts: MNISTOptions = {}): FashionMNIST {
  return new FashionMNIST(BUNDLED_FASHION_MNIST, opts);
}
