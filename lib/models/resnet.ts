/**
 * ResNet-18/34/50 exactly as torchvision builds them (v1.5: a Bottleneck strides in its 3x3 conv),
 * so state-dict keys match (`layer2.0.downsample.1.running_var`) and torchvision weights load by name.
 * The residual join is one fused add+ReLU kernel instead of torchvision's `out += identity; relu(out)`.
 */
import { addRelu } from '../nn/functional';
import { convBnAct } from '../nn/fusion';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import * as init from '../nn/init';
import { Module, TensorModule } from '../nn/module';
import { Tensor } from '../tensor';
import { chain, chainFree, flattenFree, torchvisionInit, ZooModel } from './common';
import { buildWithWeights, WeightsOptions } from './weights';

const conv3x3 = (i: number, o: number, stride = 1) => new Conv2d(i, o, 3, { stride, padding: 1, bias: false });
const conv1x1 = (i: number, o: number, stride = 1) => new Conv2d(i, o, 1, { stride, bias: false });

/**
 * Runs a residual block's join with its identity (x, or downsample(x)) and frees what the join consumed:
 * the branch output, and the identity when it is not the block's input.
 */
function residual(x: Tensor, downsample: Sequential | null, branch: Tensor, joinFn: (a: Tensor, identity: Tensor) => Tensor): Tensor {
  const identity = downsample ? (downsample.forward(x) as Tensor) : x;
  try {
    return joinFn(branch, identity);
  } finally {
    branch.dispose();
    if (identity !== x) identity.dispose();
  }
}

export class BasicBlock extends Module {
  static readonly expansion = 1;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu = new ReLU();
  conv2: Conv2d;
  bn2: BatchNorm2d;
  downsample: Sequential | null;
  constructor(inplanes: number, planes: number, readonly stride = 1, downsample: Sequential | null = null) {
    super();
    this.conv1 = conv3x3(inplanes, planes, stride);
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = conv3x3(planes, planes);
    this.bn2 = new BatchNorm2d(planes);
    this.downsample = downsample;
  }
  forward(x: Tensor): Tensor {
    // conv2 -> bn2 -> + identity -> ReLU is one fused convolution in eval mode (lib/nn/fusion.ts).
    const a = chain(x, this.conv1, this.bn1, this.relu);
    return residual(x, this.downsample, a, (b, identity) => convBnAct(b, this.conv2, this.bn2, { residual: identity, relu: true }));
  }
}

export class Bottleneck extends Module {
  static readonly expansion = 4;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  relu = new ReLU();
  downsample: Sequential | null;
  constructor(inplanes: number, planes: number, readonly stride = 1, downsample: Sequential | null = null) {
    super();
    const width = planes;
    this.conv1 = conv1x1(inplanes, width);
    this.bn1 = new BatchNorm2d(width);
    this.conv2 = conv3x3(width, width, stride);
    this.bn2 = new BatchNorm2d(width);
    this.conv3 = conv1x1(width, planes * Bottleneck.expansion);
    this.bn3 = new BatchNorm2d(planes * Bottleneck.expansion);
    this.downsample = downsample;
  }
  forward(x: Tensor): Tensor {
    const out = chain(x, this.conv1, this.bn1, this.relu, this.conv2, this.bn2, this.relu, this.conv3, this.bn3);
    return residual(x, this.downsample, out, addRelu);
  }
}

/** The residual block a ResNet is built from. */
export type BlockClass = (typeof BasicBlock | typeof Bottleneck) & { expansion: number };

export interface ResNetOptions extends WeightsOptions {
  /** Default 1000 (ImageNet), or the checkpoint's head size when loading weights. */
  numClasses?: number;
  /** Input channels of the stem conv (1 for grayscale); default 3. */
  inChannels?: number;
  /** Start each residual branch's last BN at gamma 0 (torchvision's zero_init_residual); default false. */
  zeroInitResidual?: boolean;
}

