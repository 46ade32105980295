/**
 * Which algorithm CPU convolutions with a 3x3 kernel, stride 1, dilation 1 and one group use:
 * 'auto' (default: the measured per-shape rule, docs/winograd.md), 'direct' (im2col GEMM, as before Winograd),
 * 'winograd' (Winograd F(2x2,3x3) wherever it applies), 'winograd2' / 'winograd4' (forced F(2x2,3x3) / F(4x4,3x3):
 * the faster, opt-in because its rounding error is about 10x direct's, see docs/winograd.md), 'direct3x3' (the hand-written
 * direct 3x3 kernel of small feature maps wherever it applies, docs/conv_algos.md). Process-wide; the initial value comes from the environment variable CONVKIT_CONV_ALGO.
 * Other convolutions always use the im2col GEMM; CUDA convolutions are unaffected.
 */
import { native } from './binding';
import { ckError } from './errors';

export type ConvAlgo = 'auto' | 'direct' | 'winograd' | 'winograd2' | 'winograd4' | 'direct3x3';
const ALGOS: readonly ConvAlgo[] = ['auto', 'direct', 'winograd', 'winograd2', 'winograd4', 'direct3x3'];

export function setConvAlgo(algo: ConvAlgo): void {
  if (typeof algo !== 'string' || !ALGOS.includes(algo)) {
    throw ckError('ERR_ARG', `setConvAlgo: algo must be one of ${ALGOS.map((a) => `'${a}'`).join(', ')}, got ${String(algo)}`, 'TypeError');
  }
  native.setConvAlgo(algo);
}

export function getConvAlgo(): ConvAlgo {
  return native.getConvAlgo();
}

/** Runs fn with the algorithm set to `algo`, then restores the previous one. */
export function withConvAlgo<T>(algo: ConvAlgo, fn: () => T): T {
  const before = getConvAlgo();
  setConvAlgo(algo);
  try {
    return fn();
  } finally {
    setConvAlgo(before);
  }
}
