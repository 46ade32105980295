/**
 * GoogLeNet (Inception v1) exactly as torchvision 0.14 builds it: BasicConv2d = conv (no bias) +
 * BatchNorm(eps=0.001) + ReLU; Inception blocks whose "5x5" branch is a 3x3 conv (torchvision's known
 * deviation from the paper, kept so its checkpoints load); max pools with ceil_mode=True; two
 * auxiliary classifiers (after inception4a and 4d) that run only in training mode when auxLogits is
 * on; and transform_input, which maps ImageNet-normalised input to the (x - 0.5) / 0.5 scaling the
 * original Google weights expect. State-dict keys are torchvision's (`inception4e.branch3.1.bn.running_var`).
 */
import { ckError } from '../errors';
import { cat } from '../nn/functional';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers';
import * as init from '../nn/init';
import { Module } from '../nn/module';
import { Tensor } from '../tensor';
import { chain, chainFree, flattenFree, ZooModel } from './common';
import { buildWithWeights, openWeights, WeightsOptions } from './weights';
import type { WeightFile } from '../io/types';

import type { Pair } from '../nn/layers';

/**
 * torchvision's _transform_input (GoogLeNet, Inception v3): ImageNet-normalised input re-scaled to
 * (x - 0.5) / 0.5, channel c becoming x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5.
 */
export function transformImagenetInput(x: Tensor, what: string): Tensor {
  if (x.ndim !== 4 || x.shape[1] !== 3)
    throw ckError('ERR_SHAPE', `${what}: transformInput needs an (N, 3, H, W) input, got [${x.shape.join(', ')}]`);
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const chans = [0, 1, 2].map((c) => {
    const v = x.narrow(1, c, 1);
    const m = v.mul(std[c] / 0.5);
    const a = m.add((mean[c] - 0.5) / 0.5);
    v.dispose();
    m.dispose();
    return a;
  });
  const y = cat(chans, 1);
  for (const c of chans) c.dispose();
  return y;
}

/** Concatenates along channels and frees the parts (an Inception block's branches). */
export function catFree(parts: Tensor[]): Tensor {
  const y = cat(parts, 1);
  for (const p of parts) p.dispose();
  return y;
}

/**
 * torchvision's GoogLeNet and Inception3 init: conv and linear weights trunc_normal(0, std(m), [-2, 2]),
 * BN weight 1 / bias 0 (linear biases keep PyTorch's default).
 */
export function truncNormalInit(model: Module, std: (m: Conv2d | Linear) => number): void {
  for (const m of model.modules()) {
    if (m instanceof Conv2d || m instanceof Linear) {
      // With std 0.1 or less, the [-2, 2] truncation lies 20 or more standard deviations out: a normal
      // draw clamped there is the same law.
      init.normal_(m.weight, 0, std(m));
      const w = m.weight.detach();
      w.clamp_(-2, 2);
      w.dispose();
    } else if (m instanceof BatchNorm2d) {
      if (m.weight) init.ones_(m.weight);
      if (m.bias) init.zeros_(m.bias);
    }
  }
}

/**
 * buildWithWeights for a model with auxiliary classifiers: when `opts.auxLogits` is false, the checkpoint's
 * tensors for which `isAux(key)` holds (key without a DataParallel `module.` prefix) are left out.
 */
export function buildDroppingAux<M extends ZooModel>(
  opts: WeightsOptions & { numClasses?: number; auxLogits?: boolean },
  isAux: (key: string) => boolean,
  spec: Parameters<typeof buildWithWeights<M>>[1],
  make: (numClasses: number, init: boolean) => M,
): M {
  let weights = opts.weights;
  let owned: WeightFile | null = null;
  if (weights && opts.auxLogits === false) {
    owned = typeof weights === 'string' ? openWeights(weights) : null;
    const w = owned ?? (weights as WeightFile);
    weights = { ...w, tensors: new Map([...w.tensors].filter(([k]) => !isAux(k.replace(/^module\./, '')))) };
  }
  try {
    return buildWithWeights({ ...opts, weights }, spec, make);
  } finally {
    owned?.dispose();
  }
}

