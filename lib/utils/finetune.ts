/**
 * Transfer-learning helpers: differential learning rates by depth, freezing a backbone, keeping the
 * BatchNorm layers of frozen stages in eval mode, and unfreezing stages on a schedule of epochs.
 * Modules are named by their attribute paths (`layer4`, `classifier.6`); a parameter belongs to the
 * first name that is its path or a prefix of it at a dot.
 */
import { ckError } from '../errors';
import { BatchNorm1d, BatchNorm2d } from '../nn/layers';
import { Module } from '../nn/module';
import { Tensor } from '../tensor';

// A type alias, not an interface, so a group passes straight to an optimizer (which takes any extra keys).
export type ParamGroup = {
  params: Tensor[];
  lr: number;
};

export interface DepthStage {
  /** Attribute paths of the modules in this stage. */
  modules: string[];
  lr: number;
}

/** The tutorial's differential learning rates for a ResNet: the deeper (closer to the input), the smaller. */
export const RESNET_DEPTH_LRS: readonly DepthStage[] = Object.freeze([
  { modules: ['conv1', 'bn1', 'layer1'], lr: 1e-5 },
  { modules: ['layer2'], lr: 5e-5 },
  { modules: ['layer3', 'layer4'], lr: 1e-4 },
  { modules: ['fc'], lr: 1e-3 },
]);

/** The tutorial's unfreezing order for a ResNet: the head first, then back towards the input. */
export const RESNET_UNFREEZE_STAGES: readonly string[][] = Object.freeze([['fc'], ['layer4'], ['layer3'], ['layer2'], ['conv1', 'bn1', 'layer1']]);

const under = (name: string, path: string) => name === path || name.startsWith(`${path}.`);

function checkPaths(model: Module, paths: string[], what: string): void {
  const names = new Set([...model.namedModules()].map(([n]) => n));
  const params = [...model.namedParameters()].map(([n]) => n);
  for (const p of paths) {
    if (!names.has(p) && !params.some((n) => under(n, p)))
      throw ckError('ERR_ARG', `${what}: the model has no module or parameter '${p}'`);
  }
}

export interface ParamGroupsOptions {
  /** Default: RESNET_DEPTH_LRS. */
  stages?: readonly DepthStage[];
  /** Replaces the stages' learning rates, in order (keeps their grouping). */
  lrs?: number[];
  /** Only parameters that require grad (default false: frozen ones stay in, so unfreezing later needs no new optimizer). */
  trainableOnly?: boolean;
  /** The lr of a last group for parameters no stage names; without it such parameters are an error. */
  rest?: number;
}

/** Parameter groups `[{params, lr}]` for an optimizer, one per stage, in stage order. */
export function paramGroupsByDepth(model: Module, opts: ParamGroupsOptions = {}): ParamGroup[] {
  const stages = opts.stages ?? RESNET_DEPTH_LRS;
  if (opts.lrs && opts.lrs.length !== stages.length)
    throw ckError('ERR_ARG', `paramGroupsByDepth: ${opts.lrs.length} learning rates for ${stages.length} stages`);
  checkPaths(model, stages.flatMap((s) => s.modules), 'paramGroupsByDepth');
  const groups: ParamGroup[] = stages.map((s, i) => ({ params: [], lr: opts.lrs?.[i] ?? s.lr }));
  const rest: Tensor[] = [];
  const unmatched: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (opts.trainableOnly && !p.requiresGrad) continue;
    const i = stages.findIndex((s) => s.modules.some((m) => under(name, m)));
    if (i >= 0) groups[i].params.push(p);
    else {
      rest.push(p);
      unmatched.push(name);
    }
  }
  if (unmatched.length) {
    if (opts.rest === undefined)
      throw ckError('ERR_ARG', `paramGroupsByDepth: no stage names ${unmatched.slice(0, 5).join(', ')}${unmatched.length > 5 ? ` and ${unmatched.length - 5} more` : ''}; add them to a stage or pass rest: <lr>`);
    groups.push({ params: rest, lr: opts.rest });
  }
  return groups;
}

// ---- BatchNorm in eval mode ---------------------------------------------------------------------

const frozenBN = new WeakMap<Module, { requested: boolean }>();

function isBatchNorm(m: Module): boolean {
  return m instanceof BatchNorm2d || m instanceof BatchNorm1d;
}

/**
 * Keeps every BatchNorm layer in `module` (itself included) in eval mode, whatever train() is called
 * on it or on a parent: it normalises with its running statistics and never updates them. This
 * replaces `training` with an accessor rather than overriding train(), because Module.train() sets
 * the flag on each descendant directly. Returns how many layers it froze.
 */
export function freezeBatchNorm(module: Module): number {
  let n = 0;
  for (const m of module.modules()) {
    if (!isBatchNorm(m) || frozenBN.has(m)) continue;
    const state = { requested: m.training };
    frozenBN.set(m, state);
    Object.defineProperty(m, 'training', {
      configurable: true,
      enumerable: true,
      get: () => false,
      set: (v: boolean) => {
        state.requested = v;
      },
    });
    n++;
  }
  return n;
}

