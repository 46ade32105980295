/**
 * VGG-11/13/16/19 (configurations A, B, D, E), optionally with batch norm, laid out as torchvision's
 * (features.N, avgpool = AdaptiveAvgPool2d(7), classifier.0/3/6) with its init. The adaptive pool
 * lets inputs smaller than 224x224 through (down to 32x32).
 */
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import { Module, TensorModule } from '../nn/module';
import { Tensor } from '../tensor';
import { chain, chainFree, flattenFree, torchvisionInit, ZooModel } from './common';
import { buildWithWeights, WeightsOptions } from './weights';

/** A VGG feature configuration: output channels of each 3x3 conv, 'M' for a max pool. */
export type Cfg = (number | 'M')[];
export const VGG_CFGS: Record<'A' | 'B' | 'D' | 'E', Cfg> = {
  A: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  B: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  D: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  E: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
};

export interface VGGOptions extends WeightsOptions {
  /** Default 1000, or the checkpoint's head size when loading weights. */
  numClasses?: number;
  batchNorm?: boolean;
  inChannels?: number;
  /** Dropout probability in the classifier; default 0.5. */
  dropout?: number;
}

export function makeVggLayers(cfg: Cfg, batchNorm: boolean, inChannels = 3): Sequential {
  const layers: TensorModule[] = [];
  let c = inChannels;
  for (const v of cfg) {
    if (v === 'M') layers.push(new MaxPool2d(2, { stride: 2 }));
    else {
      layers.push(new Conv2d(c, v, 3, { padding: 1 }));
      if (batchNorm) layers.push(new BatchNorm2d(v));
      layers.push(new ReLU());
      c = v;
    }
  }
  return new Sequential(...layers);
}

export class VGG extends ZooModel {
  features: Sequential;
  avgpool = new AdaptiveAvgPool2d([7, 7]);
  classifier: Sequential;
  constructor(features: Sequential, opts: { numClasses?: number; dropout?: number; init?: boolean } = {}) {
    super();
    const p = opts.dropout ?? 0.5;
    this.features = features;
    this.classifier = new Sequential(
      new Linear(512 * 7 * 7, 4096), new ReLU(), new Dropout(p),
      new Linear(4096, 4096), new ReLU(), new Dropout(p),
      new Linear(4096, opts.numClasses ?? 1000),
    );
    if (opts.init !== false) torchvisionInit(this, { linearStd: 0.01 });
  }
  forward(x: Tensor): Tensor {
    return chainFree(flattenFree(chain(x, this.features, this.avgpool)), this.classifier);
  }
}

function vgg(cfg: keyof typeof VGG_CFGS, opts: VGGOptions): VGG {
  const arch = `vgg${{ A: 11, B: 13, D: 16, E: 19 }[cfg]}${opts.batchNorm ? '_bn' : ''}`;
  return buildWithWeights(
    opts,
    { head: 'classifier.6', stem: 'features.0.weight', defaultClasses: 1000, arch, initHead: (m) => torchvisionInit(m.classifier.at(6), { linearStd: 0.01 }) },
    (numClasses, init) => new VGG(makeVggLayers(VGG_CFGS[cfg], !!opts.batchNorm, opts.inChannels ?? 3), { numClasses, dropout: opts.dropout, init }),
  );
}

/** VGG-11 (132,863,336 parameters with 1000 classes, no batch norm). */
export function vgg11(opts: VGGOptions = {}): VGG {
  return vgg('A', opts);
}
export function vgg13(opts: VGGOptions = {}): VGG {
  return vgg('B', opts);
}
export function vgg16(opts: VGGOptions = {}): VGG {
  return vgg('D', opts);
}
export function vgg19(opts: VGGOptions = {}): VGG {
  return vgg('E', opts);
}

/** VGG-11 with batch norm after every conv, as torchvision's vgg11_bn (132,868,840 parameters). */
export function vgg11Bn(opts: VGGOptions = {}): VGG {
  return vgg('A', { ...opts, batchNorm: true });
}
/** torchvision's vgg13_bn (133,053,736 parameters). */
export function vgg13Bn(opts: VGGOptions = {}): VGG {
  return vgg('B', { ...opts, batchNorm: true });
}
/** torchvision's vgg16_bn (138,365,992 parameters). */
export function vgg16Bn(opts: VGGOptions = {}): VGG {
  return vgg('D', { ...opts, batchNorm: true });
}
/** torchvision's vgg19_bn (143,678,248 parameters). */
export function vgg19Bn(opts: VGGOptions = {}): VGG {
  return vgg('E', { ...opts, batchNorm: true });
}
