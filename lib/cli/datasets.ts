/**
 * `--data PATH` for the CLI: which kind of dataset a folder holds (CIFAR-10 binary or python release,
 * IDX files as MNIST/Fashion-MNIST ship, or a folder of class folders), and its train and test splits
 * with the transforms of the run's recipe. Without a path: the Fashion-MNIST subset in data/.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as data from '../data';
import * as T from '../transforms';
import { CliError } from './errors';

export type DataKind = 'cifar10' | 'fashion-mnist' | 'mnist' | 'image-folder';

export interface DataBundle {
  kind: DataKind;
  root: string;
  train: data.Dataset;
  test: data.Dataset;
  classes: string[];
  /** The input the model sees: channels, height, width (after any resize). */
  channels: number;
  size: number;
  /** Per-channel mean and std of the Normalize step (stored with the weights so eval uses the same). */
  mean: number[];
  std: number[];
  notes: string[];
}

export interface DataOptions {
  /** Resize every image to this side (the model's minimum input, or --image-size). */
  size?: number;
  /** Random crop with padding and horizontal flips on the training split (CIFAR-10's recipe). */
  augment?: boolean;
  limitTrain?: number;
  limitTest?: number;
  /** Only the test split is needed (eval). */
  testOnly?: boolean;
}

const IDX_TRAIN = 'train-images-idx3-ubyte';
const has = (...p: string[]) => fs.existsSync(path.join(...p));

function idxDirs(root: string): string[] {
  return [root, path.join(root, 'raw'), path.join(root, 'FashionMNIST', 'raw'), path.join(root, 'MNIST', 'raw')];
}

/** The kind of dataset under root, or a CliError saying what was looked for. */
export function detectData(root: string): DataKind {
  if (!fs.existsSync(root)) throw new CliError(`--data ${root}: no such file or folder`);
  if (!fs.statSync(root).isDirectory()) throw new CliError(`--data ${root}: expected a folder`);
  for (const d of [path.join(root, 'cifar-10-batches-bin'), path.join(root, 'cifar-10-batches-py'), root]) {
    if (has(d, 'data_batch_1.bin') || has(d, 'data_batch_1') || has(d, 'test_batch.bin') || has(d, 'test_batch')) return 'cifar10';
  }
  for (const d of idxDirs(root)) {
    if (has(d, IDX_TRAIN) || has(d, `${IDX_TRAIN}.gz`) || has(d, 't10k-images-idx3-ubyte') || has(d, 't10k-images-idx3-ubyte.gz')) {
      // The IDX files of MNIST and Fashion-MNIST are named alike; only the folder tells them apart.
      return /fashion/i.test(path.resolve(d)) ? 'fashion-mnist' : 'mnist';
    }
  }
  const subdirs = fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory());
  if (subdirs.length) return 'image-folder';
  throw new CliError(
    `--data ${root}: not a dataset convkit knows. Expected CIFAR-10 (cifar-10-batches-bin/ or cifar-10-batches-py/), ` +
      `IDX files (${IDX_TRAIN}[.gz] as MNIST and Fashion-MNIST ship), or an image folder (one sub-folder per class, or train/ and val/ or test/ holding those)`,
  );
}

const STATS: Record<Exclude<DataKind, 'image-folder'>, { mean: number[]; std: number[] }> = {
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  mnist: { mean: [0.1307], std: [0.3081] },
};
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

function limit(ds: data.Dataset, n: number | undefined): data.Dataset {
  if (n === undefined || n >= ds.length) return ds;
  return new data.Subset(ds, Array.from({ length: n }, (_, i) => i));
}

function pipeline(opts: { resizeTo: number | null; augment: boolean; native: number; mean: number[]; std: number[] }): { train: T.Compose; test: T.Compose } {
  const pre: T.Transform[] = [];
  if (opts.resizeTo !== null) pre.push(new T.Resize(opts.resizeTo), new T.CenterCrop(opts.resizeTo));
  const side = opts.resizeTo ?? opts.native;
  const aug: T.Transform[] = opts.augment ? [new T.RandomCrop(side, { padding: Math.max(1, Math.round(side / 8)) }), new T.RandomHorizontalFlip()] : [];
  const post = [new T.ToTensor(), new T.Normalize(opts.mean, opts.std)];
  return { train: new T.Compose([...pre, ...aug, ...post]), test: new T.Compose([...pre, ...post]) };
}

