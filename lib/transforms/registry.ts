/** Rebuilds a transform from its spec (in a DataLoader worker): the built-in classes by name. */
import { ckError } from '../errors';
import { ColorJitter } from './color';
import { Normalize, ToTensor } from './conversion';
import { RandomErasing } from './erasing';
import {
  CenterCrop, Pad, RandomCrop, RandomHorizontalFlip, RandomResizedCrop, RandomRotation, RandomVerticalFlip, Resize,
} from './geometry';
import { Compose, Transform, TransformSpec } from './transform';

// Each entry takes the spec's args exactly as the class's spec() wrote them.
const BUILDERS: Record<string, (args: any[]) => Transform> = {
  Compose: ([inner]) => new Compose((inner as TransformSpec[]).map(transformFromSpec)),
  ToTensor: () => new ToTensor(),
  Normalize: ([m, s]) => new Normalize(m, s),
  RandomHorizontalFlip: ([p]) => new RandomHorizontalFlip(p),
  RandomVerticalFlip: ([p]) => new RandomVerticalFlip(p),
  Pad: ([p, o]) => new Pad(p, o),
  RandomCrop: ([s, o]) => new RandomCrop(s, o),
  CenterCrop: ([s]) => new CenterCrop(s),
  Resize: ([s, o]) => new Resize(s, o),
  RandomResizedCrop: ([s, o]) => new RandomResizedCrop(s, o),
  RandomRotation: ([d, o]) => new RandomRotation(d, o),
  ColorJitter: ([o]) => new ColorJitter(o),
  RandomErasing: ([o]) => new RandomErasing(o),
};

export function transformFromSpec(spec: TransformSpec): Transform {
  const b = BUILDERS[spec.kind];
  if (!b) throw ckError('ERR_ARG', `cannot rebuild transform '${spec.kind}' in a worker thread (not a built-in transform)`, 'TypeError');
  return b(spec.args);
}
