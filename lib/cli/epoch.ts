/**
 * One training epoch and one evaluation pass of `convkit train`. Loss and accuracy are summed on the
 * device, in place, and read back only when the progress bar is about to draw (and once at the end), so a
 * CUDA step never waits on the host for its metrics. Each step is timed part by part (breakdown.ts).
 */
import { autocast, AutocastDtype } from '../autocast';
import { noGrad } from '../autograd/grad_mode';
import type { DataLoader } from '../data';
import { native } from '../binding';
import { keep, tidy } from '../memory';
import type { CrossEntropyLoss } from '../nn/layers';
import type { Module } from '../nn/module';
import type { Optimizer } from '../optim';
import type { Scheduler } from '../optim/lr_scheduler';
import { full } from '../creation';
import { Tensor } from '../tensor';
import type { SummaryWriter } from '../utils/tensorboard';
import { Breakdown, breakdownTotal, StepClock } from './breakdown';
import type { GraphStep } from './graph_step';
import type { Progress } from './progress';

/**
 * Running sums of loss x batch size and of correct predictions, kept on the device in float32. A resumed
 * epoch starts them from the checkpoint's sums (float32 values read back), so it adds up, bit for bit, to
 * what an uninterrupted epoch would.
 */
class DeviceMeter {
  private readonly lossSum: Tensor;
  private readonly correct: Tensor;
  seen = 0;
  constructor(device: string, private readonly base: { lossSum: number; correct: number; seen: number }) {
    this.lossSum = keep(full([], base.lossSum, { device: device as 'cpu' }));
    this.correct = keep(full([], base.correct, { device: device as 'cpu' }));
  }

  /** Inside the step's tidy(): queues the sums on the device, reads nothing back. */
  add(loss: Tensor, out: Tensor, y: Tensor): void {
    noGrad(() => {
      const n = y.shape[0];
      this.lossSum.add_(loss.detach().mul(n));
      this.correct.add_(out.argmax(1).eq(y).sum());
    });
    this.seen += y.shape[0];
  }

  /** The totals so far, including the resumed part (this reads the device). */
  read(): { lossSum: number; correct: number; seen: number } {
    return { lossSum: this.lossSum.item(), correct: this.correct.item(), seen: this.base.seen + this.seen };
  }

  dispose(): void {
    this.lossSum.dispose();
    this.correct.dispose();
  }
}

export interface EpochParts {
  model: Module;
  optimizer: Optimizer;
  sched: Scheduler | null;
  perBatch: boolean;
  loader: DataLoader;
  criterion: CrossEntropyLoss;
  device: string;
  /** --cuda-graph: full batches after the warm-up replay one captured step (graph_step.ts). */
  graph?: GraphStep | null;
  /** --autocast: the forward pass and the loss run in ck.autocast('cpu', { dtype }) (backward follows the nodes). */
  autocast?: AutocastDtype | null;
}

export interface EpochStart {
  /** Batches of this epoch trained before a checkpoint (their order is replayed, they are not trained again). */
  skip: number;
  /** Sums carried over from before that checkpoint. */
  base: { lossSum: number; correct: number; seen: number };
  /** Called once the skipped batches are passed (restores the random stream of the interrupted run). */
  afterSkip: () => void;
}

export interface EpochHooks {
  bar: Progress;
  tb: SummaryWriter | null;
  tbEvery: number;
  /** The global step of batch 0 of this epoch (TensorBoard's x axis). */
  stepBase: number;
  /** Wait for the device at every lap (--profile on CUDA). */
  syncLaps: boolean;
  stopped: () => boolean;
  /**
   * Called before each step with the batches done so far (--profile's ck.profiler window). Its time is the
   * profiler's, not training's: outside the breakdown and the epoch's time (EpochResult.hookS).
   */
  onStep?: (batchesDone: number) => void;
}

export interface EpochResult {
  lossSum: number;
  correct: number;
  seen: number;
  /** Batches finished, counting skipped ones. */
  batches: number;
  /** Seconds spent in this call (not counting the resumed part). */
  timeS: number;
  breakdown: Breakdown;
  /** True when stopped() ended the epoch early. */
  interrupted: boolean;
  /** Seconds spent in hooks.onStep (kept out of the breakdown; the caller takes them off its epoch clock). */
  hookS: number;
}

/** The DataLoader's batch moved to the training device: the host-to-device part of a step. */
function toDevice(t: Tensor, device: string): Tensor {
  if (device === 'cpu') return t;
  const d = t.to(device as 'cpu');
  if (d !== t) t.dispose();
  return d;
}

