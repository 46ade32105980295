/**
 * Inception v3 exactly as torchvision 0.14 builds it (Inception3): BasicConv2d stem, InceptionA-E
 * blocks with factorised 1x7/7x1 and 1x3/3x1 convolutions, an auxiliary classifier after Mixed_6e that
 * runs only in training mode when auxLogits is on (it needs 299x299 input; the main path takes 75x75
 * and up), transform_input, and torchvision's attribute names (`Mixed_6e.branch7x7dbl_5.bn.running_var`)
 * so its checkpoints load by name.
 */
import { AdaptiveAvgPool2d, AvgPool2d, Dropout, Linear, MaxPool2d } from '../nn/layers';
import { Module } from '../nn/module';
import { Tensor } from '../tensor';
import { chain, chainFree, flattenFree, ZooModel } from './common';
import { BasicConv2d, buildDroppingAux, catFree, transformImagenetInput, truncNormalInit } from './googlenet';
import type { WeightsOptions } from './weights';

const avg3 = () => new AvgPool2d(3, { stride: 1, padding: 1 });
const max3s2 = () => new MaxPool2d(3, { stride: 2 });

export class InceptionA extends Module {
  branch1x1: BasicConv2d;
  branch5x5_1: BasicConv2d;
  branch5x5_2: BasicConv2d;
  branch3x3dbl_1: BasicConv2d;
  branch3x3dbl_2: BasicConv2d;
  branch3x3dbl_3: BasicConv2d;
  branch_pool: BasicConv2d;
  private pool = avg3();
  constructor(inC: number, poolFeatures: number) {
    super();
    this.branch1x1 = new BasicConv2d(inC, 64, 1);
    this.branch5x5_1 = new BasicConv2d(inC, 48, 1);
    this.branch5x5_2 = new BasicConv2d(48, 64, 5, { padding: 2 });
    this.branch3x3dbl_1 = new BasicConv2d(inC, 64, 1);
    this.branch3x3dbl_2 = new BasicConv2d(64, 96, 3, { padding: 1 });
    this.branch3x3dbl_3 = new BasicConv2d(96, 96, 3, { padding: 1 });
    this.branch_pool = new BasicConv2d(inC, poolFeatures, 1);
  }
  forward(x: Tensor): Tensor {
    return catFree([
      chain(x, this.branch1x1),
      chain(x, this.branch5x5_1, this.branch5x5_2),
      chain(x, this.branch3x3dbl_1, this.branch3x3dbl_2, this.branch3x3dbl_3),
      chain(x, this.pool, this.branch_pool),
    ]);
  }
}

export class InceptionB extends Module {
  branch3x3: BasicConv2d;
  branch3x3dbl_1: BasicConv2d;
  branch3x3dbl_2: BasicConv2d;
  branch3x3dbl_3: BasicConv2d;
  private pool = max3s2();
  constructor(inC: number) {
    super();
    this.branch3x3 = new BasicConv2d(inC, 384, 3, { stride: 2 });
    this.branch3x3dbl_1 = new BasicConv2d(inC, 64, 1);
    this.branch3x3dbl_2 = new BasicConv2d(64, 96, 3, { padding: 1 });
    this.branch3x3dbl_3 = new BasicConv2d(96, 96, 3, { stride: 2 });
  }
  forward(x: Tensor): Tensor {
    return catFree([chain(x, this.branch3x3), chain(x, this.branch3x3dbl_1, this.branch3x3dbl_2, this.branch3x3dbl_3), chain(x, this.pool)]);
  }
}

