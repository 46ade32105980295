/** Rebuilds a dataset from its spec inside a DataLoader worker. */
import { ckError } from '../errors';
import { transformFromSpec } from '../transforms/registry';
import { TransformSpec } from '../transforms/transform';
import { CIFAR10 } from './cifar10';
import { Dataset, DatasetSpec, Subset, TensorDataset } from './dataset';
import { ImageFolder } from './image_folder';
import { FashionMNIST, MNIST } from './mnist';

export function datasetFromSpec(spec: DatasetSpec): Dataset {
  const t = spec.transform ? transformFromSpec(spec.transform as TransformSpec) : null;
  switch (spec.kind) {
    case 'CIFAR10':
      return CIFAR10.fromSpec(spec, t);
    case 'MNIST':
      return MNIST.fromSpec(spec, t);
    case 'FashionMNIST':
      return FashionMNIST.fromSpec(spec, t);
    case 'ImageFolder':
      return ImageFolder.fromSpec(spec, t);
    case 'TensorDataset':
      return TensorDataset.fromHost(spec.arrays as Parameters<typeof TensorDataset.fromHost>[0]);
    case 'Subset':
      return new Subset(datasetFromSpec(spec.dataset as DatasetSpec), spec.indices as Int32Array);
    default:
      throw ckError('ERR_ARG', `cannot rebuild dataset '${spec.kind}' in a worker thread`, 'TypeError');
  }
}
