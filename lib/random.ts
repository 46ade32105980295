/**
 * The global random state: a 64-bit seed and a counter. Every draw of n numbers takes the next n
 * counter values of a Philox stream, so manualSeed(s) makes every later draw reproducible, on any
 * device and with any thread count.
 */
import { ckError } from './errors';

let seedHi = 0;
let seedLo = 0;
let counter = 0;

function setSeed(seed: number | bigint): void {
  const s = BigInt.asUintN(64, BigInt(seed));
  seedHi = Number(s >> 32n);
  seedLo = Number(s & 0xffffffffn);
  counter = 0;
}

// PyTorch's default initial seed, so an unseeded process is deterministic as PyTorch's CPU generator is.
setSeed(67280421310721n);

/** Seeds every random draw convkit makes (rand, randn, randint, dropout, shuffling, transforms). */
export function manualSeed(seed: number | bigint): void {
  if (typeof seed === 'number' && !Number.isInteger(seed)) throw ckError('ERR_ARG', 'manualSeed: seed must be an integer', 'TypeError');
  if (typeof seed !== 'number' && typeof seed !== 'bigint') throw ckError('ERR_ARG', `manualSeed: seed must be an integer, got ${typeof seed}`, 'TypeError');
  setSeed(seed);
}

export function initialSeed(): bigint {
  return (BigInt(seedHi) << 32n) | BigInt(seedLo);
}

/** Reserves n counter values; returns [seedHi, seedLo, offset]. */
export function takeRandom(n: number): [number, number, number] {
  const off = counter;
  counter += Math.max(n, 1);
  if (counter > Number.MAX_SAFE_INTEGER) counter = 0;
  return [seedHi, seedLo, off];
}

/** A uniform double in [0, 1) from the same stream (for host-side decisions: shuffles, augmentations). */
export function randomUniformHost(): number {
  const [hi, lo, off] = takeRandom(1);
  // SplitMix64 on (seed, offset): cheap, good enough for host-side choices, and reproducible.
  let z = BigInt.asUintN(64, ((BigInt(hi) << 32n) | BigInt(lo)) + BigInt(off + 1) * 0x9e3779b97f4a7c15n);
  z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
  z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
  z = z ^ (z >> 31n);
  return Number(z >> 11n) / 2 ** 53;
}

export function getRngState(): { seed: bigint; offset: number } {
  return { seed: initialSeed(), offset: counter };
}

export function setRngState(s: { seed: bigint | number; offset: number }): void {
  setSeed(s.seed);
  counter = s.offset;
}