export class InceptionC extends Module {
  branch1x1: BasicConv2d;
  branch7x7_1: BasicConv2d;
  branch7x7_2: BasicConv2d;
  branch7x7_3: BasicConv2d;
  branch7x7dbl_1: BasicConv2d;
  branch7x7dbl_2: BasicConv2d;
  branch7x7dbl_3: BasicConv2d;
  branch7x7dbl_4: BasicConv2d;
  branch7x7dbl_5: BasicConv2d;
  branch_pool: BasicConv2d;
  private pool = avg3();
  constructor(inC: number, c7: number) {
    super();
    const k17: [number, number] = [1, 7];
    const k71: [number, number] = [7, 1];
    const p17 = { padding: [0, 3] as [number, number] };
    const p71 = { padding: [3, 0] as [number, number] };
    this.branch1x1 = new BasicConv2d(inC, 192, 1);
    this.branch7x7_1 = new BasicConv2d(inC, c7, 1);
    this.branch7x7_2 = new BasicConv2d(c7, c7, k17, p17);
    this.branch7x7_3 = new BasicConv2d(c7, 192, k71, p71);
    this.branch7x7dbl_1 = new BasicConv2d(inC, c7, 1);
    this.branch7x7dbl_2 = new BasicConv2d(c7, c7, k71, p71);
    this.branch7x7dbl_3 = new BasicConv2d(c7, c7, k17, p17);
    this.branch7x7dbl_4 = new BasicConv2d(c7, c7, k71, p71);
    this.branch7x7dbl_5 = new BasicConv2d(c7, 192, k17, p17);
    this.branch_pool = new BasicConv2d(inC, 192, 1);
  }
  forward(x: Tensor): Tensor {
    return catFree([
      chain(x, this.branch1x1),
      chain(x, this.branch7x7_1, this.branch7x7_2, this.branch7x7_3),
      chain(x, this.branch7x7dbl_1, this.branch7x7dbl_2, this.branch7x7dbl_3, this.branch7x7dbl_4, this.branch7x7dbl_5),
      chain(x, this.pool, this.branch_pool),
    ]);
  }
}

export class InceptionD extends Module {
  branch3x3_1: BasicConv2d;
  branch3x3_2: BasicConv2d;
  branch7x7x3_1: BasicConv2d;
  branch7x7x3_2: BasicConv2d;
  branch7x7x3_3: BasicConv2d;
  branch7x7x3_4: BasicConv2d;
  private pool = max3s2();
  constructor(inC: number) {
    super();
    this.branch3x3_1 = new BasicConv2d(inC, 192, 1);
    this.branch3x3_2 = new BasicConv2d(192, 320, 3, { stride: 2 });
    this.branch7x7x3_1 = new BasicConv2d(inC, 192, 1);
    this.branch7x7x3_2 = new BasicConv2d(192, 192, [1, 7], { padding: [0, 3] });
    this.branch7x7x3_3 = new BasicConv2d(192, 192, [7, 1], { padding: [3, 0] });
    this.branch7x7x3_4 = new BasicConv2d(192, 192, 3, { stride: 2 });
  }
  forward(x: Tensor): Tensor {
    return catFree([
      chain(x, this.branch3x3_1, this.branch3x3_2),
      chain(x, this.branch7x7x3_1, this.branch7x7x3_2, this.branch7x7x3_3, this.branch7x7x3_4),
      chain(x, this.pool),
    ]);
  }
}

