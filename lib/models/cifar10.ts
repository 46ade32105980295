/**
 * The tutorial's CIFAR-10 CNN (`CIFAR10Net`), module for module as the tutorial writes it in PyTorch:
 *
 *   features = Sequential(conv 3->32, bn, relu, conv 32->32, bn, relu, maxpool 2,
 *                         conv 32->64, bn, relu, conv 64->64, bn, relu, maxpool 2,
 *                         conv 64->128, bn, relu, adaptive avgpool 1)
 *   x.view(N, -1)
 *   classifier = Sequential(Dropout(0.3), Linear(128, 10))
 *
 * Five 3x3 convolutions, two max pools: 141,354 parameters (140,778 with one input channel), state-dict
 * keys `features.0.weight` ... `features.15.num_batches_tracked`, `classifier.1.weight/bias`, so a state
 * dict saved from the tutorial's class loads strictly (`loadStateDict`, or `cifar10Net({ weights })`).
 */
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import { Module, TensorModule } from '../nn/module';
import { Tensor } from '../tensor';
import { chainFree, flattenFree, ZooModel } from './common';
import { buildWithWeights, WeightsOptions } from './weights';

export interface Cifar10NetOptions extends WeightsOptions {
  numClasses?: number;
  inChannels?: number;
  /** Dropout probability before the linear layer; default 0.3 as in the tutorial. */
  dropout?: number;
}

function convBnRelu(inC: number, outC: number): TensorModule[] {
  return [new Conv2d(inC, outC, 3, { padding: 1 }), new BatchNorm2d(outC), new ReLU()];
}

export class Cifar10Net extends ZooModel {
  features: Sequential;
  classifier: Sequential;

  /** Prints as the tutorial's class does: `CIFAR10Net(`. */
  override get typeName(): string {
    return 'CIFAR10Net';
  }
  constructor(opts: { numClasses?: number; inChannels?: number; dropout?: number } = {}) {
    super();
    this.features = new Sequential(
      // Block 1: 3 -> 32 channels
      ...convBnRelu(opts.inChannels ?? 3, 32), ...convBnRelu(32, 32), new MaxPool2d(2),
      // Block 2: 32 -> 64 channels
      ...convBnRelu(32, 64), ...convBnRelu(64, 64), new MaxPool2d(2),
      // Block 3: 64 -> 128 channels
      ...convBnRelu(64, 128), new AdaptiveAvgPool2d(1),
    );
    this.classifier = new Sequential(new Dropout(opts.dropout ?? 0.3), new Linear(128, opts.numClasses ?? 10));
  }
  forward(x: Tensor): Tensor {
    // features(x), then x.view(x.size(0), -1) (the pooled map is [N, 128, 1, 1]), then classifier
    return chainFree(flattenFree(this.features.forward(x) as Tensor), this.classifier);
  }
}

/** The tutorial's CIFAR10Net; `weights` loads a state dict saved from it (.pth or .safetensors). */
export function cifar10Net(opts: Cifar10NetOptions = {}): Cifar10Net {
  return buildWithWeights(opts, { head: 'classifier.1', stem: 'features.0.weight', defaultClasses: 10 }, (numClasses) => new Cifar10Net({ ...opts, numClasses }));
}
