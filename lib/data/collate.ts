/**
 * Batch assembly on the host: items ([input, label] or any array of fields) become one array per
 * field, stacked along a new first dimension, ready to become tensors (or to cross from a worker
 * as transferable buffers). Tensors (ck or host) are stacked with their dtype; numbers become an int32
 * vector when all are integers, else float32.
 */
import { ckError, fmtShape, shapeError } from '../errors';
import { HostTensor, isImage } from '../transforms/image';
import { isTensor } from '../transforms/lazy_tensor';

export interface HostField {
  data: Float32Array | Int32Array;
  shape: number[];
  dtype: 'float32' | 'int32';
}

function fieldsOf(item: unknown, i: number): unknown[] {
  if (Array.isArray(item)) return item;
  throw ckError('ERR_ARG', `collate: item ${i} is not an array of fields ([input, label]); got ${typeof item}`, 'TypeError');
}

export function collateHost(items: unknown[]): HostField[] {
  if (items.length === 0) return [];
  const first = fieldsOf(items[0], 0);
  const out: HostField[] = [];
  for (let k = 0; k < first.length; k++) {
    const v0 = first[k];
    if (typeof v0 === 'number') {
      const vals = items.map((it, i) => {
        const v = fieldsOf(it, i)[k];
        if (typeof v !== 'number') throw ckError('ERR_ARG', `collate: field ${k} is a number in item 0 but not in item ${i}`, 'TypeError');
        return v;
      });
      const ints = vals.every((v) => Number.isInteger(v) && v >= -2147483648 && v <= 2147483647);
      out.push({ data: ints ? Int32Array.from(vals) : Float32Array.from(vals), shape: [vals.length], dtype: ints ? 'int32' : 'float32' });
      continue;
    }
    if (isImage(v0))
      throw ckError('ERR_ARG', `collate: field ${k} of the items is an Image; add transforms.ToTensor() to the dataset's transform to batch it`, 'TypeError');
    if (!(v0 instanceof HostTensor) && !isTensor(v0))
      throw ckError('ERR_ARG', `collate: cannot batch field ${k} of type ${typeof v0} (expected tensors or numbers)`, 'TypeError');
    const shape = [...v0.shape];
    const dtype = v0.dtype === 'float32' ? 'float32' : 'int32';
    const size = shape.reduce((a, b) => a * b, 1);
    const data = dtype === 'float32' ? new Float32Array(size * items.length) : new Int32Array(size * items.length);
    items.forEach((it, i) => {
      const v = fieldsOf(it, i)[k] as HostTensor;
      if (!(v instanceof HostTensor) && !isTensor(v))
        throw ckError('ERR_ARG', `collate: field ${k} is a tensor in item 0 but not in item ${i}`, 'TypeError');
      if (v.shape.length !== shape.length || v.shape.some((s, d) => s !== shape[d]))
        throw shapeError(`collate: stack expects each tensor to be equal size, but got ${fmtShape(shape)} at item 0 and ${fmtShape(v.shape)} at item ${i} (field ${k})`);
      if ((v.dtype === 'float32' ? 'float32' : 'int32') !== dtype)
        throw ckError('ERR_DTYPE', `collate: field ${k} is ${dtype} in item 0 and ${v.dtype} in item ${i}`, 'TypeError');
      data.set(v instanceof HostTensor ? v.data : (v as unknown as { dataSync(): Float32Array | Int32Array }).dataSync(), i * size);
    });
    out.push({ data, shape: [items.length, ...shape], dtype });
  }
  return out;
}