export class InceptionE extends Module {
  branch1x1: BasicConv2d;
  branch3x3_1: BasicConv2d;
  branch3x3_2a: BasicConv2d;
  branch3x3_2b: BasicConv2d;
  branch3x3dbl_1: BasicConv2d;
  branch3x3dbl_2: BasicConv2d;
  branch3x3dbl_3a: BasicConv2d;
  branch3x3dbl_3b: BasicConv2d;
  branch_pool: BasicConv2d;
  private pool = avg3();
  constructor(inC: number) {
    super();
    this.branch1x1 = new BasicConv2d(inC, 320, 1);
    this.branch3x3_1 = new BasicConv2d(inC, 384, 1);
    this.branch3x3_2a = new BasicConv2d(384, 384, [1, 3], { padding: [0, 1] });
    this.branch3x3_2b = new BasicConv2d(384, 384, [3, 1], { padding: [1, 0] });
    this.branch3x3dbl_1 = new BasicConv2d(inC, 448, 1);
    this.branch3x3dbl_2 = new BasicConv2d(448, 384, 3, { padding: 1 });
    this.branch3x3dbl_3a = new BasicConv2d(384, 384, [1, 3], { padding: [0, 1] });
    this.branch3x3dbl_3b = new BasicConv2d(384, 384, [3, 1], { padding: [1, 0] });
    this.branch_pool = new BasicConv2d(inC, 192, 1);
  }
  forward(x: Tensor): Tensor {
    const b1 = chain(x, this.branch1x1);
    const s = chain(x, this.branch3x3_1);
    const b3 = catFree([chain(s, this.branch3x3_2a), chain(s, this.branch3x3_2b)]);
    s.dispose();
    const d = chain(x, this.branch3x3dbl_1, this.branch3x3dbl_2);
    const bd = catFree([chain(d, this.branch3x3dbl_3a), chain(d, this.branch3x3dbl_3b)]);
    d.dispose();
    return catFree([b1, b3, bd, chain(x, this.pool, this.branch_pool)]);
  }
}

export class InceptionV3Aux extends Module {
  conv0: BasicConv2d;
  conv1: BasicConv2d;
  fc: Linear;
  private pool = new AvgPool2d(5, { stride: 3 });
  private gap = new AdaptiveAvgPool2d([1, 1]);
  constructor(inC: number, numClasses: number) {
    super();
    this.conv0 = new BasicConv2d(inC, 128, 1);
    this.conv1 = new BasicConv2d(128, 768, 5);
    this.fc = new Linear(768, numClasses);
  }
  forward(x: Tensor): Tensor {
    return chainFree(flattenFree(chain(x, this.pool, this.conv0, this.conv1, this.gap)), this.fc);
  }
}

/** What a training-mode Inception3 with auxLogits returns: torchvision's InceptionOutputs. */
export interface InceptionOutputs {
  logits: Tensor;
  auxLogits: Tensor;
}

export interface InceptionV3Options extends WeightsOptions {
  /** Default 1000, or the checkpoint's head size when loading weights. */
  numClasses?: number;
  /** Build the auxiliary classifier (training mode only; needs 299x299 input); default true, as torchvision without weights. */
  auxLogits?: boolean;
  /** Re-normalise ImageNet-normalised input as Google's original weights expect; default false. */
  transformInput?: boolean;
  /** Dropout before fc; default 0.5. */
  dropout?: number;
  /** Input channels of the stem conv; default 3. transformInput needs 3. */
  inChannels?: number;
}

export class Inception3 extends ZooModel {
  readonly auxLogits: boolean;
  readonly transformInput: boolean;
  Conv2d_1a_3x3: BasicConv2d;
  Conv2d_2a_3x3: BasicConv2d;
  Conv2d_2b_3x3: BasicConv2d;
  maxpool1 = new MaxPool2d(3, { stride: 2 });
  Conv2d_3b_1x1: BasicConv2d;
  Conv2d_4a_3x3: BasicConv2d;
  maxpool2 = new MaxPool2d(3, { stride: 2 });
  Mixed_5b: InceptionA;
  Mixed_5c: InceptionA;
  Mixed_5d: InceptionA;
  Mixed_6a: InceptionB;
  Mixed_6b: InceptionC;
  Mixed_6c: InceptionC;
  Mixed_6d: InceptionC;
  Mixed_6e: InceptionC;
  AuxLogits: InceptionV3Aux | null;
  Mixed_7a: InceptionD;
  Mixed_7b: InceptionE;
  Mixed_7c: InceptionE;
  avgpool = new AdaptiveAvgPool2d([1, 1]);
  dropout: Dropout;
  fc: Linear;

