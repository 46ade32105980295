/**
 * Datasets: anything with `length` and `get(index)` (PyTorch's __len__ and __getitem__; get may return a
 * Promise, for datasets that decode files). The built-in datasets derive from SourceDataset, which splits
 * an item into its raw form and its transform; that split is what lets the DataLoader run the transform
 * itself, on host arrays, in worker threads, under a per-batch seed.
 */
import { ckError, fmtShape, shapeError } from '../errors';
import { HostTensor } from '../transforms/image';
import { isTensor } from '../transforms/lazy_tensor';
import * as R from '../transforms/random';
import type { Tensor } from '../tensor';
import { applyTransform, specOf, TransformLike, TransformSpec } from '../transforms/transform';

export interface Dataset<T = unknown> {
  readonly length: number;
  get(index: number): T | Promise<T>;
}

/** A dataset's description for worker threads: its kind, arguments and loaded arrays (what toSpec gives). */
export interface DatasetSpec {
  kind: string;
  [field: string]: unknown;
}

/** Python-style index: negative counts from the end; RangeError outside. */
export function checkIndex(index: number, length: number, what: string): number {
  if (!Number.isInteger(index)) throw ckError('ERR_ARG', `${what}: index must be an integer, got ${index}`, 'TypeError');
  const i = index < 0 ? index + length : index;
  if (i < 0 || i >= length) throw ckError('ERR_ARG', `${what}: index ${index} is out of range for ${length} items`, 'RangeError');
  return i;
}

export type RawItem = unknown[];

/** In-memory image datasets (MNIST, CIFAR10): the images (N, height, width, channels) and their labels. */
export interface ByteImages {
  data: Uint8Array;
  targets: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/** A dataset whose items are [input, ...rest] with an optional transform on the input. */
export abstract class SourceDataset<T = unknown[]> implements Dataset<T> {
  transform: TransformLike | null = null;
  abstract readonly length: number;
  /** The item before the transform (a Promise for datasets that decode files). */
  abstract getRaw(index: number): RawItem | Promise<RawItem>;
  /** @internal the description workers rebuild this dataset from (throws when it cannot cross threads). */
  abstract toSpec(): DatasetSpec;

  get(index: number): T | Promise<T> {
    const raw = this.getRaw(index);
    if (raw instanceof Promise) return raw.then((r) => this.applyTo(r));
    return this.applyTo(raw);
  }

  /** @internal the transformed item (in the loader's host mode: HostTensors instead of ck.Tensors). */
  applyTo(raw: RawItem): T {
    const t = this.transform;
    return (t ? [applyTransform(t, raw[0]), ...raw.slice(1)] : raw) as T;
  }

  /** @internal whether the DataLoader may run this dataset's transform on host arrays. */
  get hostCapable(): boolean {
    return this.transform === null || specOf(this.transform) !== null;
  }

  /** @internal all raw images as one HWC byte array of equal-sized images with byte labels (in-memory datasets), else null. */
  byteImages(): ByteImages | null {
    return null;
  }

  protected transformSpec(): TransformSpec | null {
    if (this.transform === null) return null;
    const s = specOf(this.transform);
    if (!s)
      throw ckError('ERR_ARG', `${this.constructor.name}: its transform is (or contains) a plain function, which cannot be sent to a worker thread; use built-in transforms or numWorkers: 0`, 'TypeError');
    return s;
  }
}

interface HostArray {
  data: Float32Array | Int32Array;
  shape: number[];
  dtype: 'float32' | 'int32';
}

function sharedCopy(src: Float32Array | Int32Array): Float32Array | Int32Array {
  const buf = new SharedArrayBuffer(src.byteLength);
  const out = src instanceof Float32Array ? new Float32Array(buf) : new Int32Array(buf);
  out.set(src);
  return out;
}

/**
 * Items are the i-th slices of each tensor (all with the same first dimension). The item type follows the
 * arguments: `new TensorDataset(x, y)` gives `[Tensor, Tensor]` items, hence `[Tensor, Tensor]` batches.
 */
export class TensorDataset<T extends Tensor[] = Tensor[]> extends SourceDataset<T> {
  readonly tensors: T;
  private host: HostArray[] | null = null;
  readonly length: number;

  constructor(...tensors: T) {
    super();
    if (tensors.length === 0) throw ckError('ERR_ARG', 'TensorDataset: needs at least one tensor', 'TypeError');
    tensors.forEach((t, i) => {
      if (!isTensor(t)) throw ckError('ERR_ARG', `TensorDataset: argument ${i} is not a ck.Tensor`, 'TypeError');
      if (t.ndim === 0) throw shapeError(`TensorDataset: tensor ${i} is 0-d; every tensor needs a first (sample) dimension`);
    });
    const n = tensors[0].shape[0];
    const bad = tensors.findIndex((t) => t.shape[0] !== n);
    if (bad >= 0) throw shapeError(`TensorDataset: size mismatch between tensors: ${fmtShape(tensors[0].shape)} and ${fmtShape(tensors[bad].shape)}`);
    this.tensors = tensors;
    this.length = n;
  }