/** The train and test splits of root (default: the shipped Fashion-MNIST subset). */
export function openData(root: string | undefined, opts: DataOptions = {}): DataBundle {
  const notes: string[] = [];
  const kind: DataKind = root === undefined ? 'fashion-mnist' : detectData(root);
  const dir = root ?? data.BUNDLED_FASHION_MNIST;
  let train: data.Dataset | null = null;
  let test: data.Dataset;
  let classes: string[];
  let channels: number;
  let native: number;
  let stats: { mean: number[]; std: number[] };
  if (kind === 'image-folder') {
    // train/ + val/ (or test/) as ImageNet-style folders ship; else one folder, split 90/10 with a fixed seed.
    const trainDir = has(dir, 'train') ? path.join(dir, 'train') : null;
    const testDir = trainDir ? (has(dir, 'val') ? path.join(dir, 'val') : has(dir, 'test') ? path.join(dir, 'test') : null) : null;
    const side = opts.size ?? 64;
    const p = pipeline({ resizeTo: side, augment: !!opts.augment, native: side, ...IMAGENET });
    if (trainDir && testDir) {
      test = new data.ImageFolder(testDir, { transform: p.test });
      if (!opts.testOnly) train = new data.ImageFolder(trainDir, { transform: p.train });
      classes = (test as data.ImageFolder).classes;
    } else {
      const all = new data.ImageFolder(trainDir ?? dir, { transform: p.test });
      classes = all.classes;
      const idx = Array.from({ length: all.length }, (_, i) => i);
      // A deterministic interleaved split, so eval sees the same held-out images as train did.
      const testIdx = idx.filter((i) => i % 10 === 9);
      test = new data.Subset(all, testIdx);
      if (!opts.testOnly) {
        const augmented = new data.ImageFolder(trainDir ?? dir, { transform: p.train });
        train = new data.Subset(augmented, idx.filter((i) => i % 10 !== 9));
      }
      notes.push(`${dir} has no train/ and val/ (or test/) folders: every 10th image is held out for testing`);
    }
    return {
      kind, root: dir, train: limit(train ?? test, opts.limitTrain), test: limit(test, opts.limitTest), classes,
      channels: 3, size: side, mean: IMAGENET.mean, std: IMAGENET.std, notes,
    };
  }
  if (kind === 'cifar10') {
    classes = data.CIFAR10_CLASSES;
    channels = 3;
    native = 32;
  } else {
    classes = kind === 'mnist' ? data.MNIST_CLASSES : data.FASHION_MNIST_CLASSES;
    channels = 1;
    native = 0; // read from the files below
  }
  stats = STATS[kind];
  const make = (train: boolean, transform: T.Compose): data.Dataset => {
    if (kind === 'cifar10') return new data.CIFAR10(dir, { train, transform });
    return kind === 'mnist' ? new data.MNIST(dir, { train, transform }) : new data.FashionMNIST(dir, { train, transform });
  };
  // The test split is opened first: it is what eval needs, and it tells the image size.
  const probe = make(false, new T.Compose([]));
  if (native === 0) native = (probe as data.MNIST).rows;
  const resizeTo = opts.size !== undefined && opts.size !== native ? opts.size : null;
  if (resizeTo !== null) notes.push(`images are resized from ${native}x${native} to ${resizeTo}x${resizeTo}`);
  const p = pipeline({ resizeTo, augment: !!opts.augment, native, ...stats });
  (probe as data.MNIST).transform = p.test;
  test = probe;
  if (!opts.testOnly) train = make(true, p.train);
  return {
    kind, root: dir, train: limit(train ?? test, opts.limitTrain), test: limit(test, opts.limitTest), classes,
    channels, size: resizeTo ?? native, mean: stats.mean, std: stats.std, notes,
  };
}
