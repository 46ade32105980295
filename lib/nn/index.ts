/** convkit.nn: modules, layers, functional ops and initialisers, PyTorch's spelling in camelCase. */
export { Module, Parameter } from './module';
export type { StateDict, TensorModule } from './module';
export type { Pair, Conv2dOptions, BatchNormOptions } from './layers';
export {
  Conv2d, Linear, BatchNorm2d, BatchNorm1d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Dropout, Flatten, Identity,
  Sequential, ModuleList, CrossEntropyLoss, NLLLoss, MSELoss, Hardtanh, ReLU6,
} from './layers';
export * as functional from './functional';
export * as init from './init';
export * as utils from './utils';
export * as fusion from './fusion';
export * as parallel from './parallel';
export { SyncBatchNorm } from './parallel';