  /** @internal a TensorDataset made from host arrays (in a worker). */
  static fromHost(arrays: HostArray[]): TensorDataset {
    const ds = Object.create(TensorDataset.prototype) as TensorDataset;
    Object.assign(ds, { transform: null, tensors: [], host: arrays, length: arrays[0].shape[0] });
    return ds;
  }

  get(index: number): T {
    const i = checkIndex(index, this.length, 'TensorDataset');
    // Rebuilt in a worker, a TensorDataset has only its host arrays.
    if (this.tensors.length === 0) return this.getRaw(i) as never;
    return this.tensors.map((t) => t.select(0, i)) as T;
  }

  private hostArrays(): HostArray[] {
    // One host copy, shared with the workers (a SharedArrayBuffer is not copied when posted).
    if (!this.host)
      this.host = this.tensors.map((t) => ({ data: sharedCopy(t.dataSync()), shape: [...t.shape], dtype: t.dtype }));
    return this.host;
  }

  getRaw(index: number): RawItem {
    const i = checkIndex(index, this.length, 'TensorDataset');
    return this.hostArrays().map((a) => {
      const inner = a.shape.slice(1);
      const size = inner.reduce((x, y) => x * y, 1);
      return new HostTensor(a.data.subarray(i * size, (i + 1) * size), inner, a.dtype);
    });
  }

  toSpec(): DatasetSpec {
    return { kind: 'TensorDataset', arrays: this.hostArrays() };
  }
}

/** The items of `dataset` at `indices`, in that order. */
export class Subset<T = unknown> extends SourceDataset<T> {
  readonly indices: Int32Array;
  constructor(readonly dataset: Dataset<T>, indices: ArrayLike<number>) {
    super();
    const n = dataset.length;
    this.indices = Int32Array.from(indices as ArrayLike<number>, (v) => checkIndex(v, n, 'Subset'));
  }
  get length(): number {
    return this.indices.length;
  }
  get(index: number): T | Promise<T> {
    return this.dataset.get(this.indices[checkIndex(index, this.length, 'Subset')]);
  }
  getRaw(index: number): RawItem | Promise<RawItem> {
    const i = this.indices[checkIndex(index, this.length, 'Subset')];
    if (!(this.dataset instanceof SourceDataset)) throw ckError('ERR_ARG', 'Subset: the underlying dataset has no raw items', 'TypeError');
    return this.dataset.getRaw(i);
  }
  applyTo(raw: RawItem): T {
    return (this.dataset as unknown as SourceDataset<T>).applyTo(raw);
  }
  get hostCapable(): boolean {
    return this.dataset instanceof SourceDataset && this.dataset.hostCapable;
  }
  toSpec(): DatasetSpec {
    if (!(this.dataset instanceof SourceDataset))
      throw ckError('ERR_ARG', 'Subset: a subset of a custom dataset cannot be sent to a worker thread; use numWorkers: 0', 'TypeError');
    return { kind: 'Subset', dataset: this.dataset.toSpec(), indices: this.indices };
  }
}

/**
 * Splits a dataset into non-overlapping random Subsets of the given lengths (counts summing to its
 * length, or fractions summing to 1, as PyTorch 1.13), from one seeded permutation.
 */
export function randomSplit<T>(dataset: Dataset<T>, lengths: number[]): Subset<T>[] {
  const n = dataset.length;
  let counts = [...lengths];
  const sum = lengths.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) <= 1e-9 && sum !== n) {
    if (lengths.some((f) => f < 0 || f > 1)) throw ckError('ERR_ARG', `randomSplit: fractions must lie in [0, 1], got ${JSON.stringify(lengths)}`, 'RangeError');
    counts = lengths.map((f) => Math.floor(n * f));
    let rest = n - counts.reduce((a, b) => a + b, 0);
    for (let i = 0; rest > 0; i = (i + 1) % counts.length, rest--) counts[i] += 1;
  }
  if (counts.some((c) => !Number.isInteger(c) || c < 0) || counts.reduce((a, b) => a + b, 0) !== n)
    throw ckError('ERR_ARG', `randomSplit: sum of input lengths (${JSON.stringify(lengths)}) does not equal the length of the input dataset (${n})`, 'RangeError');
  const perm = R.randperm(n);
  const out: Subset<T>[] = [];
  let at = 0;
  for (const c of counts) {
    out.push(new Subset(dataset, perm.slice(at, at + c)));
    at += c;
  }
  return out;
}