export class BasicConv2d extends Module {
  conv: Conv2d;
  bn: BatchNorm2d;
  private relu = new ReLU();
  constructor(inC: number, outC: number, kernel: Pair, opts: { stride?: Pair; padding?: Pair } = {}) {
    super();
    this.conv = new Conv2d(inC, outC, kernel, { ...opts, bias: false });
    this.bn = new BatchNorm2d(outC, { eps: 0.001 });
  }
  forward(x: Tensor): Tensor {
    return chain(x, this.conv, this.bn, this.relu);
  }
}

export class Inception extends Module {
  branch1: BasicConv2d;
  branch2: Sequential;
  branch3: Sequential;
  branch4: Sequential;
  constructor(inC: number, ch1x1: number, ch3x3red: number, ch3x3: number, ch5x5red: number, ch5x5: number, poolProj: number) {
    super();
    this.branch1 = new BasicConv2d(inC, ch1x1, 1);
    this.branch2 = new Sequential(new BasicConv2d(inC, ch3x3red, 1), new BasicConv2d(ch3x3red, ch3x3, 3, { padding: 1 }));
    // kernel 3 where the paper has 5: torchvision's "known bug", kept for its checkpoints.
    this.branch3 = new Sequential(new BasicConv2d(inC, ch5x5red, 1), new BasicConv2d(ch5x5red, ch5x5, 3, { padding: 1 }));
    this.branch4 = new Sequential(new MaxPool2d(3, { stride: 1, padding: 1, ceilMode: true }), new BasicConv2d(inC, poolProj, 1));
  }
  forward(x: Tensor): Tensor {
    return catFree([this.branch1, this.branch2, this.branch3, this.branch4].map((b) => chain(x, b)));
  }
}

export class InceptionAux extends Module {
  conv: BasicConv2d;
  fc1: Linear;
  fc2: Linear;
  dropout: Dropout;
  private pool = new AdaptiveAvgPool2d([4, 4]);
  private relu = new ReLU();
  constructor(inC: number, numClasses: number, dropout = 0.7) {
    super();
    this.conv = new BasicConv2d(inC, 128, 1);
    this.fc1 = new Linear(2048, 1024);
    this.fc2 = new Linear(1024, numClasses);
    this.dropout = new Dropout(dropout);
  }
  forward(x: Tensor): Tensor {
    return chainFree(flattenFree(chain(x, this.pool, this.conv)), this.fc1, this.relu, this.dropout, this.fc2);
  }
}

/** What a training-mode GoogLeNet with auxLogits returns: torchvision's GoogLeNetOutputs (same field order and contents). */
export interface GoogLeNetOutputs {
  logits: Tensor;
  /** torchvision's `aux_logits2`, which holds the output of `aux1` (the classifier after inception4a). */
  auxLogits2: Tensor;
  /** torchvision's `aux_logits1`, which holds the output of `aux2` (after inception4d). */
  auxLogits1: Tensor;
}

export interface GoogLeNetOptions extends WeightsOptions {
  /** Default 1000, or the checkpoint's head size when loading weights. */
  numClasses?: number;
  /** Build the two auxiliary classifiers (used in training mode only); default true, as torchvision without weights. */
  auxLogits?: boolean;
  /** Re-normalise ImageNet-normalised input as Google's original weights expect; default false. */
  transformInput?: boolean;
  /** Input channels of the stem conv (1 for grayscale); default 3. transformInput needs 3. */
  inChannels?: number;
  /** Dropout before fc; default 0.2. */
  dropout?: number;
  /** Dropout in the auxiliary classifiers; default 0.7. */
  dropoutAux?: number;
}

export class GoogLeNet extends ZooModel {
  readonly auxLogits: boolean;
  readonly transformInput: boolean;
  conv1: BasicConv2d;
  maxpool1 = new MaxPool2d(3, { stride: 2, ceilMode: true });
  conv2: BasicConv2d;
  conv3: BasicConv2d;
  maxpool2 = new MaxPool2d(3, { stride: 2, ceilMode: true });
  inception3a: Inception;
  inception3b: Inception;
  maxpool3 = new MaxPool2d(3, { stride: 2, ceilMode: true });
  inception4a: Inception;
  inception4b: Inception;
  inception4c: Inception;
  inception4d: Inception;
  inception4e: Inception;
  maxpool4 = new MaxPool2d(2, { stride: 2, ceilMode: true });
  inception5a: Inception;
  inception5b: Inception;
  aux1: InceptionAux | null;
  aux2: InceptionAux | null;
  avgpool = new AdaptiveAvgPool2d([1, 1]);
  dropout: Dropout;
  fc: Linear;

