/** convkit.models: the tutorial's networks, with torchvision's attribute names where they exist. */
export { Cifar10Net, cifar10Net } from './cifar10';
export type { Cifar10NetOptions } from './cifar10';
export { LeNet5, lenet5 } from './lenet';
export type { LeNet5Options } from './lenet';
export { AlexNet, alexnet } from './alexnet';
export type { AlexNetOptions } from './alexnet';
export { VGG, vgg11, vgg13, vgg16, vgg19, makeVggLayers, VGG_CFGS } from './vgg';
export type { VGGOptions } from './vgg';
export { MiniVgg, miniVgg } from './mini_vgg';
export type { MiniVggOptions } from './mini_vgg';
export { ResNet, BasicBlock, Bottleneck, resnet18, resnet34, resnet50 } from './resnet';
export type { ResNetOptions } from './resnet';
export { ZooModel } from './common';
export { openWeights, loadWeightsInto, checkpointClasses } from './weights';
export type { WeightsOptions, WeightsReport } from './weights';
