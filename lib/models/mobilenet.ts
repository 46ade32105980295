/**
 * MobileNetV2 exactly as torchvision 0.14 builds it: a ReLU6 stem, seven stages of inverted residual
 * blocks (1x1 expansion, 3x3 depthwise conv, linear 1x1 projection; a residual add when the shape is
 * kept), a 1x1 conv to 1280 channels, global average pooling and Dropout(0.2) + Linear. State-dict keys
 * are torchvision's (`features.1.conv.0.0.weight`), so its checkpoints load by name.
 */
import { ckError } from '../errors';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, ReLU6, Sequential } from '../nn/layers';
import * as init from '../nn/init';
import { Module, TensorModule } from '../nn/module';
import { Tensor } from '../tensor';
import { chain, chainFree, flattenFree, ZooModel } from './common';
import { buildWithWeights, WeightsOptions } from './weights';

/** torchvision's _make_divisible: v rounded to a multiple of `divisor`, never more than 10% below v. */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** torchvision.ops.Conv2dNormActivation with ReLU6: Sequential(conv (no bias), bn, relu6), "same" padding. */
export function convBnRelu6(inC: number, outC: number, kernel = 3, stride = 1, groups = 1): Sequential {
  return new Sequential(
    new Conv2d(inC, outC, kernel, { stride, padding: (kernel - 1) >> 1, groups, bias: false }),
    new BatchNorm2d(outC),
    new ReLU6(),
  );
}

export class InvertedResidual extends Module {
  conv: Sequential;
  readonly useResConnect: boolean;
  readonly outChannels: number;
  constructor(inp: number, oup: number, readonly stride: number, expandRatio: number) {
    super();
    if (stride !== 1 && stride !== 2) throw ckError('ERR_ARG', `InvertedResidual: stride must be 1 or 2, got ${stride}`, 'RangeError');
    const hidden = Math.round(inp * expandRatio);
    this.useResConnect = stride === 1 && inp === oup;
    const layers: TensorModule[] = [];
    if (expandRatio !== 1) layers.push(convBnRelu6(inp, hidden, 1));
    layers.push(convBnRelu6(hidden, hidden, 3, stride, hidden), new Conv2d(hidden, oup, 1, { bias: false }), new BatchNorm2d(oup));
    this.conv = new Sequential(...layers);
    this.outChannels = oup;
  }
  forward(x: Tensor): Tensor {
    const y = this.conv.forward(x) as Tensor;
    if (!this.useResConnect) return y;
    const out = x.add(y);
    y.dispose();
    return out;
  }
}

export interface MobileNetV2Options extends WeightsOptions {
  /** Default 1000, or the checkpoint's head size when loading weights. */
  numClasses?: number;
  /** Channel multiplier (torchvision's width_mult); default 1. */
  widthMult?: number;
  /** Dropout probability before the classifier; default 0.2. */
  dropout?: number;
  inChannels?: number;
}

/** [expansion t, channels c, blocks n, first stride s] per stage, as torchvision. */
const SETTING: [number, number, number, number][] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

export class MobileNetV2 extends ZooModel {
  features: Sequential;
  classifier: Sequential;
  readonly lastChannel: number;
  private pool = new AdaptiveAvgPool2d([1, 1]);
  constructor(opts: MobileNetV2Options & { init?: boolean } = {}) {
    super();
    const w = opts.widthMult ?? 1;
    let inputChannel = makeDivisible(32 * w);
    this.lastChannel = makeDivisible(1280 * Math.max(1, w));
    const feats: TensorModule[] = [convBnRelu6(opts.inChannels ?? 3, inputChannel, 3, 2)];
    for (const [t, c, n, s] of SETTING) {
      const out = makeDivisible(c * w);
      for (let i = 0; i < n; i++) {
        feats.push(new InvertedResidual(inputChannel, out, i === 0 ? s : 1, t));
        inputChannel = out;
      }
    }
    feats.push(convBnRelu6(inputChannel, this.lastChannel, 1));
    this.features = new Sequential(...feats);
    this.classifier = new Sequential(new Dropout(opts.dropout ?? 0.2), new Linear(this.lastChannel, opts.numClasses ?? 1000));
    if (opts.init !== false) mobilenetInit(this);
  }
  forward(x: Tensor): Tensor {
    return chainFree(flattenFree(chain(x, this.features, this.pool)), this.classifier);
  }
}

/** torchvision's MobileNetV2 init: convs kaiming_normal_(fan_out), BN 1/0, linears normal(0, 0.01), zero biases. */
function mobilenetInit(model: Module): void {
  for (const m of model.modules()) {
    if (m instanceof Conv2d) {
      init.kaimingNormal_(m.weight, { mode: 'fan_out' });
      if (m.bias) init.zeros_(m.bias);
    } else if (m instanceof BatchNorm2d) {
      if (m.weight) init.ones_(m.weight);
      if (m.bias) init.zeros_(m.bias);
    } else if (m instanceof Linear) {
      init.normal_(m.weight, 0, 0.01);
      if (m.bias) init.zeros_(m.bias);
    }
  }
}

/** MobileNetV2 (3,504,872 parameters with 1000 classes). `weights`: a torchvision checkpoint (.pth or converted). */
export function mobilenetV2(opts: MobileNetV2Options = {}): MobileNetV2 {
  return buildWithWeights(
    opts,
    { head: 'classifier.1', stem: 'features.0.0.weight', defaultClasses: 1000, arch: 'mobilenet_v2', initHead: (m) => mobilenetInit(m.classifier.at(1)) },
    (numClasses, init) => new MobileNetV2({ ...opts, numClasses, init }),
  );
}
