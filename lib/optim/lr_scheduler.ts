/**
 * optim.lrScheduler: learning-rate schedules, as torch.optim.lr_scheduler (PyTorch 1.13), in their chainable
 * (recursive) form, so the sequence of learning rates is PyTorch's to the last bit that double arithmetic allows.
 *
 * A scheduler sets each group's `lr` from that group's own base lr (`initialLr`, set on the group when the
 * scheduler is made, as PyTorch's `initial_lr`), so differential learning rates survive scheduling. Call
 * `optimizer.step()` then `scheduler.step()` once per epoch or iteration, as in PyTorch.
 *
 * State dicts carry PyTorch's attribute names (`base_lrs`, `last_epoch`, `_step_count`, `_last_lr`, `T_max`,
 * `eta_min` ...), so their keys match `scheduler.state_dict()` in PyTorch. OneCycleLR keeps `anneal_strategy`
 * where PyTorch pickles a bound method.
 */
import { ckError } from '../errors';
import { Tensor } from '../tensor';
import { Optimizer, ParamGroup } from './optimizer';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOptimizer = Optimizer<any>;
export type SchedulerStateDict = Record<string, unknown>;

function deepCopy<T>(v: T): T {
  if (Array.isArray(v)) return v.map(deepCopy) as unknown as T;
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = deepCopy(x);
    return o as T;
  }
  return v;
}

/** Python's bisect.bisect_right on a sorted list. */
function bisectRight(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < a[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function checkOptimizer(o: unknown, who: string): AnyOptimizer {
  if (!(o instanceof Optimizer)) throw ckError('ERR_ARG', `${who}: ${String(o)} is not an Optimizer`, 'TypeError');
  return o;
}

// Fields that are state or plumbing rather than the schedule's settings: left out of the one-line form.
const REPR_SKIP = new Set(['optimizer', 'baseLrs', 'lastEpoch', 'stepCount', 'lastLr', 'schedulePhases', 'best', 'numBadEpochs', 'cooldownCounter', 'modeWorse']);

function reprValue(v: unknown): string | null {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return `[${v.join(', ')}]`;
  if (Array.isArray(v) && v.every((x) => x !== null && typeof x === 'object')) return `[${v.map((x) => (x as object).constructor.name).join(', ')}]`;
  return null;
}

/**
 * A schedule on one line (PyTorch has no repr for schedulers): its class, its settings in camelCase as
 * given to the constructor (`tMax=30, etaMin=0`), then `lastEpoch` and the learning rates it last
 * set, e.g. `CosineAnnealingLR(tMax=30, etaMin=0, lastEpoch=0, lastLr=[0.001])`.
 */
function schedulerRepr(s: Scheduler): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(s)) {
    if (REPR_SKIP.has(k)) continue;
    const r = reprValue(v);
    if (r !== null) parts.push(`${k}=${r}`);
  }
  parts.push(`lastEpoch=${(s as unknown as { lastEpoch: number }).lastEpoch}`);
  try {
    parts.push(`lastLr=[${s.getLastLr().join(', ')}]`);
  } catch {
    // no rates yet
  }
  return `${s.constructor.name}(${parts.join(', ')})`;
}

/** What every schedule offers: step(), getLastLr() and state dicts. */
export interface Scheduler {
  step(...args: unknown[]): void;
  getLastLr(): number[];
  stateDict(): SchedulerStateDict;
  loadStateDict(sd: SchedulerStateDict): void;
}

/** What every schedule class shares: the optimizer it drives (checked) and its one-line repr. */
abstract class BaseScheduler implements Scheduler {
  readonly optimizer: AnyOptimizer;
  /** One line: the class, its settings, lastEpoch and the last rates (see schedulerRepr). */
  toString(): string {
    return schedulerRepr(this);
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return schedulerRepr(this);
  }

  constructor(optimizer: AnyOptimizer) {
    this.optimizer = checkOptimizer(optimizer, this.constructor.name);
  }

