/**
 * The tutorial's compact CIFAR-10 CNN: three blocks of two conv-bn-relu pairs (3->32->32, 32->64->64,
 * 64->128->128) each followed by 2x2 max pooling, then global average pooling, dropout 0.3 and a
 * 128->10 linear layer: 289,194 parameters (288,618 with one input channel).
 */
import { Module } from '../nn/module';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import { Tensor } from '../tensor';

function convBnRelu(inC: number, outC: number): Module[] {
  return [new Conv2d(inC, outC, 3, { padding: 1 }), new BatchNorm2d(outC), new ReLU()];
}

export class Cifar10Net extends Module {
  features: Sequential;
  pool = new AdaptiveAvgPool2d(1);
  dropout: Dropout;
  fc: Linear;
  constructor(opts: { numClasses?: number; inChannels?: number; dropout?: number } = {}) {
    super();
    const c = opts.inChannels ?? 3;
    this.features = new Sequential(
      ...convBnRelu(c, 32), ...convBnRelu(32, 32), new MaxPool2d(2),
      ...convBnRelu(32, 64), ...convBnRelu(64, 64), new MaxPool2d(2),
      ...convBnRelu(64, 128), ...convBnRelu(128, 128), new MaxPool2d(2),
    );
    this.dropout = new Dropout(opts.dropout ?? 0.3);
    this.fc = new Linear(128, opts.numClasses ?? 10);
  }
  forward(x: Tensor): Tensor {
    const f = this.features.forward(x) as Tensor;
    const p = this.pool.forward(f);
    f.dispose();
    const flat = p.flatten(1);
    p.dispose();
    const d = this.dropout.forward(flat);
    flat.dispose();
    const y = this.fc.forward(d);
    d.dispose();
    return y;
  }
}

export function cifar10Net(opts: { numClasses?: number; inChannels?: number; dropout?: number } = {}): Cifar10Net {
  return new Cifar10Net(opts);
}
