/**
 * data.DistributedSampler, as torch.utils.data.DistributedSampler: each rank draws its own shard of the
 * dataset's indices. With shuffle, the order of epoch e is PyTorch's `torch.randperm(n, generator=g)` with
 * g seeded `seed + e` (PyTorch's CPU generator, a 32-bit Mersenne Twister, and randperm's Fisher-Yates
 * swaps, reproduced here), so the shards are index for index PyTorch's. Without dropLast the list is
 * padded with its own head to a multiple of the world size; with dropLast its tail is cut. Rank r takes
 * every worldSize-th index from r. DataLoader takes no sampler yet: load a shard with
 * `new DataLoader(sampler.subset(), ...)` each epoch, after setEpoch(epoch).
 */
import * as dist from '../distributed/process_group';
import { ckError } from '../errors';
import { Dataset, Subset } from './dataset';

export interface DistributedSamplerOptions {
  numReplicas?: number;
  rank?: number;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
}

/** PyTorch's CPU generator (at::mt19937): MT19937 seeded with the low 32 bits of the seed. */
export class TorchMT19937 {
  private readonly mt = new Uint32Array(624);
  private i = 624;
  constructor(seed: number) {
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let j = 1; j < 624; j++) {
      const p = mt[j - 1] ^ (mt[j - 1] >>> 30);
      mt[j] = (Math.imul(1812433253, p) + j) >>> 0;
    }
  }
  /** The next 32-bit output. */
  next(): number {
    const mt = this.mt;
    if (this.i >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.i = 0;
    }
    let y = mt[this.i++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/** torch.randperm(n, generator=torch.Generator().manual_seed(seed)) on the CPU (PyTorch 1.13's algorithm). */
export function torchRandperm(n: number, seed: number): Int32Array {
  const g = new TorchMT19937(seed);
  const r = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n - 1; i++) {
    const z = g.next() % (n - i);
    const sav = r[i];
    r[i] = r[z + i];
    r[z + i] = sav;
  }
  return r;
}

export class DistributedSampler<T = unknown> {
  readonly numReplicas: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Indices per rank. */
  readonly numSamples: number;
  readonly totalSize: number;
  private epoch = 0;

  constructor(readonly dataset: Dataset<T>, opts: DistributedSamplerOptions = {}) {
    this.numReplicas = opts.numReplicas ?? dist.getWorldSize();
    this.rank = opts.rank ?? dist.getRank();
    if (!Number.isInteger(this.numReplicas) || this.numReplicas < 1) throw ckError('ERR_ARG', `DistributedSampler: numReplicas must be a positive integer, got ${this.numReplicas}`, 'RangeError');
    if (!Number.isInteger(this.rank) || this.rank < 0 || this.rank >= this.numReplicas)
      throw ckError('ERR_ARG', `DistributedSampler: invalid rank ${this.rank}, rank should be in the interval [0, ${this.numReplicas - 1}]`, 'RangeError');
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    this.dropLast = !!opts.dropLast;
    const n = dataset.length;
    this.numSamples = this.dropLast && n % this.numReplicas !== 0 ? Math.ceil((n - this.numReplicas) / this.numReplicas) : Math.ceil(n / this.numReplicas);
    this.totalSize = this.numSamples * this.numReplicas;
  }

  /** Sets the epoch, which seeds the shuffle (seed + epoch): call it before each epoch, as with PyTorch. */
  setEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw ckError('ERR_ARG', `DistributedSampler.setEpoch: expected a non-negative integer, got ${epoch}`, 'RangeError');
    this.epoch = epoch;
  }

  /** This rank's indices for the current epoch. */
  indices(): number[] {
    const n = this.dataset.length;
    let idx = this.shuffle ? [...torchRandperm(n, this.seed + this.epoch)] : Array.from({ length: n }, (_, i) => i);
    if (!this.dropLast) {
      const pad = this.totalSize - idx.length;
      if (pad > 0 && idx.length === 0) throw ckError('ERR_DATA', 'DistributedSampler: the dataset is empty');
      while (idx.length < this.totalSize) idx = idx.concat(idx.slice(0, this.totalSize - idx.length));
    } else idx = idx.slice(0, this.totalSize);
    const out: number[] = [];
    for (let i = this.rank; i < this.totalSize; i += this.numReplicas) out.push(idx[i]);
    return out;
  }

  /** This rank's shard for the current epoch, as a dataset for DataLoader. */
  subset(): Subset<T> {
    return new Subset(this.dataset, this.indices());
  }

  get length(): number {
    return this.numSamples;
  }

  [Symbol.iterator](): Iterator<number> {
    return this.indices()[Symbol.iterator]();
  }
}
