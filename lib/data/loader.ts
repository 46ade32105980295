/**
 * DataLoader: an async iterable of batches over a dataset, with PyTorch's options (camelCase) and
 * semantics: `length` batches per epoch (the last one short unless dropLast), a fresh seeded
 * permutation per epoch when shuffling, batches in order.
 *
 * With numWorkers > 0 the items are read, decoded, transformed and stacked in worker threads, which
 * get the dataset as a spec (built-in datasets and transforms only) and send back raw arrays whose
 * buffers are transferred; the main thread only wraps them as tensors (on `device`). Up to
 * prefetchFactor * numWorkers batches are in flight. Every batch's random choices come from a seed
 * derived from the epoch and the batch index, so any numWorkers gives the same batches for the same
 * manualSeed.
 *
 * Batches belong to the iteration, as PyTorch's do to the loop variable: a batch's tensors are disposed
 * when the loop asks for the next batch (or leaves the loop, by its end, break, return or throw), unless
 * the caller took them out with ck.keep(t) or disposed them already. Between batches the iteration
 * gives the event loop one turn (setImmediate), so garbage-collector finalizers run even in a loop that
 * never awaits anything else, and it checks live native memory for steady growth (see stepMark).
 */
import { makeTensor } from '../transforms/lazy_tensor';
import * as R from '../transforms/random';
import { ckError } from '../errors';
import { DeviceLike, parseDevice } from '../device';
import { Disposable, hold, release, stepMark, stepStart } from '../memory';
import type { Tensor } from '../tensor';
import { batchSeed, epochKey, loadBatch, withSeed } from './batch';
import { HostField } from './collate';
import { Dataset, DatasetSpec, SourceDataset } from './dataset';
import { WorkerPool } from './worker_pool';

/**
 * The batch the default collation makes from items of type T: each field of an item tuple becomes one
 * stacked tensor, so `[image, label]` items give `[Tensor, Tensor]` batches (what every built-in dataset
 * gives) and `for await (const [x, y] of loader)` types x and y as Tensor even under
 * noUncheckedIndexedAccess. Items of unknown shape give `Tensor[]`.
 */
export type Collated<T> = T extends readonly unknown[] ? { -readonly [K in keyof T]: Tensor } : Tensor[];

export interface DataLoaderOptions<T = unknown, B = Collated<T>> {
  batchSize?: number;
  /** A new random order every epoch (from the seeded stream). */
  shuffle?: boolean;
  /** The dataset indices of each epoch, in order (e.g. a DistributedSampler); mutually exclusive with shuffle. */
  sampler?: Sampler;
  /** Drop the last batch when it would be short. */
  dropLast?: boolean;
  /** Worker threads for reading and transforming (0: in this thread). */
  numWorkers?: number;
  /** Where the batch tensors are created ('cpu', 'cuda', 'cuda:N'). */
  device?: DeviceLike;
  /** Builds a batch from the items (ds.get results); only with numWorkers: 0. */
  collate?: (items: T[]) => B;
  /** Batches loaded ahead per worker (default 2). */
  prefetchFactor?: number;
  /** Keep the workers between epochs (until close()). */
  persistentWorkers?: boolean;
  /** Batches in pinned (page-locked) host memory, so `.to('cuda', { nonBlocking: true })` needs no staging (device 'cpu' only; needs CUDA). */
  pinMemory?: boolean;
}

/** PyTorch's Sampler: iterated once per epoch for the indices; `length` (when given) is how many it yields. */
export interface Sampler {
  [Symbol.iterator](): Iterator<number>;
  readonly length?: number;
}

function posInt(v: number, what: string, min: number): number {
  if (!Number.isInteger(v) || v < min) throw ckError('ERR_ARG', `DataLoader: ${what} must be an integer >= ${min}, got ${v}`, 'RangeError');
  return v;
}

/**
 * `T` is the dataset's item type and `B` the batch type: inferred, `[Tensor, Tensor]` for the built-in
 * datasets, the collate function's result type when one is given.
 */
export class DataLoader<T = unknown, B = Collated<T>> implements AsyncIterable<B> {
  readonly dataset: Dataset<T>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly numWorkers: number;
  readonly prefetchFactor: number;
  readonly persistentWorkers: boolean;
  readonly device: DeviceLike;
  readonly sampler: Sampler | null;
  readonly pinMemory: boolean;
  // Held as taking unknown items, so a DataLoader of specific items still passes where any DataLoader is expected.
  private readonly collate: ((items: unknown[]) => B) | null;
  private readonly spec: DatasetSpec | null = null;
  private pool: WorkerPool | null = null;
  private active = 0;