  constructor(opts: GoogLeNetOptions & { init?: boolean } = {}) {
    super();
    const nc = opts.numClasses ?? 1000;
    this.auxLogits = opts.auxLogits ?? true;
    this.transformInput = opts.transformInput ?? false;
    this.conv1 = new BasicConv2d(opts.inChannels ?? 3, 64, 7, { stride: 2, padding: 3 });
    this.conv2 = new BasicConv2d(64, 64, 1);
    this.conv3 = new BasicConv2d(64, 192, 3, { padding: 1 });
    this.inception3a = new Inception(192, 64, 96, 128, 16, 32, 32);
    this.inception3b = new Inception(256, 128, 128, 192, 32, 96, 64);
    this.inception4a = new Inception(480, 192, 96, 208, 16, 48, 64);
    this.inception4b = new Inception(512, 160, 112, 224, 24, 64, 64);
    this.inception4c = new Inception(512, 128, 128, 256, 24, 64, 64);
    this.inception4d = new Inception(512, 112, 144, 288, 32, 64, 64);
    this.inception4e = new Inception(528, 256, 160, 320, 32, 128, 128);
    this.inception5a = new Inception(832, 256, 160, 320, 32, 128, 128);
    this.inception5b = new Inception(832, 384, 192, 384, 48, 128, 128);
    this.aux1 = this.auxLogits ? new InceptionAux(512, nc, opts.dropoutAux ?? 0.7) : null;
    this.aux2 = this.auxLogits ? new InceptionAux(528, nc, opts.dropoutAux ?? 0.7) : null;
    this.dropout = new Dropout(opts.dropout ?? 0.2);
    this.fc = new Linear(1024, nc);
    if (opts.init !== false) googlenetInit(this);
  }

  /** Logits; in training mode with auxLogits, torchvision's GoogLeNetOutputs instead. */
  forward(input: Tensor): Tensor | GoogLeNetOutputs {
    const x = this.transformInput ? transformImagenetInput(input, 'GoogLeNet') : input;
    let h = chain(x, this.conv1, this.maxpool1, this.conv2, this.conv3, this.maxpool2, this.inception3a, this.inception3b, this.maxpool3, this.inception4a);
    if (x !== input) x.dispose();
    const a1 = this.aux1 && this.training ? this.aux1.forward(h) : null;
    h = chainFree(h, this.inception4b, this.inception4c, this.inception4d);
    const a2 = this.aux2 && this.training ? this.aux2.forward(h) : null;
    h = chainFree(h, this.inception4e, this.maxpool4, this.inception5a, this.inception5b, this.avgpool);
    const logits = chainFree(flattenFree(h), this.dropout, this.fc);
    if (this.training && this.auxLogits) return { logits, auxLogits2: a1!, auxLogits1: a2! };
    return logits;
  }
}

/** torchvision's GoogLeNet init: std 0.01 throughout. */
function googlenetInit(model: Module): void {
  truncNormalInit(model, () => 0.01);
}

const isAuxKey = (k: string) => k.startsWith('aux1.') || k.startsWith('aux2.');

/**
 * GoogLeNet (13,004,888 parameters with the auxiliary classifiers and 1000 classes; 6,624,904
 * without). `weights`: a torchvision checkpoint; torchvision's own holds the auxiliary classifiers,
 * which are dropped when auxLogits is false.
 */
export function googlenet(opts: GoogLeNetOptions = {}): GoogLeNet {
  return buildDroppingAux(
    opts,
    isAuxKey,
    { head: 'fc', stem: 'conv1.conv.weight', defaultClasses: 1000, initHead: (m) => googlenetInit(m.fc) },
    (numClasses, init) => new GoogLeNet({ ...opts, numClasses, init }),
  );
}