export async function trainEpoch(p: EpochParts, start: EpochStart, h: EpochHooks): Promise<EpochResult> {
  const meter = new DeviceMeter(p.device, start.base);
  const batches = p.loader.length;
  const onDevice = p.device !== 'cpu';
  const clock = new StepClock(h.syncLaps && onDevice ? () => native.synchronize() : null);
  p.model.train();
  h.bar.begin();
  let bi = 0;
  let interrupted = false;
  let drained = false;
  let hookS = 0;
  const it = (p.loader as AsyncIterable<Tensor[]>)[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (bi >= start.skip && h.onStep) {
        const onStep = h.onStep;
        hookS += clock.outside('data', () => onStep(bi));
      }
      const next = await it.next();
      clock.lap('data');
      if (next.done) {
        drained = true;
        break;
      }
      let [x, y] = next.value;
      if (bi < start.skip) {
        // Replaying the interrupted epoch's order: these batches were trained on before the checkpoint.
        x.dispose();
        y.dispose();
        if (++bi === start.skip) start.afterSkip();
        clock.lap('other');
        continue;
      }
      const wantTb = !!h.tb && (bi + 1) % h.tbEvery === 0;
      // --cuda-graph: the batch is copied into the graph's static inputs and the whole step replayed (timed as
      // the forward part); the same metrics are then queued on the device from the graph's static outputs.
      const replayed = p.graph?.step(x, y) ?? null;
      let tbLoss: number | null;
      if (replayed) {
        clock.lap('forward');
        if (p.perBatch) p.sched?.step();
        clock.lap('optimizer');
        tbLoss = tidy(() => {
          meter.add(replayed.loss, replayed.out, replayed.y);
          return wantTb ? replayed.loss.item() : null;
        });
        clock.lap('metrics');
      } else {
        x = toDevice(x, p.device);
        y = toDevice(y, p.device);
        clock.lap('h2d');
        tbLoss = tidy(() => {
          p.optimizer.zeroGrad();
          clock.lap('optimizer');
          const { out, loss } = withAutocast(p.autocast, () => {
            const o = p.model.forward(x) as Tensor;
            return { out: o, loss: p.criterion.forward(o, y) };
          });
          clock.lap('forward');
          loss.backward();
          clock.lap('backward');
          p.optimizer.step();
          if (p.perBatch) p.sched?.step();
          clock.lap('optimizer');
          meter.add(loss, out, y);
          // --tensorboard's per-step loss is the one per-batch read left, every tbEvery batches.
          const l = wantTb ? loss.item() : null;
          clock.lap('metrics');
          return l;
        });
      }
      // Freeing the step's tensors (the end of tidy) and the batch, and yielding, are "the rest".
      x.dispose();
      y.dispose();
      bi++;
      // Let signal handlers run: an async iterator alone only ever yields to microtasks.
      await new Promise((r) => setImmediate(r));
      clock.lap('other');
      if (tbLoss !== null) h.tb!.addScalar('Loss/train_step', tbLoss, h.stepBase + bi);
      if (h.bar.due(bi, batches)) {
        const s = meter.read();
        h.bar.update({ batch: bi, batches, images: meter.seen, loss: s.lossSum / Math.max(s.seen, 1), acc: s.correct / Math.max(s.seen, 1) });
      }
      clock.lap('metrics');
      if (h.stopped() && bi < batches) {
        interrupted = true;
        break;
      }
    }
    const s = meter.read();
    clock.lap('metrics');
    h.bar.end();
    const breakdown = clock.seconds();
    return { ...s, batches: bi, timeS: breakdownTotal(breakdown), breakdown, interrupted, hookS };
  } finally {
    // As for-await does on break or throw: the loader stops its workers' work for this epoch.
    if (!drained) await it.return?.();
    meter.dispose();
  }
}

/** Mean loss and accuracy over a loader, in eval mode without gradients; sums stay on the device until the end. */
/** fn in ck.autocast('cpu', { dtype }) when dtype is set, else as it is. */
function withAutocast<T>(dtype: AutocastDtype | null | undefined, fn: () => T): T {
  return dtype ? autocast('cpu', { dtype }, fn) : fn();
}

/**
 * Mean loss and accuracy over a loader, in eval mode without gradients; sums stay on the device until the end.
 * `autocastDtype`: evaluate under ck.autocast('cpu') as the run trained (--autocast).
 */
export async function evaluate(model: Module, loader: DataLoader, criterion: CrossEntropyLoss, confusion?: number[][], autocastDtype: AutocastDtype | null = null): Promise<{ loss: number; acc: number }> {
  model.eval();
  const meter = new DeviceMeter(String(loader.device), { lossSum: 0, correct: 0, seen: 0 });
  try {
    for await (const [x, y] of loader as AsyncIterable<Tensor[]>) {
      const preds = tidy(() => noGrad(() => {
        const out = withAutocast(autocastDtype, () => model.forward(x) as Tensor);
        meter.add(criterion.forward(out, y), out, y);
        return confusion ? (out.argmax(1).dataSync() as Int32Array | Float32Array) : null;
      }));
      if (confusion && preds) {
        const truth = y.dataSync();
        for (let i = 0; i < truth.length; i++) confusion[truth[i]][preds[i]]++;
      }
      x.dispose();
      y.dispose();
    }
    const s = meter.read();
    return { loss: s.lossSum / Math.max(s.seen, 1), acc: s.correct / Math.max(s.seen, 1) };
  } finally {
    meter.dispose();
  }
}
