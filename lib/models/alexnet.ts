/** AlexNet as torchvision lays it out (features / avgpool = AdaptiveAvgPool2d(6) / classifier with dropout). */
import { AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import { Tensor } from '../tensor';
import { chain, chainFree, flattenFree, ZooModel } from './common';
import { buildWithWeights, WeightsOptions } from './weights';

export interface AlexNetOptions extends WeightsOptions {
  /** Default 1000, or the checkpoint's head size when loading weights. */
  numClasses?: number;
  inChannels?: number;
  dropout?: number;
}

export class AlexNet extends ZooModel {
  features: Sequential;
  avgpool = new AdaptiveAvgPool2d([6, 6]);
  classifier: Sequential;
  constructor(opts: { numClasses?: number; inChannels?: number; dropout?: number } = {}) {
    super();
    const p = opts.dropout ?? 0.5;
    this.features = new Sequential(
      new Conv2d(opts.inChannels ?? 3, 64, 11, { stride: 4, padding: 2 }), new ReLU(), new MaxPool2d(3, { stride: 2 }),
      new Conv2d(64, 192, 5, { padding: 2 }), new ReLU(), new MaxPool2d(3, { stride: 2 }),
      new Conv2d(192, 384, 3, { padding: 1 }), new ReLU(),
      new Conv2d(384, 256, 3, { padding: 1 }), new ReLU(),
      new Conv2d(256, 256, 3, { padding: 1 }), new ReLU(), new MaxPool2d(3, { stride: 2 }),
    );
    this.classifier = new Sequential(
      new Dropout(p), new Linear(256 * 6 * 6, 4096), new ReLU(),
      new Dropout(p), new Linear(4096, 4096), new ReLU(),
      new Linear(4096, opts.numClasses ?? 1000),
    );
  }
  forward(x: Tensor): Tensor {
    return chainFree(flattenFree(chain(x, this.features, this.avgpool)), this.classifier);
  }
}

/** AlexNet (61,100,840 parameters with 1000 classes); inputs from 63x63 up. */
export function alexnet(opts: AlexNetOptions = {}): AlexNet {
  return buildWithWeights(opts, { head: 'classifier.6', stem: 'features.0.weight', defaultClasses: 1000, arch: 'alexnet' }, (numClasses) => new AlexNet({ ...opts, numClasses }));
}