  abstract step(...args: unknown[]): void;
  abstract getLastLr(): number[];
  abstract stateDict(): SchedulerStateDict;
  abstract loadStateDict(sd: SchedulerStateDict): void;
}

/**
 * The base of the epoch-driven schedules (PyTorch's _LRScheduler). A subclass sets its own fields, then calls
 * start(lastEpoch), which records the base lrs and takes the initial step (epoch 0).
 */
export abstract class LRScheduler extends BaseScheduler {
  baseLrs: number[] = [];
  lastEpoch = -1;
  protected stepCount = 0;
  protected lastLr: number[] = [];

  protected get groups(): ParamGroup[] {
    return this.optimizer.paramGroups;
  }

  protected start(lastEpoch: number): void {
    if (lastEpoch === -1) {
      for (const g of this.groups) if (g.initialLr === undefined) g.initialLr = g.lr;
    } else {
      this.groups.forEach((g, i) => {
        if (g.initialLr === undefined)
          throw ckError('ERR_ARG', `${this.constructor.name}: paramGroups[${i}] has no initialLr, needed to resume at lastEpoch ${lastEpoch}`);
      });
    }
    this.baseLrs = this.groups.map((g) => g.initialLr as number);
    this.lastEpoch = lastEpoch;
    this.initialStep();
  }

  /** @internal the step a new scheduler takes (SequentialLR replays it). */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The chainable form: the next lrs from the current ones. */
  protected abstract getLr(): number[];
  /** The closed form, used when step(epoch) names an epoch; null where PyTorch has none. */
  protected closedFormLr(): number[] | null {
    return null;
  }

  /** Advances one epoch (or jumps to `epoch`, PyTorch's deprecated form) and sets every group's lr. */
  step(epoch?: number): void {
    this.stepCount++;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch++;
      values = this.getLr();
    } else {
      this.lastEpoch = epoch;
      values = this.closedFormLr() ?? this.getLr();
    }
    this.groups.forEach((g, i) => (g.lr = values[i]));
    this.lastLr = this.groups.map((g) => g.lr);
  }

  /** The lrs the last step set, one per group. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** State-dict key (PyTorch's attribute name) -> property of this object. */
  protected stateFields(): Record<string, string> {
    return { base_lrs: 'baseLrs', last_epoch: 'lastEpoch', _step_count: 'stepCount', _last_lr: 'lastLr' };
  }

  stateDict(): SchedulerStateDict {
    const out: SchedulerStateDict = { verbose: false, _get_lr_called_within_step: false };
    const self = this as unknown as Record<string, unknown>;
    for (const [k, f] of Object.entries(this.stateFields())) out[k] = deepCopy(self[f]);
    return out;
  }

  loadStateDict(sd: SchedulerStateDict): void {
    if (!sd || typeof sd !== 'object') throw ckError('ERR_FORMAT', `${this.constructor.name}.loadStateDict: expected an object`);
    const self = this as unknown as Record<string, unknown>;
    for (const [k, f] of Object.entries(this.stateFields())) if (k in sd) self[f] = deepCopy(sd[k]);
  }

  protected currentLrs(): number[] {
    return this.groups.map((g) => g.lr);
  }
}