  constructor(dataset: Dataset<T>, opts: DataLoaderOptions<T, B> = {}) {
    if (!dataset || typeof dataset.get !== 'function' || !Number.isInteger(dataset.length))
      throw ckError('ERR_ARG', 'DataLoader: expected a dataset with length and get(index)', 'TypeError');
    this.dataset = dataset;
    this.batchSize = posInt(opts.batchSize ?? 1, 'batchSize', 1);
    this.shuffle = !!opts.shuffle;
    this.sampler = opts.sampler ?? null;
    if (this.sampler && this.shuffle) throw ckError('ERR_ARG', 'DataLoader: sampler option is mutually exclusive with shuffle', 'TypeError');
    if (this.sampler && typeof this.sampler[Symbol.iterator] !== 'function') throw ckError('ERR_ARG', 'DataLoader: sampler must be an iterable of dataset indices', 'TypeError');
    this.dropLast = !!opts.dropLast;
    this.numWorkers = posInt(opts.numWorkers ?? 0, 'numWorkers', 0);
    this.prefetchFactor = posInt(opts.prefetchFactor ?? 2, 'prefetchFactor', 1);
    this.persistentWorkers = !!opts.persistentWorkers;
    this.device = opts.device ?? 'cpu';
    this.pinMemory = !!opts.pinMemory;
    if (this.pinMemory && parseDevice(this.device).type !== 'cpu')
      throw ckError('ERR_ARG', `DataLoader: pinMemory is for batches on the CPU (device '${String(this.device)}' gets them uploaded already)`, 'TypeError');
    parseDevice(this.device);
    this.collate = (opts.collate as ((items: unknown[]) => B) | undefined) ?? null;
    if (this.numWorkers > 0) {
      if (this.collate) throw ckError('ERR_ARG', 'DataLoader: a custom collate runs only with numWorkers: 0 (functions cannot be sent to worker threads)', 'TypeError');
      if (!(dataset instanceof SourceDataset))
        throw ckError('ERR_ARG', 'DataLoader: numWorkers > 0 needs a built-in dataset (CIFAR10, MNIST, FashionMNIST, ImageFolder, TensorDataset or a Subset of one); use numWorkers: 0 for a custom dataset', 'TypeError');
      this.spec = dataset.toSpec();
    }
  }

  /** Batches per epoch: ceil(n / batchSize), or floor with dropLast. */
  get length(): number {
    const n = this.sampler ? this.sampler.length ?? [...this.sampler].length : this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  private batches(): Int32Array[] {
    const order = this.sampler ? this.samplerOrder() : this.shuffle ? Int32Array.from(R.randperm(this.dataset.length)) : Int32Array.from({ length: this.dataset.length }, (_, i) => i);
    const n = order.length;
    const out: Int32Array[] = [];
    const count = this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
    for (let b = 0; b < count; b++) out.push(order.subarray(b * this.batchSize, Math.min(n, (b + 1) * this.batchSize)));
    return out;
  }

  private samplerOrder(): Int32Array {
    const raw = Array.from(this.sampler!);
    const n = this.dataset.length;
    const bad = raw.find((i) => !Number.isInteger(i) || i < 0 || i >= n);
    if (bad !== undefined) throw ckError('ERR_ARG', `DataLoader: the sampler gave index ${bad}, not an index of the dataset of ${n} items`, 'RangeError');
    return Int32Array.from(raw);
  }

  private toBatch(fields: HostField[]): B {
    return fields.map((f) => {
      const t = makeTensor(f.data, f.shape, this.device);
      if (!this.pinMemory) return t;
      const pinned = t.pinMemory();
      t.dispose();
      return pinned;
    }) as unknown as B;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<B, void, undefined> {
    // The epoch's order and key are drawn when iteration starts, before any batch.
    const batches = this.batches();
    const key = epochKey();
    this.active++;
    let current: Set<Disposable> | null = null;
    // The loop body of the previous batch has run: free that batch, let finalizers run, watch memory.
    const moveOn = async () => {
      if (current) release(current);
      current = null;
      stepMark();
      await new Promise((r) => setImmediate(r));
    };
    const give = (batch: B): B => {
      current = hold(batch);
      stepStart();
      return batch;
    };
    try {
      if (this.numWorkers === 0) {
        for (let b = 0; b < batches.length; b++) {
          const seed = batchSeed(key, b);
          if (this.collate) {
            const items = await loadItemsPlain(this.dataset, batches[b], seed);
            yield give(this.collate(items));
          } else yield give(this.toBatch(await loadBatch(this.dataset, batches[b], seed)));
          await moveOn();
        }
        return;
      }
      this.pool ??= new WorkerPool(this.numWorkers, this.spec!);
      const pool = this.pool;
      const inflight = new Map<number, Promise<HostField[]>>();
      let next = 0;
      const ahead = this.prefetchFactor * this.numWorkers;
      const submit = (consumed: number) => {
        for (; next < batches.length && next < consumed + ahead; next++) {
          const p = pool.run(next % pool.size, batches[next], batchSeed(key, next));
          p.catch(() => undefined); // a batch that fails after an earlier failure must not go unhandled
          inflight.set(next, p);
        }
      };
      for (let b = 0; b < batches.length; b++) {
        submit(b);
        const fields = await inflight.get(b)!;
        inflight.delete(b);
        submit(b + 1);
        yield give(this.toBatch(fields));
        await moveOn();
      }
    } finally {
      if (current) release(current);
      this.active--;
      if (!this.persistentWorkers && this.active === 0) await this.close();
    }
  }

  /** Stops the worker threads (idempotent; iteration starts new ones). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.close();
  }
}

// With a custom collate the user sees the items as ds.get gives them (ck.Tensors), under the batch seed.
async function loadItemsPlain(ds: Dataset, indices: Int32Array, seed: bigint): Promise<unknown[]> {
  const got = withSeed(seed, () => Array.from(indices, (i) => ds.get(i)));
  return Promise.all(got);
}