  constructor(opts: InceptionV3Options & { init?: boolean } = {}) {
    super();
    const nc = opts.numClasses ?? 1000;
    this.auxLogits = opts.auxLogits ?? true;
    this.transformInput = opts.transformInput ?? false;
    this.Conv2d_1a_3x3 = new BasicConv2d(opts.inChannels ?? 3, 32, 3, { stride: 2 });
    this.Conv2d_2a_3x3 = new BasicConv2d(32, 32, 3);
    this.Conv2d_2b_3x3 = new BasicConv2d(32, 64, 3, { padding: 1 });
    this.Conv2d_3b_1x1 = new BasicConv2d(64, 80, 1);
    this.Conv2d_4a_3x3 = new BasicConv2d(80, 192, 3);
    this.Mixed_5b = new InceptionA(192, 32);
    this.Mixed_5c = new InceptionA(256, 64);
    this.Mixed_5d = new InceptionA(288, 64);
    this.Mixed_6a = new InceptionB(288);
    this.Mixed_6b = new InceptionC(768, 128);
    this.Mixed_6c = new InceptionC(768, 160);
    this.Mixed_6d = new InceptionC(768, 160);
    this.Mixed_6e = new InceptionC(768, 192);
    this.AuxLogits = this.auxLogits ? new InceptionV3Aux(768, nc) : null;
    this.Mixed_7a = new InceptionD(768);
    this.Mixed_7b = new InceptionE(1280);
    this.Mixed_7c = new InceptionE(2048);
    this.dropout = new Dropout(opts.dropout ?? 0.5);
    this.fc = new Linear(2048, nc);
    if (opts.init !== false) inceptionInit(this);
  }

  /** Logits; in training mode with auxLogits, torchvision's InceptionOutputs instead. */
  forward(input: Tensor): Tensor | InceptionOutputs {
    const x = this.transformInput ? transformImagenetInput(input, 'Inception3') : input;
    let h = chain(x, this.Conv2d_1a_3x3, this.Conv2d_2a_3x3, this.Conv2d_2b_3x3, this.maxpool1, this.Conv2d_3b_1x1, this.Conv2d_4a_3x3, this.maxpool2,
      this.Mixed_5b, this.Mixed_5c, this.Mixed_5d, this.Mixed_6a, this.Mixed_6b, this.Mixed_6c, this.Mixed_6d, this.Mixed_6e);
    if (x !== input) x.dispose();
    const aux = this.AuxLogits && this.training ? this.AuxLogits.forward(h) : null;
    h = chainFree(h, this.Mixed_7a, this.Mixed_7b, this.Mixed_7c, this.avgpool, this.dropout);
    const logits = chainFree(flattenFree(h), this.fc);
    if (this.training && this.auxLogits) return { logits, auxLogits: aux! };
    return logits;
  }
}

/** torchvision's init: trunc_normal(0, stddev, [-2, 2]) with stddev 0.1 (aux conv1 0.01, aux fc 0.001), BN 1/0. */
function inceptionInit(model: Module): void {
  const special = new Map<Module, number>();
  for (const m of model.modules()) {
    if (m instanceof InceptionV3Aux) {
      special.set(m.conv1.conv, 0.01);
      special.set(m.fc, 0.001);
    }
  }
  truncNormalInit(model, (m) => special.get(m) ?? 0.1);
}

/**
 * Inception v3 (27,161,264 parameters with the auxiliary classifier and 1000 classes; 23,834,568
 * without). `weights`: a torchvision checkpoint; torchvision's own holds AuxLogits, dropped when
 * auxLogits is false.
 */
export function inceptionV3(opts: InceptionV3Options = {}): Inception3 {
  return buildDroppingAux(
    opts,
    (k) => k.startsWith('AuxLogits.'),
    { head: 'fc', stem: 'Conv2d_1a_3x3.conv.weight', defaultClasses: 1000, initHead: (m) => inceptionInit(m.fc) },
    (numClasses, init) => new Inception3({ ...opts, numClasses, init }),
  );
}