/** Multiplies the lr by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;
  constructor(optimizer: AnyOptimizer, stepSize: number, opts: { gamma?: number; lastEpoch?: number } = {}) {
    super(optimizer);
    if (!(Number.isInteger(stepSize) && stepSize > 0)) throw ckError('ERR_ARG', `StepLR: stepSize must be a positive integer (got ${stepSize})`, 'RangeError');
    this.stepSize = stepSize;
    this.gamma = opts.gamma ?? 0.1;
    this.start(opts.lastEpoch ?? -1);
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.currentLrs();
    return this.groups.map((g) => g.lr * this.gamma);
  }
  protected closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
  protected stateFields(): Record<string, string> {
    return { ...super.stateFields(), step_size: 'stepSize', gamma: 'gamma' };
  }
}

/** Multiplies the lr by gamma at each milestone (a milestone listed twice multiplies twice). */
export class MultiStepLR extends LRScheduler {
  /** milestone -> how often it was listed (PyTorch's Counter). */
  milestones: Record<number, number>;
  gamma: number;
  constructor(optimizer: AnyOptimizer, milestones: number[], opts: { gamma?: number; lastEpoch?: number } = {}) {
    super(optimizer);
    this.milestones = {};
    for (const m of milestones) this.milestones[m] = (this.milestones[m] ?? 0) + 1;
    this.gamma = opts.gamma ?? 0.1;
    this.start(opts.lastEpoch ?? -1);
  }
  protected getLr(): number[] {
    const count = this.milestones[this.lastEpoch];
    if (count === undefined) return this.currentLrs();
    return this.groups.map((g) => g.lr * this.gamma ** count);
  }
  protected closedFormLr(): number[] {
    const sorted = Object.entries(this.milestones)
      .flatMap(([m, c]) => new Array<number>(c).fill(Number(m)))
      .sort((a, b) => a - b);
    return this.baseLrs.map((b) => b * this.gamma ** bisectRight(sorted, this.lastEpoch));
  }
  protected stateFields(): Record<string, string> {
    return { ...super.stateFields(), milestones: 'milestones', gamma: 'gamma' };
  }
}

/** Multiplies the lr by gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  gamma: number;
  constructor(optimizer: AnyOptimizer, gamma: number, opts: { lastEpoch?: number } = {}) {
    super(optimizer);
    this.gamma = gamma;
    this.start(opts.lastEpoch ?? -1);
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0) return this.currentLrs();
    return this.groups.map((g) => g.lr * this.gamma);
  }
  protected closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** this.lastEpoch);
  }
  protected stateFields(): Record<string, string> {
    return { ...super.stateFields(), gamma: 'gamma' };
  }
}

/**
 * Cosine annealing from the base lr down to etaMin over tMax epochs (SGDR without restarts), in PyTorch's
 * recursive form: each lr is computed from the previous one, so another scheduler may change the lr in between.
 */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;
  constructor(optimizer: AnyOptimizer, tMax: number, opts: { etaMin?: number; lastEpoch?: number } = {}) {
    super(optimizer);
    if (!(tMax > 0)) throw ckError('ERR_ARG', `CosineAnnealingLR: tMax must be positive (got ${tMax})`, 'RangeError');
    this.tMax = tMax;
    this.etaMin = opts.etaMin ?? 0;
    this.start(opts.lastEpoch ?? -1);
  }
  protected getLr(): number[] {
    const e = this.lastEpoch;
    const T = this.tMax;
    const eta = this.etaMin;
    if (e === 0) return this.currentLrs();
    if (this.stepCount === 1 && e > 0)
      return this.baseLrs.map((b) => eta + ((b - eta) * (1 + Math.cos((e * Math.PI) / T))) / 2);
    if ((e - 1 - T) % (2 * T) === 0)
      return this.groups.map((g, i) => g.lr + ((this.baseLrs[i] - eta) * (1 - Math.cos(Math.PI / T))) / 2);
    return this.groups.map(
      (g) => ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (g.lr - eta) + eta,
    );
  }
  protected closedFormLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }
  protected stateFields(): Record<string, string> {
    return { ...super.stateFields(), T_max: 'tMax', eta_min: 'etaMin' };
  }
}

