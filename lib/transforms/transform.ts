/**
 * The Transform base class and Compose. A transform is an object with forward(x) (torchvision's
 * __call__); a plain function works too wherever a transform is accepted. Built-in transforms also
 * describe themselves as a spec (class name + constructor arguments) so a DataLoader can rebuild the
 * same pipeline inside its worker threads; functions cannot cross threads.
 */
import { ckError } from '../errors';
import { isTensor } from './lazy_tensor';

/** What rebuilds a transform in another thread: the registered class name and its constructor arguments. */
export interface TransformSpec {
  kind: string;
  args: unknown[];
}

export abstract class Transform<In = any, Out = any> {
  abstract forward(x: In): Out;
  /** @internal the class name and constructor arguments, for worker threads. */
  abstract spec(): TransformSpec;
  toString(): string {
    const s = this.spec();
    return `${s.kind}(${s.args.map((a) => JSON.stringify(a)).join(', ')})`;
  }
}

export type TransformFn<In = any, Out = any> = (x: In) => Out;
export type TransformLike = Transform | TransformFn;

export function applyTransform(t: TransformLike, x: unknown): unknown {
  return t instanceof Transform ? t.forward(x) : t(x);
}

/** The spec of t, or null when t (or a transform inside it) is a plain function. */
export function specOf(t: TransformLike): TransformSpec | null {
  if (!(t instanceof Transform)) return null;
  try {
    return t.spec();
  } catch {
    return null;
  }
}

/** Applies transforms in order. */
export class Compose extends Transform {
  readonly transforms: TransformLike[];
  constructor(transforms: TransformLike[]) {
    super();
    if (!Array.isArray(transforms)) throw ckError('ERR_ARG', 'Compose: expected an array of transforms', 'TypeError');
    transforms.forEach((t, i) => {
      if (!(t instanceof Transform) && typeof t !== 'function')
        throw ckError('ERR_ARG', `Compose: item ${i} is neither a transform nor a function`, 'TypeError');
    });
    this.transforms = [...transforms];
  }
  forward(x: unknown): unknown {
    let v = x;
    for (const t of this.transforms) {
      const next = applyTransform(t, v);
      // A tensor made by an earlier step of this chain and replaced by the next is nobody's: free it
      // (storages are reference-counted, so a view the next step returned keeps its data).
      if (v !== x && v !== next && isTensor(v)) v.dispose();
      v = next;
    }
    return v;
  }
  spec(): TransformSpec {
    const inner = this.transforms.map((t, i) => {
      const s = specOf(t);
      if (!s) throw ckError('ERR_ARG', `Compose: item ${i} is a function, which cannot be sent to a worker thread`, 'TypeError');
      return s;
    });
    return { kind: 'Compose', args: [inner] };
  }
  toString(): string {
    return `Compose(\n${this.transforms.map((t) => `  ${t instanceof Transform ? t.toString() : '<function>'}`).join('\n')}\n)`;
  }
}
