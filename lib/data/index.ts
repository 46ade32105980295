/** data: datasets (CIFAR-10, MNIST, Fashion-MNIST, image folders, tensors) and the DataLoader. */
export { SourceDataset, TensorDataset, Subset, randomSplit } from './dataset';
export type { Dataset, DatasetSpec, RawItem } from './dataset';
export { CIFAR10, CIFAR10_CLASSES } from './cifar10';
export type { CIFAR10Format, CIFAR10Options } from './cifar10';
export { MNIST, FashionMNIST, bundledFashionMNIST, BUNDLED_FASHION_MNIST, MNIST_CLASSES, FASHION_MNIST_CLASSES } from './mnist';
export type { MNISTOptions } from './mnist';
export { ImageFolder, IMG_EXTENSIONS, decodeImage } from './image_folder';
export type { DecodeOptions, ImageFolderOptions } from './image_folder';
export { readIdx } from './idx';
export type { IdxArray } from './idx';
export { unpickle } from './pickle';
export { DataLoader } from './loader';
export type { Collated, DataLoaderOptions, Sampler } from './loader';
export type { DataError, DataErrorCode } from './errors';
export { DistributedSampler } from './distributed_sampler';
export type { DistributedSamplerOptions } from './distributed_sampler';