/** Undoes freezeBatchNorm: each layer takes the mode last asked of it. Returns how many it released. */
export function unfreezeBatchNorm(module: Module): number {
  let n = 0;
  for (const m of module.modules()) {
    const state = frozenBN.get(m);
    if (!state) continue;
    frozenBN.delete(m);
    delete (m as unknown as Record<string, unknown>).training;
    m.training = state.requested;
    n++;
  }
  return n;
}

export function isBatchNormFrozen(m: Module): boolean {
  return frozenBN.has(m);
}

function moduleAt(model: Module, path: string): Module | null {
  for (const [n, m] of model.namedModules()) if (n === path) return m;
  return null;
}

function setStage(model: Module, paths: string[], trainable: boolean, bnEval: boolean): void {
  for (const [name, p] of model.namedParameters()) if (paths.some((s) => under(name, s))) p.requiresGrad_(trainable);
  for (const path of paths) {
    const m = moduleAt(model, path);
    if (!m || !bnEval) continue;
    if (trainable) unfreezeBatchNorm(m);
    else freezeBatchNorm(m);
  }
}

// ---- freezing -------------------------------------------------------------------------------------

export interface FreezeOptions {
  /** The module path(s) that stay trainable; default 'fc'. */
  head?: string | string[];
  /**
   * 'eval' (the default): the backbone's BatchNorm layers stay in eval mode, so training the head
   * does not move their running statistics and the features the head learns from stay fixed.
   * 'train': they follow train()/eval() as usual.
   */
  batchNorm?: 'eval' | 'train';
}

/**
 * Freezes everything but the head: requiresGrad false on every other parameter (and its BatchNorm
 * layers in eval mode, see FreezeOptions). Returns the trainable and frozen parameter counts.
 */
export function freezeBackbone(model: Module, opts: FreezeOptions = {}): { trainable: number; frozen: number } {
  const head = Array.isArray(opts.head) ? opts.head : [opts.head ?? 'fc'];
  checkPaths(model, head, 'freezeBackbone');
  let trainable = 0;
  let frozen = 0;
  for (const [name, p] of model.namedParameters()) {
    const inHead = head.some((h) => under(name, h));
    p.requiresGrad_(inHead);
    if (inHead) trainable += p.numel();
    else frozen += p.numel();
  }
  if ((opts.batchNorm ?? 'eval') === 'eval') {
    for (const [name, m] of model.namedModules()) {
      if (isBatchNorm(m) && !head.some((h) => under(name, h))) freezeBatchNorm(m);
    }
  }
  return { trainable, frozen };
}

// ---- gradual unfreezing ---------------------------------------------------------------------------

export interface GradualUnfreezerOptions {
  /** Module paths per stage, in unfreezing order (head first). Default: RESNET_UNFREEZE_STAGES. */
  stages?: readonly string[][];
  /** The epoch at which each stage unfreezes; default stage i at epoch i. */
  epochs?: number[];
  /** BatchNorm layers of frozen stages in eval mode ('eval', the default) or not. */
  batchNorm?: 'eval' | 'train';
}

/**
 * Unfreezes a model stage by stage: construction freezes every stage and unfreezes those due at epoch
 * 0; call step(epoch) at the start of each epoch. Keep every parameter in the optimizer from the start
 * (paramGroupsByDepth does by default): frozen ones have no gradient and are skipped.
 */
export class GradualUnfreezer {
  readonly stages: readonly string[][];
  readonly epochs: readonly number[];
  private readonly unfrozen: boolean[];
  private readonly bnEval: boolean;

  constructor(readonly model: Module, opts: GradualUnfreezerOptions = {}) {
    this.stages = (opts.stages ?? RESNET_UNFREEZE_STAGES).map((s) => [...s]);
    this.epochs = opts.epochs ?? this.stages.map((_, i) => i);
    if (this.epochs.length !== this.stages.length)
      throw ckError('ERR_ARG', `GradualUnfreezer: ${this.epochs.length} epochs for ${this.stages.length} stages`);
    checkPaths(model, this.stages.flat(), 'GradualUnfreezer');
    const uncovered = [...model.namedParameters()].map(([n]) => n).filter((n) => !this.stages.some((s) => s.some((p) => under(n, p))));
    if (uncovered.length)
      throw ckError('ERR_ARG', `GradualUnfreezer: no stage holds ${uncovered.slice(0, 5).join(', ')}${uncovered.length > 5 ? ` and ${uncovered.length - 5} more` : ''}; they would never train`);
    this.bnEval = (opts.batchNorm ?? 'eval') === 'eval';
    this.unfrozen = this.stages.map(() => false);
    for (const s of this.stages) setStage(model, s, false, this.bnEval);
    this.step(0);
  }

  /** Unfreezes the stages due by `epoch`; returns those it unfroze now. */
  step(epoch: number): string[][] {
    const now: string[][] = [];
    this.stages.forEach((s, i) => {
      if (!this.unfrozen[i] && this.epochs[i] <= epoch) {
        setStage(this.model, s, true, this.bnEval);
        this.unfrozen[i] = true;
        now.push([...s]);
      }
    });
    return now;
  }

  /** The stages still frozen. */
  get frozenStages(): string[][] {
    return this.stages.filter((_, i) => !this.unfrozen[i]).map((s) => [...s]);
  }
}
