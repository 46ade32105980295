/**
 * CIFAR-10 from either official release (https://www.cs.toronto.edu/~kriz/cifar.html):
 *   binary  cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin: records of 1 label byte + 3072 pixel
 *           bytes (the R plane, then G, then B, each 32x32 row-major)
 *   python  cifar-10-batches-py/{data_batch_1..5,test_batch}: pickled dicts with b'data' (10000x3072
 *           uint8, the same planes) and b'labels'
 * `root` may hold either folder (as torchvision's root holds cifar-10-batches-py) or be the folder itself.
 * Images are kept as one HWC byte array (torchvision's .data of shape (N, 32, 32, 3)) in shared memory,
 * so DataLoader workers read the same bytes without a copy.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TransformLike } from '../transforms/transform';
import { Image } from '../transforms/image';
import { ByteImages, checkIndex, DatasetSpec, RawItem, SourceDataset } from './dataset';
import { dataError, formatError, readError } from './errors';
import { PyDict, PyValue, typeOf } from '../io/pickle';
import { NdArray, unpicklePy } from './pickle';

export interface CIFAR10Options {
  /** The five training batches (default) or the test batch. */
  train?: boolean;
  transform?: TransformLike | null;
}

const SIDE = 32;
const PIXELS = SIDE * SIDE * 3;
const RECORD = 1 + PIXELS;

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