/** Scales the lr linearly from startFactor to endFactor of the base lr over totalIters epochs (warm-up). */
export class LinearLR extends LRScheduler {
  startFactor: number;
  endFactor: number;
  totalIters: number;
  constructor(optimizer: AnyOptimizer, opts: { startFactor?: number; endFactor?: number; totalIters?: number; lastEpoch?: number } = {}) {
    super(optimizer);
    const s = opts.startFactor ?? 1 / 3;
    const e = opts.endFactor ?? 1;
    if (s > 1 || s < 0) throw ckError('ERR_ARG', 'LinearLR: startFactor must be between 0 and 1', 'RangeError');
    if (e > 1 || e < 0) throw ckError('ERR_ARG', 'LinearLR: endFactor must be between 0 and 1', 'RangeError');
    this.startFactor = s;
    this.endFactor = e;
    this.totalIters = opts.totalIters ?? 5;
    this.start(opts.lastEpoch ?? -1);
  }
  protected getLr(): number[] {
    const s = this.startFactor;
    const e = this.endFactor;
    if (this.lastEpoch === 0) return this.groups.map((g) => g.lr * s);
    if (this.lastEpoch > this.totalIters) return this.currentLrs();
    return this.groups.map((g) => g.lr * (1 + (e - s) / (this.totalIters * s + (this.lastEpoch - 1) * (e - s))));
  }
  protected closedFormLr(): number[] {
    return this.baseLrs.map(
      (b) => b * (this.startFactor + ((this.endFactor - this.startFactor) * Math.min(this.totalIters, this.lastEpoch)) / this.totalIters),
    );
  }
  protected stateFields(): Record<string, string> {
    return { ...super.stateFields(), start_factor: 'startFactor', end_factor: 'endFactor', total_iters: 'totalIters' };
  }
}

export interface OneCycleLROptions {
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  cycleMomentum?: boolean;
  baseMomentum?: number | number[];
  maxMomentum?: number | number[];
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
  lastEpoch?: number;
}

interface Phase {
  end_step: number;
  start_lr: string;
  end_lr: string;
  start_momentum: string;
  end_momentum: string;
}

/**
 * The 1cycle policy (Smith & Topin): lr from maxLr / divFactor up to maxLr over pctStart of totalSteps, then
 * down to initialLr / finalDivFactor; with cycleMomentum the momentum (SGD, RMSprop) or beta1 (Adam) moves the
 * other way between maxMomentum and baseMomentum. Step it once per batch. Sets initialLr, maxLr, minLr,
 * maxMomentum and baseMomentum on each group, as PyTorch does with their snake_case names.
 */
export class OneCycleLR extends LRScheduler {
  totalSteps: number;
  schedulePhases: Phase[];
  annealStrategy: 'cos' | 'linear';
  cycleMomentum: boolean;
  useBeta1 = false;

