/**
 * One batch, the same way in a worker thread and in the loader's own thread: the raw items, then the
 * dataset's transform on host arrays under the batch's own seed, then collation. A batch's random
 * choices depend only on (epoch key, batch index), never on which thread ran it or in what order,
 * so numWorkers: 0 and numWorkers: N give identical batches for the same manualSeed.
 */
import { getRngState, setRngState, takeRandom } from '../random';
import { withHostTensors } from '../transforms/image';
import { collateHost, HostField } from './collate';
import { Dataset, RawItem, SourceDataset } from './dataset';

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

export async function loadBatch(ds: Dataset, indices: ArrayLike<number>, seed: bigint): Promise<HostField[]> {
  return collateHost(await loadItems(ds, indices, seed));
}
