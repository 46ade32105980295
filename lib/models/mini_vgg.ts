/**
 * The tutorial's mini-VGG: three VGG blocks of two conv-bn-relu pairs (3->64->64, 64->128->128,
 * 128->256->256), each closed by 2x2 max pooling, then global average pooling and one linear layer.
 */
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import { Module, TensorModule } from '../nn/module';
import { Tensor } from '../tensor';
import { chain, chainFree, flattenFree, ZooModel } from './common';
import { buildWithWeights, WeightsOptions } from './weights';

export interface MiniVggOptions extends WeightsOptions {
  numClasses?: number;
  inChannels?: number;
}

function block(i: number, o: number): TensorModule[] {
  return [
    new Conv2d(i, o, 3, { padding: 1 }), new BatchNorm2d(o), new ReLU(),
    new Conv2d(o, o, 3, { padding: 1 }), new BatchNorm2d(o), new ReLU(),
    new MaxPool2d(2),
  ];
}

export class MiniVgg extends ZooModel {
  features: Sequential;
  avgpool = new AdaptiveAvgPool2d(1);
  fc: Linear;
  constructor(opts: { numClasses?: number; inChannels?: number } = {}) {
    super();
    this.features = new Sequential(...block(opts.inChannels ?? 3, 64), ...block(64, 128), ...block(128, 256));
    this.fc = new Linear(256, opts.numClasses ?? 10);
  }
  forward(x: Tensor): Tensor {
    return chainFree(flattenFree(chain(x, this.features, this.avgpool)), this.fc);
  }
}

export function miniVgg(opts: MiniVggOptions = {}): MiniVgg {
  return buildWithWeights(opts, { head: 'fc', stem: 'features.0.weight', defaultClasses: 10 }, (numClasses) => new MiniVgg({ ...opts, numClasses }));
}