  constructor(optimizer: AnyOptimizer, maxLr: number | number[], opts: OneCycleLROptions = {}) {
    super(optimizer);
    const bad = (m: string) => ckError('ERR_ARG', `OneCycleLR: ${m}`, 'RangeError');
    if (opts.totalSteps === undefined && (opts.epochs === undefined || opts.stepsPerEpoch === undefined))
      throw bad('define either totalSteps or (epochs and stepsPerEpoch)');
    if (opts.totalSteps !== undefined) {
      if (!(Number.isInteger(opts.totalSteps) && opts.totalSteps > 0)) throw bad(`expected a positive integer totalSteps, got ${opts.totalSteps}`);
      this.totalSteps = opts.totalSteps;
    } else {
      if (!(Number.isInteger(opts.epochs) && opts.epochs! > 0)) throw bad(`expected a positive integer epochs, got ${opts.epochs}`);
      if (!(Number.isInteger(opts.stepsPerEpoch) && opts.stepsPerEpoch! > 0))
        throw bad(`expected a positive integer stepsPerEpoch, got ${opts.stepsPerEpoch}`);
      this.totalSteps = opts.epochs! * opts.stepsPerEpoch!;
    }
    const pct = opts.pctStart ?? 0.3;
    if (!(pct >= 0 && pct <= 1)) throw bad(`expected pctStart between 0 and 1, got ${pct}`);
    const n = this.totalSteps;
    this.schedulePhases = opts.threePhase
      ? [
          { end_step: pct * n - 1, start_lr: 'initialLr', end_lr: 'maxLr', start_momentum: 'maxMomentum', end_momentum: 'baseMomentum' },
          { end_step: 2 * pct * n - 2, start_lr: 'maxLr', end_lr: 'initialLr', start_momentum: 'baseMomentum', end_momentum: 'maxMomentum' },
          { end_step: n - 1, start_lr: 'initialLr', end_lr: 'minLr', start_momentum: 'maxMomentum', end_momentum: 'maxMomentum' },
        ]
      : [
          { end_step: pct * n - 1, start_lr: 'initialLr', end_lr: 'maxLr', start_momentum: 'maxMomentum', end_momentum: 'baseMomentum' },
          { end_step: n - 1, start_lr: 'maxLr', end_lr: 'minLr', start_momentum: 'baseMomentum', end_momentum: 'maxMomentum' },
        ];
    const strategy = opts.annealStrategy ?? 'cos';
    if (strategy !== 'cos' && strategy !== 'linear') throw bad(`annealStrategy must be 'cos' or 'linear', got ${String(strategy)}`);
    this.annealStrategy = strategy;
    const lastEpoch = opts.lastEpoch ?? -1;
    const maxLrs = this.perGroup('maxLr', maxLr);
    const divFactor = opts.divFactor ?? 25;
    const finalDivFactor = opts.finalDivFactor ?? 1e4;
    if (lastEpoch === -1) {
      this.groups.forEach((g, i) => {
        g.initialLr = maxLrs[i] / divFactor;
        g.maxLr = maxLrs[i];
        g.minLr = g.initialLr / finalDivFactor;
      });
    }
    this.cycleMomentum = opts.cycleMomentum ?? true;
    if (this.cycleMomentum) {
      const d = this.optimizer.defaults as Record<string, unknown>;
      if (!('momentum' in d) && !('betas' in d)) throw bad('the optimizer must support momentum (or betas) with cycleMomentum');
      this.useBeta1 = 'betas' in d;
      const maxM = this.perGroup('maxMomentum', opts.maxMomentum ?? 0.95);
      const baseM = this.perGroup('baseMomentum', opts.baseMomentum ?? 0.85);
      if (lastEpoch === -1) {
        this.groups.forEach((g, i) => {
          if (this.useBeta1) g.betas = [maxM[i], ...(g.betas as number[]).slice(1)];
          else g.momentum = maxM[i];
          g.maxMomentum = maxM[i];
          g.baseMomentum = baseM[i];
        });
      }
    }
    this.start(lastEpoch);
  }

  private perGroup(name: string, v: number | number[]): number[] {
    if (Array.isArray(v)) {
      if (v.length !== this.groups.length)
        throw ckError('ERR_ARG', `OneCycleLR: expected ${this.groups.length} values for ${name}, got ${v.length}`, 'RangeError');
      return [...v];
    }
    return this.groups.map(() => v);
  }

  private anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'cos') {
      const cosOut = Math.cos(Math.PI * pct) + 1;
      return end + ((start - end) / 2.0) * cosOut;
    }
    return (end - start) * pct + start;
  }

  protected getLr(): number[] {
    const stepNum = this.lastEpoch;
    if (stepNum > this.totalSteps)
      throw ckError('ERR_ARG', `OneCycleLR: tried to step ${stepNum + 1} times; the specified number of total steps is ${this.totalSteps}`, 'RangeError');
    return this.groups.map((g) => {
      let startStep = 0;
      let lr = 0;
      let momentum = 0;
      const phases = this.schedulePhases;
      for (let i = 0; i < phases.length; i++) {
        const end = phases[i].end_step;
        if (stepNum <= end || i === phases.length - 1) {
          const pct = (stepNum - startStep) / (end - startStep);
          lr = this.anneal(g[phases[i].start_lr], g[phases[i].end_lr], pct);
          if (this.cycleMomentum) momentum = this.anneal(g[phases[i].start_momentum], g[phases[i].end_momentum], pct);
          break;
        }
        startStep = phases[i].end_step;
      }
      if (this.cycleMomentum) {
        if (this.useBeta1) g.betas = [momentum, ...(g.betas as number[]).slice(1)];
        else g.momentum = momentum;
      }
      return lr;
    });
  }

  protected stateFields(): Record<string, string> {
    return {
      ...super.stateFields(),
      total_steps: 'totalSteps',
      _schedule_phases: 'schedulePhases',
      anneal_strategy: 'annealStrategy',
      cycle_momentum: 'cycleMomentum',
      use_beta1: 'useBeta1',
    };
  }

  stateDict(): SchedulerStateDict {
    const sd = super.stateDict();
    if (!this.cycleMomentum) delete sd.use_beta1; // PyTorch only sets it when cycling momentum
    return sd;
  }
}

