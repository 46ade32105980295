/** Receptive-field arithmetic for a chain of convolutions and poolings. */
import { ckError } from '../errors';

export interface RFOp {
  kernel: number;
  stride?: number;
  padding?: number;
  dilation?: number;
  name?: string;
}

export interface RFRow {
  name: string;
  /** Spatial size after this layer (null when no inputSize was given). */
  outputSize: number | null;
  /** Input pixels one output unit sees, along one axis. */
  receptiveField: number;
  /** Distance in input pixels between neighbouring output units (the product of strides). */
  jump: number;
  /** Input coordinate of the centre of the first output unit's field. */
  start: number;
}

/**
 * Per layer: output size (from inputSize), receptive field r, jump j and centre of the first field,
 * with k' = d(k - 1) + 1: n' = floor((n + 2p - k') / s) + 1, j' = j s, r' = r + (k' - 1) j,
 * start' = start + ((k' - 1) / 2 - p) j.
 */
export function receptiveField(ops: RFOp[], opts: { inputSize?: number } = {}): RFRow[] {
  let n: number | null = opts.inputSize ?? null;
  let j = 1;
  let r = 1;
  let start = 0.5;
  return ops.map((op, i) => {
    const k = op.kernel;
    const s = op.stride ?? 1;
    const p = op.padding ?? 0;
    const d = op.dilation ?? 1;
    for (const [what, v, min] of [['kernel', k, 1], ['stride', s, 1], ['padding', p, 0], ['dilation', d, 1]] as const) {
      if (!Number.isInteger(v) || v < min) throw ckError('ERR_ARG', `receptiveField: layer ${i} has ${what} ${v}; expected an integer >= ${min}`, 'RangeError');
    }
    const ke = d * (k - 1) + 1;
    if (n !== null) {
      n = Math.floor((n + 2 * p - ke) / s) + 1;
      if (n < 1) throw ckError('ERR_SHAPE', `receptiveField: layer ${i} (${op.name ?? `kernel ${k}`}) gets an output size of ${n}; the input is too small`, 'RangeError');
    }
    start += ((ke - 1) / 2 - p) * j;
    r += (ke - 1) * j;
    j *= s;
    return { name: op.name ?? `layer${i + 1}`, outputSize: n, receptiveField: r, jump: j, start };
  });
}
