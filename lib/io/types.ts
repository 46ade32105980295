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
