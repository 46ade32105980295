/**
 * transforms: torchvision's image transforms (same semantics and parameters, camelCase), seeded by
 * manualSeed, plus batchAugment, the crop/flip/normalise recipe as one native kernel over a batch.
 */
export { Transform, Compose } from './transform';
export type { TransformFn, TransformLike, TransformSpec } from './transform';
export { ToTensor, Normalize } from './conversion';
export {
  RandomHorizontalFlip, RandomVerticalFlip, Pad, RandomCrop, CenterCrop, Resize, RandomResizedCrop, RandomRotation,
} from './geometry';
export type { PadOptions, RandomCropOptions, RandomResizedCropOptions, RandomRotationOptions } from './geometry';
export { ColorJitter } from './color';
export type { ColorJitterOptions, ColorJitterParams } from './color';
export { RandomErasing } from './erasing';
export type { RandomErasingOptions, ErasingParams } from './erasing';
export { batchAugment, batchAugmentParams } from './batch_augment';
export type { BatchAugmentOptions } from './batch_augment';
export { isImage, makeImage } from './image';
export type { Image, ImageLike } from './image';
export * as functional from './functional';
