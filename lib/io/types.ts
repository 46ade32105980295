import { Tensor } from '../tensor';

/** Tensors read from a weight file, by name in file order, with the file's string metadata. */
export interface WeightFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
  /** The element type each tensor had in the file (F16, I64 ...) before widening to float32/int32. */
  dtypes: Map<string, string>;
  /** Disposes every tensor in `tensors`. */
  dispose(): void;
}

export function weightFile(tensors: Map<string, Tensor>, metadata: Record<string, string>, dtypes: Map<string, string>): WeightFile {
  return {
    tensors,
    metadata,
    dtypes,
    dispose() {
      for (const t of tensors.values()) t.dispose();
    },
  };
}

/** One tensor read from a weight file, with the element type it had there. */
export interface WeightEntry {
  name: string;
  tensor: Tensor;
  dtype: string;
}

/**
 * Reads each of `entries` into a tensor with `read` and gathers them into a WeightFile; when a read throws,
 * the tensors already made are disposed before the error goes on.
 */
export function readWeightFile<E>(entries: Iterable<E>, read: (entry: E) => WeightEntry, metadata: Record<string, string>): WeightFile {
  const tensors = new Map<string, Tensor>();
  const dtypes = new Map<string, string>();
  try {
    for (const e of entries) {
      const w = read(e);
      tensors.set(w.name, w.tensor);
      dtypes.set(w.name, w.dtype);
    }
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
  return weightFile(tensors, metadata, dtypes);
}
