/** convkit: PyTorch-style training of convolutional networks from TypeScript. */
export { Tensor } from './tensor';
export type { NestedArray, TensorOrScalar, ReduceOptions, VarOptions } from './tensor';
export {
  tensor, zeros, ones, full, empty, zerosLike, onesLike, fullLike, arange, linspace, eye, rand, randn, randint, randperm,
} from './creation';
export type { TensorOptions } from './creation';
export { manualSeed, initialSeed } from './random';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled } from './autograd/grad_mode';
export { tidy, keep, memory, emptyCache } from './memory';
export type { MemoryInfo, DeviceMemory, Disposable } from './memory';
export { cuda, Device } from './device';
export type { DeviceLike } from './device';
export type { CUDAGraph } from './cuda/graph';
export type { DType, DTypeLike } from './dtype';
export type { ConvkitError, ErrorCode } from './errors';
export { info, setNumThreads, getNumThreads } from './info';
export { setConvAlgo, getConvAlgo, withConvAlgo } from './conv_algo';
export { autocast, isAutocastEnabled, getAutocastDtype } from './autocast';
export type { AutocastOptions, AutocastDtype } from './autocast';
export type { ConvAlgo } from './conv_algo';
export { backends } from './backends';
export { cudaStats } from './cuda_stats';
export type { CudaLaunchStats, KernelLaunchStats, ConvTuning } from './cuda_stats';
export * as ops from './functional';
export * as nn from './nn';
export * as optim from './optim';
export * as models from './models';
export * as io from './io';
export * as onnx from './onnx';
export { save, load } from './save_load';
export * as utils from './utils';
export * as data from './data';
export * as transforms from './transforms';
export * as profiler from './profiler';
export * as distributed from './distributed';
