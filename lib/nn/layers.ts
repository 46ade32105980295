/** The layers, with PyTorch's attribute names, defaults and initialisations. */
import { forwardChain } from './fusion';
import { empty, ones, zeros } from '../creation';
import { ckError, fmtShape, shapeError } from '../errors';
import { Tensor } from '../tensor';
import { ConvBackend, checkConvBackend } from '../backends';
import * as F from './functional';
import { boolArg, intArg, intPair, numberArg } from './functional/common';
import * as init from './init';
import { pyRepr } from '../format';
import { noGrad } from '../autograd/grad_mode';

/** A layer's input must be a Tensor: anything else is a coded TypeError naming the layer. */
function inputTensor(m: Module, x: unknown): void {
  if (!(x instanceof Tensor)) throw ckError('ERR_ARG', `${m.constructor.name}.forward: expected a Tensor, got ${x === null ? 'null' : typeof x}`, 'TypeError');
}
import { Module, Parameter, TensorModule } from './module';

/** One size for both spatial dimensions, or [height, width]. */
export type Pair = number | [number, number];
// Every layer checks its arguments when it is built, naming itself and the argument (functional/common.ts's
// vocabulary): "Conv2d: stride must be a positive integer, got 0".

/** Pooling padding: non-negative and at most half the kernel, as PyTorch checks it. */
function poolPadding(layer: string, padding: unknown, kernel: [number, number]): void {
  const p = intPair(layer, 'padding', padding, 0);
  if (p[0] > kernel[0] / 2 || p[1] > kernel[1] / 2)
    throw ckError('ERR_ARG', `${layer}: padding ${p} should be at most half of kernel_size ${kernel}`, 'RangeError');
}

/** convkit's activations always return a new tensor: inplace=true is refused rather than ignored. */
function noInplace(layer: string, opts: { inplace?: boolean }): void {
  if (opts.inplace === true)
    throw ckError('ERR_ARG', `${layer}: inplace must be false: convkit's activations always return a new tensor (drop the option)`, 'RangeError');
  boolArg(layer, 'inplace', opts.inplace, false);
}

function initBias(bias: Tensor, fanIn: number): void {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  init.uniform_(bias, -bound, bound);
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  /** This layer's convolution implementation on CUDA tensors; default: backends.conv. */
  backend?: ConvBackend;
}

