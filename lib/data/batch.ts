/**
 * One batch, the same way in a worker thread and in the loader's own thread: the raw items, then the
 * dataset's transform on host arrays under the batch's own seed, then collation. A batch's random
 * choices depend only on (epoch key, batch index), never on which thread ran it or in what order,
 * so numWorkers: 0 and numWorkers: N give identical batches for the same manualSeed.
 */
import { getRngState, setRngState, takeRandom } from '../random';
import { withHostTensors } from '../transforms/image';
import { byteTransformLookup } from '../transforms/conversion';
import { collateHost, HostField } from './collate';
import { checkIndex, Dataset, RawItem, SourceDataset, Subset } from './dataset';

export type EpochKey = [number, number, number];

/** Reserves one value of the global stream for an epoch; every batch seed derives from it. */
export function epochKey(): EpochKey {
  return takeRandom(1);
}

const M64 = (1n << 64n) - 1n;
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

/** The seed of batch b of an epoch (SplitMix64 of the epoch key and b). */
export function batchSeed([hi, lo, off]: EpochKey, b: number): bigint {
  const s = mix64(((BigInt(hi) << 32n) | BigInt(lo)) ^ mix64(BigInt(off) + 0x9e3779b97f4a7c15n));
  return mix64((s + BigInt(b + 1) * 0x9e3779b97f4a7c15n) & M64);
}

/** Runs fn (synchronous) with the global stream at (seed, 0), then puts the stream back. */
export function withSeed<T>(seed: bigint, fn: () => T): T {
  const saved = getRngState();
  setRngState({ seed, offset: 0 });
  try {
    return fn();
  } finally {
    setRngState(saved);
  }
}

function isPromise(v: unknown): v is Promise<unknown> {
  return !!v && typeof (v as Promise<unknown>).then === 'function';
}

/** The items of `indices`, transformed: on host arrays when the dataset allows it. */
export async function loadItems(ds: Dataset, indices: ArrayLike<number>, seed: bigint): Promise<unknown[]> {
  const n = indices.length;
  if (ds instanceof SourceDataset && ds.hostCapable) {
    // Decoding may be asynchronous; the transforms are not, so they run together under the seed.
    let raws: (RawItem | Promise<RawItem>)[] = new Array(n);
    for (let i = 0; i < n; i++) raws[i] = ds.getRaw(indices[i]);
    if (raws.some(isPromise)) raws = await Promise.all(raws);
    return withSeed(seed, () => withHostTensors(() => (raws as RawItem[]).map((r) => ds.applyTo(r))));
  }
  // A custom dataset: its synchronous part runs under the seed; asynchronous continuations cannot be.
  const got = withSeed(seed, () => Array.from({ length: n }, (_, i) => ds.get(indices[i])));
  return got.some(isPromise) ? Promise.all(got) : got;
}

/**
 * The batch of an in-memory image dataset (through any Subsets) whose transform is ToTensor and
 * Normalizes only, built in one pass: each byte looked up in a per-channel table of what those
 * transforms make of it, so the result is bit for bit the per-item path's, without an object per item.
 * null for any other dataset or transform.
 */
export function byteBatch(ds: Dataset, indices: ArrayLike<number>): HostField[] | null {
  let base: Dataset = ds;
  let idx: ArrayLike<number> = indices;
  while (base instanceof Subset) {
    if (base.getRaw !== Subset.prototype.getRaw || base.applyTo !== Subset.prototype.applyTo) return null;
    const { indices: map, length: n } = base;
    idx = Array.from(idx, (i) => map[checkIndex(i, n, 'Subset')]);
    base = base.dataset;
  }
  // A subclass that reads or transforms items its own way keeps the per-item path.
  if (!(base instanceof SourceDataset) || base.applyTo !== SourceDataset.prototype.applyTo) return null;
  const src = base.byteImages();
  if (!src) return null;
  const { data, targets, height, width, channels: c } = src;
  const luts = byteTransformLookup(base.transform, c);
  if (!luts) return null;
  const n = idx.length;
  const plane = height * width;
  const size = plane * c;
  const out = new Float32Array(n * size);
  const labels = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const i = checkIndex(idx[j], targets.length, base.constructor.name);
    labels[j] = targets[i];
    const from = i * size;
    const to = j * size;
    if (c === 1) {
      const lut = luts[0];
      for (let k = 0; k < plane; k++) out[to + k] = lut[data[from + k]];
    } else {
      for (let ch = 0; ch < c; ch++) {
        const lut = luts[ch];
        const o = to + ch * plane;
        for (let k = 0; k < plane; k++) out[o + k] = lut[data[from + k * c + ch]];
      }
    }
  }
  return [
    { data: out, shape: [n, c, height, width], dtype: 'float32' },
    { data: labels, shape: [n], dtype: 'int32' },
  ];
}

/** One batch as host arrays: byteBatch where it applies, else the items transformed and collated. */
export async function loadBatch(ds: Dataset, indices: ArrayLike<number>, seed: bigint): Promise<HostField[]> {
  return byteBatch(ds, indices) ?? collateHost(await loadItems(ds, indices, seed));
}
