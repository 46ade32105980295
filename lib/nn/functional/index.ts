/**
 * nn.functional, one file per op family, named as in csrc/cpu/, cuda/, the tests and the benchmark suites
 * (conv, batchnorm, pool, activation, dropout, softmax_loss; linear and concat compose other ops). Each
 * family checks its arguments in TypeScript (errors name the op and the argument or both shapes), runs its
 * native kernels through ops/native_call.ts's callNative, and records its backward next to its forward.
 */
export { conv2d, conv2dOutputSize } from './conv';
export type { Conv2dOptions } from './conv';
export { batchNorm } from './batchnorm';
export type { BatchNormOptions } from './batchnorm';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d } from './pool';
export type { MaxPool2dOptions, AvgPool2dOptions } from './pool';
export { relu, biasRelu, addRelu, hardtanh, relu6 } from './activation';
export { dropout } from './dropout';
export { softmax, logSoftmax, nllLoss, crossEntropy, mseLoss } from './softmax_loss';
export type { Reduction, NllOptions, CrossEntropyOptions } from './softmax_loss';
export { linear } from './linear';
export { cat } from './concat';
export { sumTo } from '../../autograd/functions';