function batchNames(train: boolean): string[] {
  return train ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}`) : ['test_batch'];
}

/** The two official CIFAR-10 releases: the binary records or the Python pickles. */
export type CIFAR10Format = 'binary' | 'python';
type Format = CIFAR10Format;

/** The folder and format holding the batches, or an ERR_DATA listing where it looked. */
function locate(root: string, names: string[]): { dir: string; format: Format } {
  const dirs = [path.join(root, 'cifar-10-batches-bin'), path.join(root, 'cifar-10-batches-py'), root];
  for (const dir of dirs) {
    if (fs.existsSync(path.join(dir, `${names[0]}.bin`))) return { dir, format: 'binary' };
    if (fs.existsSync(path.join(dir, names[0]))) return { dir, format: 'python' };
  }
  throw dataError(
    'ERR_DATA',
    `CIFAR10: no CIFAR-10 batches under ${root}: looked for ${names[0]}.bin (binary release) and ${names[0]} (python release) in ` +
      `${dirs.join(', ')}. Download and unpack cifar-10-binary.tar.gz or cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html`,
    root,
  );
}

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw readError(file, e, 'CIFAR10: cannot read');
  }
}

// Planar CHW records -> HWC, into out at sample offset `at`.
function planarToHwc(src: Uint8Array, srcOff: number, out: Uint8Array, at: number): void {
  const plane = SIDE * SIDE;
  const o = at * PIXELS;
  for (let k = 0; k < plane; k++) {
    out[o + k * 3] = src[srcOff + k];
    out[o + k * 3 + 1] = src[srcOff + plane + k];
    out[o + k * 3 + 2] = src[srcOff + 2 * plane + k];
  }
}

interface Batch {
  count: number;
  copyTo(out: Uint8Array, labels: Uint8Array, at: number): void;
}

function readBinary(file: string): Batch {
  const buf = readFile(file);
  if (buf.length === 0) throw formatError(file, 'empty file (expected records of 3073 bytes: 1 label byte + 3072 pixel bytes)');
  if (buf.length % RECORD !== 0)
    throw formatError(file, `truncated or not a CIFAR-10 binary batch: ${buf.length} bytes is not a whole number of 3073-byte records (${Math.floor(buf.length / RECORD)} records and ${buf.length % RECORD} bytes left over)`);
  const count = buf.length / RECORD;
  for (let i = 0; i < count; i++) {
    const label = buf[i * RECORD];
    if (label > 9) throw formatError(file, `record ${i} has label ${label}; CIFAR-10 labels are 0..9 (is this a CIFAR-100 file?)`);
  }
  return {
    count,
    copyTo(out, labels, at) {
      for (let i = 0; i < count; i++) {
        labels[at + i] = buf[i * RECORD];
        planarToHwc(buf, i * RECORD + 1, out, at + i);
      }
    },
  };
}

function readPython(file: string): Batch {
  const obj = unpicklePy(readFile(file), file);
  if (!(obj instanceof PyDict)) throw formatError(file, 'the pickle does not hold a dict (expected the CIFAR-10 python batch format)');
  const data = obj.map.get('data') as PyValue | undefined;
  const labels = obj.map.get('labels') ?? obj.map.get('fine_labels');
  const nd = data as unknown as NdArray | undefined;
  if (!nd || typeof nd !== 'object' || (nd as { kind?: unknown }).kind !== 'ndarray') throw formatError(file, "the batch dict has no 'data' numpy array");
  if (nd.dtype !== '|u1' || nd.shape.length !== 2 || nd.shape[1] !== PIXELS || nd.fortranOrder)
    throw formatError(file, `'data' is a ${nd.dtype} array of shape (${nd.shape.join(', ')}); expected uint8 (N, 3072) in C order`);
  const count = nd.shape[0];
  if (nd.data.length !== count * PIXELS)
    throw formatError(file, `'data' holds ${nd.data.length} bytes for shape (${count}, 3072): truncated`);
  if (!Array.isArray(labels) || labels.length !== count)
    throw formatError(file, `'labels' should be a list of ${count} ints, got ${Array.isArray(labels) ? `${labels.length} items` : typeOf(labels ?? null)}`);
  labels.forEach((l, i) => {
    if (typeof l !== 'number' || !Number.isInteger(l) || l < 0 || l > 9) throw formatError(file, `label ${i} is ${typeOf(l)} ${typeof l === 'number' ? l : ''}; CIFAR-10 labels are 0..9`);
  });
  const data8 = nd.data;
  return {
    count,
    copyTo(out, lab, at) {
      for (let i = 0; i < count; i++) {
        lab[at + i] = labels[i] as number;
        planarToHwc(data8, i * PIXELS, out, at + i);
      }
    },
  };
}

export class CIFAR10 extends SourceDataset<[unknown, number]> {
  static readonly classes = CIFAR10_CLASSES;
  readonly classes = CIFAR10_CLASSES;
  readonly classToIdx: Record<string, number> = Object.fromEntries(CIFAR10_CLASSES.map((c, i) => [c, i]));
  readonly root: string;
  readonly train: boolean;
  readonly format: Format;
  /** All images, HWC: (N, 32, 32, 3) bytes. */
  readonly data: Uint8Array;
  /** Labels 0..9. */
  readonly targets: Uint8Array;

  constructor(root: string, opts: CIFAR10Options = {}) {
    super();
    if (typeof root !== 'string' || !root) throw dataError('ERR_DATA', 'CIFAR10: root must be a folder path');
    this.root = root;
    this.train = opts.train ?? true;
    this.transform = opts.transform ?? null;
    const names = batchNames(this.train);
    const { dir, format } = locate(root, names);
    this.format = format;
    const batches = names.map((n) => {
      const file = path.join(dir, format === 'binary' ? `${n}.bin` : n);
      if (!fs.existsSync(file))
        throw dataError('ERR_DATA', `CIFAR10: missing ${file} (the ${format} release has ${names.map((b) => (format === 'binary' ? `${b}.bin` : b)).join(', ')})`, file);
      return format === 'binary' ? readBinary(file) : readPython(file);
    });
    const total = batches.reduce((a, b) => a + b.count, 0);
    this.data = new Uint8Array(new SharedArrayBuffer(total * PIXELS));
    this.targets = new Uint8Array(new SharedArrayBuffer(total));
    let at = 0;
    for (const b of batches) {
      b.copyTo(this.data, this.targets, at);
      at += b.count;
    }
  }

  /** @internal rebuilt from shared arrays in a worker. */
  static fromSpec(spec: DatasetSpec, transform: TransformLike | null): CIFAR10 {
    const ds = Object.create(CIFAR10.prototype) as CIFAR10;
    Object.assign(ds, {
      classes: CIFAR10_CLASSES, classToIdx: Object.fromEntries(CIFAR10_CLASSES.map((c, i) => [c, i])), root: spec.root, train: spec.train, format: spec.format,
      data: spec.data, targets: spec.targets, transform,
    });
    return ds;
  }

  get length(): number {
    return this.targets.length;
  }

  /** [Image (32x32x3, a view of the shared data: do not modify), label]. */
  getRaw(index: number): RawItem {
    const i = checkIndex(index, this.length, 'CIFAR10');
    const img: Image = { data: this.data.subarray(i * PIXELS, (i + 1) * PIXELS), height: SIDE, width: SIDE, channels: 3 };
    return [img, this.targets[i]];
  }

  /** @internal */
  byteImages(): ByteImages | null {
    if (this.getRaw !== CIFAR10.prototype.getRaw) return null; // a subclass with its own items
    return { data: this.data, targets: this.targets, height: SIDE, width: SIDE, channels: 3 };
  }

  /** [input after the transform, label] (synchronous: the data is in memory). */
  get(index: number): [unknown, number] {
    return this.applyTo(this.getRaw(index));
  }

  toSpec(): DatasetSpec {
    return { kind: 'CIFAR10', root: this.root, train: this.train, format: this.format, data: this.data, targets: this.targets, transform: this.transformSpec() };
  }
}