/** Runs schedulers one after another: schedulers[i + 1] takes over at milestones[i] (restarting from its epoch 0). */
export class SequentialLR extends BaseScheduler {
  readonly schedulers: LRScheduler[];
  milestones: number[];
  lastEpoch: number;
  private lastLr: number[];

  constructor(optimizer: AnyOptimizer, schedulers: LRScheduler[], milestones: number[], opts: { lastEpoch?: number } = {}) {
    super(optimizer);
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer)
        throw ckError('ERR_ARG', `SequentialLR: the scheduler at index ${i} belongs to another optimizer than the one passed in`);
    });
    if (milestones.length !== schedulers.length - 1)
      throw ckError(
        'ERR_ARG',
        `SequentialLR: expects one milestone fewer than schedulers, got ${schedulers.length} schedulers and ${milestones.length} milestones`,
        'RangeError',
      );
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    this.lastEpoch = (opts.lastEpoch ?? -1) + 1;
    // Undo what the schedulers' own initial steps did, then take the first one's initial step again.
    for (const g of optimizer.paramGroups) g.lr = g.initialLr;
    for (const s of this.schedulers) s.lastEpoch -= 1;
    this.schedulers[0].initialStep();
    this.lastLr = this.schedulers[0].getLastLr();
  }

  step(): void {
    this.lastEpoch += 1;
    const idx = bisectRight(this.milestones, this.lastEpoch);
    const s = this.schedulers[idx];
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) s.step(0);
    else s.step();
    this.lastLr = s.getLastLr();
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): SchedulerStateDict {
    return {
      _milestones: [...this.milestones],
      last_epoch: this.lastEpoch,
      _last_lr: [...this.lastLr],
      _schedulers: this.schedulers.map((s) => s.stateDict()),
    };
  }

  loadStateDict(sd: SchedulerStateDict): void {
    if (!sd || typeof sd !== 'object') throw ckError('ERR_FORMAT', 'SequentialLR.loadStateDict: expected an object');
    if ('_milestones' in sd) this.milestones = deepCopy(sd._milestones as number[]);
    if ('last_epoch' in sd) this.lastEpoch = sd.last_epoch as number;
    if ('_last_lr' in sd) this.lastLr = deepCopy(sd._last_lr as number[]);
    const subs = (sd._schedulers ?? []) as SchedulerStateDict[];
    subs.forEach((s, i) => this.schedulers[i]?.loadStateDict(s));
  }
}

export interface ReduceLROnPlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number | number[];
  eps?: number;
}

/** Multiplies the lr by factor once a metric has stopped improving for more than patience steps. */
export class ReduceLROnPlateau extends BaseScheduler {
  factor: number;
  minLrs: number[];
  patience: number;
  cooldown: number;
  cooldownCounter = 0;
  mode: 'min' | 'max';
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  best = Infinity;
  numBadEpochs = 0;
  modeWorse = Infinity;
  eps: number;
  lastEpoch = 0;
  private lastLr: number[] | null = null;