/** torchvision's zero-init of the last batch norm in each residual branch. */
export interface InitOption {
  /** @internal false when a weight file will overwrite every weight anyway. */
  init?: boolean;
}

export class ResNet extends ZooModel {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu = new ReLU();
  maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  avgpool = new AdaptiveAvgPool2d([1, 1]);
  fc: Linear;
  private inplanes = 64;

  constructor(block: BlockClass, layers: [number, number, number, number], opts: ResNetOptions & InitOption = {}) {
    super();
    this.conv1 = new Conv2d(opts.inChannels ?? 3, 64, 7, { stride: 2, padding: 3, bias: false });
    this.bn1 = new BatchNorm2d(64);
    this.layer1 = this.makeLayer(block, 64, layers[0]);
    this.layer2 = this.makeLayer(block, 128, layers[1], 2);
    this.layer3 = this.makeLayer(block, 256, layers[2], 2);
    this.layer4 = this.makeLayer(block, 512, layers[3], 2);
    this.fc = new Linear(512 * block.expansion, opts.numClasses ?? 1000);
    if (opts.init !== false) torchvisionInit(this);
    if (opts.zeroInitResidual && opts.init !== false) {
      for (const m of this.modules()) {
        if (m instanceof Bottleneck && m.bn3.weight) init.zeros_(m.bn3.weight);
        else if (m instanceof BasicBlock && m.bn2.weight) init.zeros_(m.bn2.weight);
      }
    }
  }

  private makeLayer(block: BlockClass, planes: number, blocks: number, stride = 1): Sequential {
    let downsample: Sequential | null = null;
    if (stride !== 1 || this.inplanes !== planes * block.expansion) {
      downsample = new Sequential(conv1x1(this.inplanes, planes * block.expansion, stride), new BatchNorm2d(planes * block.expansion));
    }
    const mods: TensorModule[] = [new block(this.inplanes, planes, stride, downsample)];
    this.inplanes = planes * block.expansion;
    for (let i = 1; i < blocks; i++) mods.push(new block(this.inplanes, planes));
    return new Sequential(...mods);
  }

  forward(x: Tensor): Tensor {
    const f = chain(x, this.conv1, this.bn1, this.relu, this.maxpool, this.layer1, this.layer2, this.layer3, this.layer4, this.avgpool);
    return chainFree(flattenFree(f), this.fc);
  }
}

function resnet(block: BlockClass, layers: [number, number, number, number], opts: ResNetOptions, arch: string): ResNet {
  return buildWithWeights(opts, { head: 'fc', stem: 'conv1.weight', defaultClasses: 1000, arch }, (numClasses, init) => new ResNet(block, layers, { ...opts, numClasses, init }));
}

/** ResNet-18 (11,689,512 parameters with 1000 classes). `weights`: a converted or .pth torchvision checkpoint. */
export function resnet18(opts: ResNetOptions = {}): ResNet {
  return resnet(BasicBlock, [2, 2, 2, 2], opts, 'resnet18');
}
export function resnet34(opts: ResNetOptions = {}): ResNet {
  return resnet(BasicBlock, [3, 4, 6, 3], opts, 'resnet34');
}
/** ResNet-50 (25,557,032 parameters with 1000 classes). */
export function resnet50(opts: ResNetOptions = {}): ResNet {
  return resnet(Bottleneck, [3, 4, 6, 3], opts, 'resnet50');
}
/** ResNet-101 (44,549,160 parameters with 1000 classes). */
export function resnet101(opts: ResNetOptions = {}): ResNet {
  return resnet(Bottleneck, [3, 4, 23, 3], opts, 'resnet101');
}
/** ResNet-152 (60,192,808 parameters with 1000 classes). */
export function resnet152(opts: ResNetOptions = {}): ResNet {
  return resnet(Bottleneck, [3, 8, 36, 3], opts, 'resnet152');
}
