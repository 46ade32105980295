/**
 * LeNet-5 in its modern form (ReLU and max pooling): conv 5x5 -> 6 (padded, so 28x28 MNIST digits
 * keep LeCun's 32x32 geometry), pool, conv 5x5 -> 16, pool, then 120 -> 84 -> classes.
 */
import { Conv2d, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import { Tensor } from '../tensor';
import { chain, chainFree, flattenFree, ZooModel } from './common';
import { buildWithWeights, WeightsOptions } from './weights';

export interface LeNet5Options extends WeightsOptions {
  numClasses?: number;
  /** 1 (grayscale, the default) or 3. */
  inChannels?: number;
  /** Side of the square input; default 28. */
  inputSize?: number;
}

export class LeNet5 extends ZooModel {
  features: Sequential;
  classifier: Sequential;
  constructor(opts: { numClasses?: number; inChannels?: number; inputSize?: number } = {}) {
    super();
    const s = Math.floor((Math.floor((opts.inputSize ?? 28) / 2) - 4) / 2);
    this.features = new Sequential(
      new Conv2d(opts.inChannels ?? 1, 6, 5, { padding: 2 }), new ReLU(), new MaxPool2d(2),
      new Conv2d(6, 16, 5), new ReLU(), new MaxPool2d(2),
    );
    this.classifier = new Sequential(
      new Linear(16 * s * s, 120), new ReLU(), new Linear(120, 84), new ReLU(), new Linear(84, opts.numClasses ?? 10),
    );
  }
  forward(x: Tensor): Tensor {
    return chainFree(flattenFree(chain(x, this.features)), this.classifier);
  }
}

/** LeNet-5: 61,706 parameters for 1x28x28 input and 10 classes. */
export function lenet5(opts: LeNet5Options = {}): LeNet5 {
  return buildWithWeights(opts, { head: 'classifier.4', stem: 'features.0.weight', defaultClasses: 10 }, (numClasses) => new LeNet5({ ...opts, numClasses }));
}