  constructor(optimizer: AnyOptimizer, opts: ReduceLROnPlateauOptions = {}) {
    super(optimizer);
    this.factor = opts.factor ?? 0.1;
    if (this.factor >= 1) throw ckError('ERR_ARG', 'ReduceLROnPlateau: factor should be < 1.0', 'RangeError');
    const groups = optimizer.paramGroups;
    const minLr = opts.minLr ?? 0;
    if (Array.isArray(minLr)) {
      if (minLr.length !== groups.length)
        throw ckError('ERR_ARG', `ReduceLROnPlateau: expected ${groups.length} minLrs, got ${minLr.length}`, 'RangeError');
      this.minLrs = [...minLr];
    } else this.minLrs = groups.map(() => minLr);
    this.patience = opts.patience ?? 10;
    this.cooldown = opts.cooldown ?? 0;
    this.mode = opts.mode ?? 'min';
    this.threshold = opts.threshold ?? 1e-4;
    this.thresholdMode = opts.thresholdMode ?? 'rel';
    this.eps = opts.eps ?? 1e-8;
    this.initIsBetter();
    this.reset();
  }

  private initIsBetter(): void {
    if (this.mode !== 'min' && this.mode !== 'max') throw ckError('ERR_ARG', `ReduceLROnPlateau: mode ${String(this.mode)} is unknown`);
    if (this.thresholdMode !== 'rel' && this.thresholdMode !== 'abs')
      throw ckError('ERR_ARG', `ReduceLROnPlateau: threshold mode ${String(this.thresholdMode)} is unknown`);
    this.modeWorse = this.mode === 'min' ? Infinity : -Infinity;
  }

  private reset(): void {
    this.best = this.modeWorse;
    this.cooldownCounter = 0;
    this.numBadEpochs = 0;
  }

  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  isBetter(a: number, best: number): boolean {
    if (this.mode === 'min' && this.thresholdMode === 'rel') return a < best * (1 - this.threshold);
    if (this.mode === 'min') return a < best - this.threshold;
    if (this.thresholdMode === 'rel') return a > best * (this.threshold + 1);
    return a > best + this.threshold;
  }

  /** One epoch's metric (a number or a one-element tensor). */
  step(metric: number | Tensor): void {
    const current = metric instanceof Tensor ? metric.item() : Number(metric);
    this.lastEpoch += 1;
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else this.numBadEpochs += 1;
    if (this.inCooldown) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.reduceLr();
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  private reduceLr(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      const oldLr = Number(g.lr);
      const newLr = Math.max(oldLr * this.factor, this.minLrs[i]);
      if (oldLr - newLr > this.eps) g.lr = newLr;
    });
  }

  getLastLr(): number[] {
    return this.lastLr ? [...this.lastLr] : this.optimizer.paramGroups.map((g) => g.lr);
  }

  private static readonly FIELDS: Record<string, string> = {
    factor: 'factor',
    min_lrs: 'minLrs',
    patience: 'patience',
    cooldown: 'cooldown',
    cooldown_counter: 'cooldownCounter',
    mode: 'mode',
    threshold: 'threshold',
    threshold_mode: 'thresholdMode',
    best: 'best',
    num_bad_epochs: 'numBadEpochs',
    mode_worse: 'modeWorse',
    eps: 'eps',
    last_epoch: 'lastEpoch',
  };

  stateDict(): SchedulerStateDict {
    const self = this as unknown as Record<string, unknown>;
    const out: SchedulerStateDict = { verbose: false };
    for (const [k, f] of Object.entries(ReduceLROnPlateau.FIELDS)) out[k] = deepCopy(self[f]);
    if (this.lastLr) out._last_lr = [...this.lastLr];
    return out;
  }

  loadStateDict(sd: SchedulerStateDict): void {
    if (!sd || typeof sd !== 'object') throw ckError('ERR_FORMAT', 'ReduceLROnPlateau.loadStateDict: expected an object');
    const self = this as unknown as Record<string, unknown>;
    for (const [k, f] of Object.entries(ReduceLROnPlateau.FIELDS)) if (k in sd) self[f] = deepCopy(sd[k]);
    if ('_last_lr' in sd) this.lastLr = deepCopy(sd._last_lr as number[]);
    this.initIsBetter();
  }
}