export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'valid' | 'same';
  readonly dilation: [number, number];
  readonly groups: number;
  /** Overrides backends.conv for this layer ('auto' | 'cudnn' | 'native'); undefined follows backends.conv. */
  backend: ConvBackend | undefined;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, opts: Conv2dOptions = {}) {
    super();
    this.backend = opts.backend === undefined ? undefined : checkConvBackend(opts.backend, 'Conv2d: backend');
    intArg('Conv2d', 'in_channels', inChannels, 1);
    intArg('Conv2d', 'out_channels', outChannels, 1);
    this.kernelSize = intPair('Conv2d', 'kernel_size', kernelSize, 1);
    this.stride = intPair('Conv2d', 'stride', opts.stride ?? 1, 1);
    const p = opts.padding ?? 0;
    if (typeof p === 'string' && p !== 'valid' && p !== 'same')
      throw ckError('ERR_ARG', `Conv2d: padding must be 'valid', 'same' or a non-negative integer (or a pair of them), got '${p}'`, 'RangeError');
    this.padding = typeof p === 'string' ? p : intPair('Conv2d', 'padding', p, 0);
    if (p === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1))
      throw ckError('ERR_ARG', "Conv2d: padding='same' is not supported for strided convolutions (stride must be 1)", 'RangeError');
    this.dilation = intPair('Conv2d', 'dilation', opts.dilation ?? 1, 1);
    this.groups = intArg('Conv2d', 'groups', opts.groups ?? 1, 1);
    boolArg('Conv2d', 'bias', opts.bias, true);
    if (inChannels % this.groups || outChannels % this.groups)
      throw shapeError(`Conv2d: in_channels ${inChannels} and out_channels ${outChannels} must be divisible by groups ${this.groups}`);
    this.weight = Parameter(empty([outChannels, inChannels / this.groups, ...this.kernelSize]));
    this.bias = opts.bias === false ? null : Parameter(empty([outChannels]));
    this.resetParameters();
  }
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) initBias(this.bias, init.calculateFanInAndFanOut(this.weight)[0]);
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    const cdim = x.ndim === 4 ? 1 : 0;
    if ((x.ndim !== 4 && x.ndim !== 3) || x.shape[cdim] !== this.inChannels)
      throw shapeError(`${this.toString()}: expected input (N, ${this.inChannels}, H, W), got ${fmtShape(x.shape)}`);
    return F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups, backend: this.backend });
  }
  extraRepr(): string {
    // PyTorch's _ConvNd.extra_repr, argument names included (a string padding prints bare: padding=same).
    const s = [`${this.inChannels}, ${this.outChannels}, kernel_size=${pyRepr(this.kernelSize)}`, `stride=${pyRepr(this.stride)}`];
    if (typeof this.padding === 'string') s.push(`padding=${this.padding}`);
    else if (this.padding[0] !== 0 || this.padding[1] !== 0) s.push(`padding=${pyRepr(this.padding)}`);
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) s.push(`dilation=${pyRepr(this.dilation)}`);
    if (this.groups !== 1) s.push(`groups=${this.groups}`);
    if (!this.bias) s.push('bias=False');
    return s.join(', ');
  }
}

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    intArg('Linear', 'in_features', inFeatures, 1);
    intArg('Linear', 'out_features', outFeatures, 1);
    boolArg('Linear', 'bias', opts.bias, true);
    this.weight = Parameter(empty([outFeatures, inFeatures]));
    this.bias = opts.bias === false ? null : Parameter(empty([outFeatures]));
    this.resetParameters();
  }
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) initBias(this.bias, this.inFeatures);
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures)
      throw shapeError(`${this.toString()}: expected input with ${this.inFeatures} features in its last dim, got ${fmtShape(x.shape)}`);
    return F.linear(x, this.weight, this.bias);
  }
  extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}`;
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** null: cumulative moving average (1 / num_batches_tracked), as PyTorch's momentum=None. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  running_mean!: Tensor | null;
  running_var!: Tensor | null;
  num_batches_tracked!: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  constructor(readonly numFeatures: number, opts: BatchNormOptions, private readonly dims: number[]) {
    super();
    const layer = new.target.name;
    intArg(layer, 'num_features', numFeatures, 1);
    this.eps = numberArg(layer, 'eps', opts.eps ?? 1e-5, 0, Infinity);
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum === null ? null : numberArg(layer, 'momentum', opts.momentum, 0, 1);
    this.affine = boolArg(layer, 'affine', opts.affine, true);
    this.trackRunningStats = boolArg(layer, 'track_running_stats', opts.trackRunningStats, true);
    this.weight = this.affine ? Parameter(ones([numFeatures])) : null;
    this.bias = this.affine ? Parameter(zeros([numFeatures])) : null;
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', zeros([numFeatures]));
      this.registerBuffer('running_var', ones([numFeatures]));
      this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int32' }));
    } else {
      this.registerBuffer('running_mean', null);
      this.registerBuffer('running_var', null);
      this.registerBuffer('num_batches_tracked', null);
    }
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    if (!this.dims.includes(x.ndim) || x.shape[1] !== this.numFeatures)
      throw shapeError(`${this.toString()}: expected a ${this.dims.join('-D or ')}-D input with ${this.numFeatures} channels in dim 1, got ${fmtShape(x.shape)}`);
    let momentum = this.momentum ?? 0;
    if (this.training && this.trackRunningStats && this.num_batches_tracked) {
      this.num_batches_tracked.add_(1);
      if (this.momentum === null && this.running_mean && this.running_var) return this.cumulativeForward(x);
    }
    const useBatch = this.training || !this.trackRunningStats;
    return F.batchNorm(
      x,
      !this.training || this.trackRunningStats ? this.running_mean : null,
      !this.training || this.trackRunningStats ? this.running_var : null,
      this.weight, this.bias, { training: useBatch, momentum, eps: this.eps },
    );
  }
  // momentum null (a cumulative average): the batch statistics land in copies (momentum 1), then the running
  // ones move toward them by 1 / num_batches_tracked, computed on the device: no synchronisation per layer.
  private cumulativeForward(x: Tensor): Tensor {
    const rm = this.running_mean as Tensor, rv = this.running_var as Tensor;
    const bm = rm.detach().clone(), bv = rv.detach().clone();
    const y = F.batchNorm(x, bm, bv, this.weight, this.bias, { training: true, momentum: 1, eps: this.eps });
    noGrad(() => {
      const step = (this.num_batches_tracked as Tensor).float();
      for (const [run, batch] of [[rm, bm], [rv, bv]] as const) {
        const delta = batch.sub(run);
        const moved = delta.div(step);
        run.add_(moved);
        delta.dispose();
        moved.dispose();
      }
      step.dispose();
    });
    bm.dispose();
    bv.dispose();
    return y;
  }
  extraRepr(): string {
    return `${this.numFeatures}, eps=${pyRepr(this.eps, true)}, momentum=${pyRepr(this.momentum, true)}, affine=${pyRepr(this.affine)}, track_running_stats=${pyRepr(this.trackRunningStats)}`;
  }
}

export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts, [4]);
  }
}
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts, [2, 3]);
  }
}

/**
 * max(x, 0), always into a new tensor: `{ inplace: true }` is refused (ERR_ARG) rather than accepted and
 * ignored, so the model zoo builds torchvision's `ReLU(inplace=True)` layers as `ReLU()`.
 */
export class ReLU extends Module {
  constructor(readonly opts: { inplace?: boolean } = {}) {
    super();
    noInplace('ReLU', opts);
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    return x.relu();
  }
}

export class MaxPool2d extends Module {
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly ceilMode: boolean;
  constructor(kernelSize: Pair, opts: F.MaxPool2dOptions = {}) {
    super();
    const k = intPair('MaxPool2d', 'kernel_size', kernelSize, 1);
    if (opts.stride !== undefined && opts.stride !== null) intPair('MaxPool2d', 'stride', opts.stride, 1);
    poolPadding('MaxPool2d', opts.padding ?? 0, k);
    intPair('MaxPool2d', 'dilation', opts.dilation ?? 1, 1);
    boolArg('MaxPool2d', 'ceil_mode', opts.ceilMode, false);
    this.kernelSize = kernelSize;
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.ceilMode = !!opts.ceilMode;
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    return F.maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode });
  }
  extraRepr(): string {
    return `kernel_size=${pyRepr(this.kernelSize)}, stride=${pyRepr(this.stride)}, padding=${pyRepr(this.padding)}, dilation=${pyRepr(this.dilation)}, ceil_mode=${pyRepr(this.ceilMode)}`;
  }
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly opts: F.AvgPool2dOptions = {}) {
    super();
    const k = intPair('AvgPool2d', 'kernel_size', kernelSize, 1);
    if (opts.stride !== undefined && opts.stride !== null) intPair('AvgPool2d', 'stride', opts.stride, 1);
    poolPadding('AvgPool2d', opts.padding ?? 0, k);
    boolArg('AvgPool2d', 'ceil_mode', opts.ceilMode, false);
    boolArg('AvgPool2d', 'count_include_pad', opts.countIncludePad, true);
    if (opts.divisorOverride !== undefined && opts.divisorOverride !== null) intArg('AvgPool2d', 'divisor_override', opts.divisorOverride, 1);
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    return F.avgPool2d(x, this.kernelSize, this.opts);
  }
  extraRepr(): string {
    return `kernel_size=${pyRepr(this.kernelSize)}, stride=${pyRepr(this.opts.stride ?? this.kernelSize)}, padding=${pyRepr(this.opts.padding ?? 0)}`;
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair | [number | null, number | null]) {
    super();
    const o: unknown[] = Array.isArray(outputSize) ? outputSize : [outputSize];
    if (outputSize === null || o.length < 1 || o.length > 2 || (!Array.isArray(outputSize) && outputSize === undefined))
      throw ckError('ERR_ARG', `AdaptiveAvgPool2d: output_size must be a non-negative integer or a pair of them (or null), got ${JSON.stringify(outputSize) ?? String(outputSize)}`, 'TypeError');
    for (const v of o) if (v !== null) intArg('AdaptiveAvgPool2d', 'output_size', v, 0);
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
  extraRepr(): string {
    return `output_size=${pyRepr(this.outputSize)}`;
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw ckError('ERR_ARG', `Dropout: probability must be in [0, 1], got ${p}`, 'RangeError');
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    return F.dropout(x, this.p, this.training);
  }
  /** PyTorch's `p=0.5, inplace=False`: convkit's dropout never works in place. */
  extraRepr(): string {
    return `p=${pyRepr(this.p, true)}, inplace=False`;
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    return x.flatten(this.startDim, this.endDim);
  }
  extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    return x.reshape([...x.shape]);
  }
}

/** Children named "0", "1", ... as PyTorch's Sequential; forward chains them. */
export class Sequential extends Module<[Tensor], Tensor> {
  /** Tensor-to-tensor modules, applied in order. */
  constructor(...mods: TensorModule[]) {
    super();
    mods.forEach((m, i) => this.addModule(String(i), m));
  }
  get length(): number {
    return this.children().length;
  }
  at(i: number): TensorModule {
    const c = this.children() as TensorModule[];
    const m = c[i < 0 ? i + c.length : i];
    if (!m) throw ckError('ERR_ARG', `Sequential index ${i} out of range (${c.length} modules)`, 'RangeError');
    return m;
  }
  append(m: TensorModule): this {
    this.addModule(String(this.length), m);
    return this;
  }
  forward(x: Tensor): Tensor {
    // Intermediates are this chain's own, freed once the next layer has its output; Conv-BN-ReLU fuse (./fusion).
    return forwardChain(x, this.children() as TensorModule[]);
  }
}

/** Holds modules of any signature (`M` narrows them, e.g. `ModuleList<nn.Conv2d>`); it has no forward. */
export class ModuleList<M extends Module = Module> extends Module<[], never> {
  constructor(mods: M[] = []) {
    super();
    mods.forEach((m, i) => this.addModule(String(i), m));
  }
  get length(): number {
    return this.children().length;
  }
  at(i: number): M | undefined {
    return (this.children() as M[])[i < 0 ? i + this.length : i];
  }
  append(m: M): this {
    this.addModule(String(this.length), m);
    return this;
  }
  [Symbol.iterator](): Iterator<M> {
    return (this.children() as M[])[Symbol.iterator]();
  }
  forward(): never {
    throw ckError('ERR_ARG', 'ModuleList has no forward(); iterate over it');
  }
}

export class CrossEntropyLoss extends Module<[Tensor, Tensor]> {
  constructor(readonly opts: F.CrossEntropyOptions = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.crossEntropy(input, target, this.opts);
  }
}

export class NLLLoss extends Module<[Tensor, Tensor]> {
  constructor(readonly opts: F.NllOptions = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.nllLoss(input, target, this.opts);
  }
}

export class MSELoss extends Module<[Tensor, Tensor]> {
  constructor(readonly opts: { reduction?: F.Reduction } = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.mseLoss(input, target, this.opts);
  }
}

/** min(max(x, minVal), maxVal), as torch.nn.Hardtanh. */
export class Hardtanh extends Module {
  readonly minVal: number;
  readonly maxVal: number;
  constructor(minVal = -1, maxVal = 1, readonly opts: { inplace?: boolean } = {}) {
    super();
    noInplace(new.target.name, opts);
    if (!(minVal <= maxVal)) throw ckError('ERR_ARG', `Hardtanh: min_val ${minVal} must not exceed max_val ${maxVal}`, 'RangeError');
    this.minVal = minVal;
    this.maxVal = maxVal;
  }
  forward(x: Tensor): Tensor {
    inputTensor(this, x);
    return F.hardtanh(x, this.minVal, this.maxVal);
  }
  extraRepr(): string {
    return `min_val=${this.minVal}, max_val=${this.maxVal}`;
  }
}

/** min(max(x, 0), 6), as torch.nn.ReLU6 (a Hardtanh(0, 6), as in PyTorch). */
export class ReLU6 extends Hardtanh {
  constructor(opts: { inplace?: boolean } = {}) {
    super(0, 6, opts);
  }
  extraRepr(): string {
    return '';
  }
}
