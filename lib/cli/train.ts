/**
 * `convkit train`: the documented training loop (a ck.tidy() per step) around a zoo model and a
 * dataset, with progress, per-epoch metrics, weights, a checkpoint and an HTML report in a run folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cuda } from '../device';
import { DataLoader } from '../data';
import { noGrad } from '../autograd/grad_mode';
import { tidy } from '../memory';
import { manualSeed } from '../random';
import { CrossEntropyLoss } from '../nn/layers';
import { Module } from '../nn/module';
import { Optimizer, SGD, Adam, AdamW, RMSprop, lrScheduler } from '../optim';
import type { Scheduler } from '../optim/lr_scheduler';
import { openWeights, loadWeightsInto } from '../models';
import { countParameters, freezeBackbone, summary } from '../utils';
import { Tensor } from '../tensor';
import { SummaryWriter } from '../utils/tensorboard';
import { openData, DataBundle } from './datasets';
import { CliError, isDiskFull } from './errors';
import { dataParallel } from './launch';
import { RunLock } from './lock';
import { zooEntry } from './models';
import { Progress } from './progress';
import { renderReport } from './report';
import {
  Checkpoint, currentRng, EpochMetrics, FILES, Position, readCheckpointInfo, readMetrics, removeStrayTemps, restoreCheckpoint, restoreRng,
  saveCheckpoint, saveWeights, writeMetrics, writeTextAtomic,
} from './run_folder';

export type OptimizerName = 'adamw' | 'adam' | 'sgd' | 'rmsprop';
export type SchedulerName = 'cosine' | 'step' | 'onecycle' | 'none';

/** Everything that defines a run; stored in its checkpoint so --resume rebuilds the same run. */
export interface TrainSettings {
  model: string;
  data: string | null;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number | null;
  labelSmoothing: number;
  optimizer: OptimizerName;
  scheduler: SchedulerName;
  device: string;
  seed: number;
  workers: number;
  weights: string | null;
  freezeBackbone: boolean;
  augment: boolean;
  imageSize: number | null;
  limitTrain: number | null;
  limitTest: number | null;
}

export interface TrainIO {
  quiet: boolean;
  json: boolean;
  /** Run folder (a new one) or, with resume, the folder to continue. */
  out: string | null;
  resume: string | null;
  /** Settings given on the command line while resuming (only these may change: epochs, workers, device). */
  overrides: Partial<TrainSettings>;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /**
   * TensorBoard log folder (--tensorboard): per epoch Loss/train, Loss/test, Accuracy/train,
   * Accuracy/test and LearningRate (step = epoch), and Loss/train_step every TB_STEP_EVERY batches
   * (step = global batch index).
   */
  tensorboard?: string | null;
}

/** --tensorboard logs the training loss every this many batches. */
export const TB_STEP_EVERY = 10;

export interface TrainResult {
  outDir: string;
  metrics: EpochMetrics[];
  finalAcc: number;
  best: { acc: number; epoch: number };
  interrupted: boolean;
  /** The signal that interrupted the run (SIGINT: Ctrl-C; SIGTERM: a scheduler, `docker stop`, kill). */
  signal: StopSignal | null;
}

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The exit code of a run stopped by a signal, as a shell reports a process killed by it: 128 + its number. */
export const SIGNAL_EXIT: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export function bestDevice(): string {
  // The emulated CUDA device runs kernels one block at a time on the host: right for testing, far
  // slower than the CPU backend for training.
  return cuda.isAvailable() && !cuda.isEmulated() ? 'cuda' : 'cpu';
}

function makeOptimizer(name: OptimizerName, params: Tensor[], lr: number, wd: number | null): Optimizer {
  switch (name) {
    case 'adamw':
      return new AdamW(params, { lr, weightDecay: wd ?? 0.01 });
    case 'adam':
      return new Adam(params, { lr, weightDecay: wd ?? 0 });
    case 'sgd':
      return new SGD(params, { lr, momentum: 0.9, nesterov: true, weightDecay: wd ?? 5e-4 });
    case 'rmsprop':
      return new RMSprop(params, { lr, weightDecay: wd ?? 0 });
    default:
      throw new CliError(`--optimizer ${String(name)}: expected adamw, adam, sgd or rmsprop`);
  }
}

/** The schedule, and whether it steps per batch (true) or per epoch. */
function makeScheduler(name: SchedulerName, opt: Optimizer, s: TrainSettings, stepsPerEpoch: number): { sched: Scheduler | null; perBatch: boolean } {
  const total = s.epochs * stepsPerEpoch;
  switch (name) {
    case 'cosine':
      // Per step rather than per epoch: with the few epochs of a CLI run, per-epoch steps leave the
      // last epoch at a plateau instead of annealing through it.
      return { sched: new lrScheduler.CosineAnnealingLR(opt, total), perBatch: true };
    case 'onecycle':
      return { sched: new lrScheduler.OneCycleLR(opt, s.lr, { totalSteps: total }), perBatch: true };
    case 'step':
      return { sched: new lrScheduler.StepLR(opt, Math.max(1, Math.floor(s.epochs / 3)), { gamma: 0.1 }), perBatch: false };
    case 'none':
      return { sched: null, perBatch: false };
    default:
      throw new CliError(`--scheduler ${String(name)}: expected cosine, step, onecycle or none`);
  }
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function freshRunDir(out: string | null): string {
  let dir = out ?? path.join('runs', timestamp());
  if (!out) for (let i = 2; fs.existsSync(dir); i++) dir = path.join('runs', `${timestamp()}-${i}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * ENOSPC/EDQUOT while writing `file` of the run folder, as one line that says what is on disk: the
 * writer removed its temporary file, so `file` is as it was, and the last checkpoint is intact.
 */
function diskFullError(e: NodeJS.ErrnoException, file: string, outDir: string, lastCk: { epoch: number; batch: number } | null): CliError {
  const what = e.code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on the device';
  const kept = lastCk
    ? `the last complete checkpoint (after epoch ${lastCk.epoch}${lastCk.batch ? `, batch ${lastCk.batch}` : ''}) at ${path.join(outDir, FILES.checkpoint)} is intact; ` +
      `free some space, then continue with: convkit train --resume ${outDir}`
    : `no checkpoint had been written yet; free some space, then start the run again`;
  return new CliError(`${what} (${e.code}) while writing ${file}, which was left as it was; ${kept}`, 'ERR_DISK_FULL', 1);
}

interface Built {
  bundle: DataBundle;
  model: Module;
  optimizer: Optimizer;
  sched: Scheduler | null;
  perBatch: boolean;
  trainLoader: DataLoader;
  testLoader: DataLoader;
  forward: Module; // the model, or its DistributedDataParallel wrapper under --nproc-per-node
  summaryText: string;
  notes: string[];
}

function build(s: TrainSettings): Built {
  const { name, entry } = zooEntry(s.model);
  const notes: string[] = [];
  const probeSize = s.imageSize ?? undefined;
  let bundle = openData(s.data ?? undefined, { size: probeSize, augment: s.augment, limitTrain: s.limitTrain ?? undefined, limitTest: s.limitTest ?? undefined });
  if (bundle.size < entry.minSize) {
    notes.push(`${name} needs inputs of at least ${entry.minSize}x${entry.minSize}; resizing the ${bundle.size}x${bundle.size} images`);
    bundle = openData(s.data ?? undefined, { size: entry.minSize, augment: s.augment, limitTrain: s.limitTrain ?? undefined, limitTest: s.limitTest ?? undefined });
  }
  notes.push(...bundle.notes);
  const model = entry.build({ inChannels: bundle.channels, numClasses: bundle.classes.length });
  if (s.weights) {
    const w = openWeights(s.weights);
    try {
      const r = loadWeightsInto(model, w, { head: entry.head, stem: entry.stem, source: s.weights, onNote: (n) => notes.push(n) });
      notes.push(`loaded ${r.loaded} tensors from ${s.weights}`);
    } finally {
      w.dispose();
    }
  }
  if (s.freezeBackbone) {
    const f = freezeBackbone(model, { head: entry.head });
    notes.push(`backbone frozen: ${f.trainable.toLocaleString('en-US')} trainable, ${f.frozen.toLocaleString('en-US')} frozen parameters`);
  }
  model.to(s.device as 'cpu');
  let summaryText: string;
  try {
    summaryText = summary(model, [1, bundle.channels, bundle.size, bundle.size]).toString();
  } catch (e) {
    summaryText = `(no summary: ${(e as Error).message})\nparameters: ${countParameters(model).toLocaleString('en-US')}`;
  }
  const params = model.parameters().filter((p) => p.requiresGrad);
  const optimizer = makeOptimizer(s.optimizer, params, s.lr, s.weightDecay);
  const dp = dataParallel(model, bundle.train, s.batchSize, s.seed);
  const trainLoader = new DataLoader(dp.trainSet, { batchSize: dp.batchSize, shuffle: true, numWorkers: s.workers, device: s.device as 'cpu', persistentWorkers: s.workers > 0 });
  const testLoader = new DataLoader(bundle.test, { batchSize: Math.max(s.batchSize, 256), numWorkers: s.workers, device: s.device as 'cpu', persistentWorkers: s.workers > 0 });
  const { sched, perBatch } = makeScheduler(s.scheduler, optimizer, s, trainLoader.length);
  return { bundle, model, optimizer, sched, perBatch, trainLoader, testLoader, forward: dp.forward, summaryText, notes };
}

/** Mean loss and accuracy over a loader, in eval mode without gradients. */
export async function evaluate(model: Module, loader: DataLoader, criterion: CrossEntropyLoss, confusion?: number[][]): Promise<{ loss: number; acc: number }> {
  model.eval();
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  for await (const [x, y] of loader as AsyncIterable<Tensor[]>) {
    const [l, c, preds] = tidy(() => noGrad(() => {
      const out = model.forward(x) as Tensor;
      const pred = out.argmax(1);
      const loss = criterion.forward(out, y).item();
      const c = pred.eq(y).sum().item();
      return [loss, c, confusion ? (pred.dataSync() as Int32Array | Float32Array) : null] as const;
    }));
    if (confusion && preds) {
      const truth = y.dataSync();
      for (let i = 0; i < truth.length; i++) confusion[truth[i]][preds[i]]++;
    }
    lossSum += l * x.shape[0];
    correct += c;
    seen += x.shape[0];
    x.dispose();
    y.dispose();
  }
  return { loss: lossSum / Math.max(seen, 1), acc: correct / Math.max(seen, 1) };
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

function weightsMeta(name: string, b: DataBundle, m: EpochMetrics | undefined): Record<string, string> {
  return {
    format: 'pt',
    'convkit.model': name,
    'convkit.in_channels': String(b.channels),
    'convkit.num_classes': String(b.classes.length),
    'convkit.image_size': String(b.size),
    'convkit.mean': JSON.stringify(b.mean),
    'convkit.std': JSON.stringify(b.std),
    'convkit.classes': JSON.stringify(b.classes),
    'convkit.data_kind': b.kind,
    ...(m ? { 'convkit.epoch': String(m.epoch), 'convkit.test_acc': String(m.test_acc) } : {}),
  };
}

export async function train(settingsIn: TrainSettings, io: TrainIO): Promise<TrainResult> {
  // Human-readable lines go to stdout, unless stdout carries JSON lines: then to stderr.
  const say = (line: string) => {
    if (!io.quiet) (io.json ? io.stderr : io.stdout).write(`${line}\n`);
  };
  const emit = (obj: Record<string, unknown>) => {
    if (io.json) io.stdout.write(`${JSON.stringify(obj)}\n`);
  };
  const early: string[] = [];
  let outDir: string;
  if (io.resume) {
    outDir = io.resume;
    if (!fs.existsSync(outDir)) readCheckpointInfo(outDir); // the error that says what is missing
  } else outDir = freshRunDir(io.out);
  // One writer per run folder, from before anything in it is read or written.
  const lock = RunLock.acquire(outDir, (n) => early.push(n));

  // SIGINT (Ctrl-C) and SIGTERM (schedulers, `docker stop`, kill) stop the run at the end of the
  // current batch with a checkpoint there; a second one exits at once (the 'exit' hook frees the lock).
  let stop: StopSignal | null = null;
  const onSignal = (sig: StopSignal) => {
    const name = sig === 'SIGINT' ? 'Ctrl-C' : sig;
    if (stop) {
      io.stderr.write(`\nsecond ${name}: exiting without a checkpoint\n`);
      process.exit(SIGNAL_EXIT[sig]);
    }
    stop = sig;
    io.stderr.write(`\n${name}: saving a checkpoint at the end of this batch (${name} again to quit at once)\n`);
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    return await trainLocked(settingsIn, io, outDir, early, say, emit, () => stop);
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigterm);
    lock.release();
  }
}

async function trainLocked(
  settingsIn: TrainSettings, io: TrainIO, outDir: string, early: string[], say: (line: string) => void, emit: (obj: Record<string, unknown>) => void,
  stopped: () => StopSignal | null,
): Promise<TrainResult> {
  let settings = settingsIn;
  let resumed: { ck: Checkpoint; file: string } | null = null;
  if (io.resume) {
    resumed = readCheckpointInfo(outDir);
    settings = { ...(resumed.ck.settings as unknown as TrainSettings), ...io.overrides };
  } else if (fs.existsSync(path.join(outDir, FILES.checkpoint))) {
    throw new CliError(`--out ${outDir} already holds a run; continue it with --resume ${outDir}, or choose another folder`, 'ERR_RUN_EXISTS');
  }
  // Temporary files of writes cut short by kill -9: no live writer owns them while the lock is held.
  const stray = removeStrayTemps(outDir);
  if (stray.files.length) early.push(`removed ${stray.files.length} temporary file(s) (${stray.bytes.toLocaleString('en-US')} bytes) left by an interrupted write: ${stray.files.join(', ')}`);
  let lastCk: { epoch: number; batch: number } | null = resumed ? { epoch: resumed.ck.epoch, batch: resumed.ck.batch } : null;
  // Every write of the run folder: a full disk becomes one line that says what was kept.
  const guard = (file: string, write: () => void) => {
    try {
      write();
    } catch (e) {
      if (isDiskFull(e)) throw diskFullError(e as NodeJS.ErrnoException, file, outDir, lastCk);
      throw e;
    }
  };

  manualSeed(settings.seed);
  const b = build(settings);
  const { name } = zooEntry(settings.model);
  const criterion = new CrossEntropyLoss({ labelSmoothing: settings.labelSmoothing });
  let metrics: EpochMetrics[] = [];
  let pos: Position = { epoch: 0, batch: 0, epochRng: currentRng(), partial: { lossSum: 0, correct: 0, seen: 0, timeS: 0, lr: 0 }, best: { acc: -1, epoch: 0 } };
  let rngAfterSkip = null as Checkpoint['rng'] | null;
  if (resumed) {
    restoreCheckpoint(resumed.file, resumed.ck, b.model, b.optimizer, b.sched);
    pos = { epoch: resumed.ck.epoch, batch: resumed.ck.batch, epochRng: resumed.ck.epochRng, partial: resumed.ck.partial, best: resumed.ck.best };
    rngAfterSkip = resumed.ck.rng;
    // Epochs the checkpoint has not seen (a crash between the two writes) are dropped, so the curve
    // continues from exactly where the weights are.
    metrics = readMetrics(outDir).filter((m) => m.epoch <= pos.epoch);
    guard(path.join(outDir, FILES.metrics), () => writeMetrics(outDir, metrics));
    if (pos.batch === 0) restoreRng(resumed.ck.rng);
  } else {
    const f = path.join(outDir, FILES.settings);
    guard(f, () => writeTextAtomic(f, `${JSON.stringify(settings, null, 2)}\n`));
  }
  const nTrain = b.bundle.train.length;
  const nTest = b.bundle.test.length;
  const params = countParameters(b.model);
  emit({ event: 'start', outDir, settings, trainSize: nTrain, testSize: nTest, parameters: params, resumedAt: resumed ? { epoch: pos.epoch, batch: pos.batch } : null });
  say(`convkit train: ${name} (${params.toLocaleString('en-US')} parameters) on ${b.bundle.kind} ${b.bundle.root} (${nTrain} train / ${nTest} test, ${b.bundle.channels}x${b.bundle.size}x${b.bundle.size}, ${b.bundle.classes.length} classes)`);
  say(`  ${settings.device}, ${settings.optimizer} lr ${settings.lr}, ${settings.scheduler} schedule, ${settings.epochs} epoch(s) of ${b.trainLoader.length} batches of ${settings.batchSize}, seed ${settings.seed} -> ${outDir}`);
  if (resumed) say(`  resuming after epoch ${pos.epoch}${pos.batch ? `, batch ${pos.batch}` : ''}`);
  for (const n of [...early, ...b.notes]) say(`  note: ${n}`);

  const report = (status: string) => {
    const f = path.join(outDir, FILES.report);
    guard(f, () => writeTextAtomic(f, renderReport({
      title: `convkit run ${path.basename(path.resolve(outDir))}: ${name} on ${b.bundle.kind}`,
      metrics, settings: { ...settings, outDir, trainSize: nTrain, testSize: nTest, parameters: params }, summary: b.summaryText, status,
    })));
  };
  const saveCk = () => {
    guard(path.join(outDir, FILES.checkpoint), () => saveCheckpoint(outDir, pos, b.model, b.optimizer, b.sched, settings as unknown as Record<string, unknown>));
    lastCk = { epoch: pos.epoch, batch: pos.batch };
  };
  const weights = (file: string, m: EpochMetrics | undefined) => {
    const f = path.join(outDir, file);
    guard(f, () => saveWeights(f, b.model, weightsMeta(name, b.bundle, m)));
  };
  const progressOn = !io.quiet && (!!io.stderr.isTTY || !io.json);
  let interrupted = false;
  // A resumed run appends a new event file to the same folder; TensorBoard merges them by step.
  const tb = io.tensorboard ? new SummaryWriter(io.tensorboard, { flushSecs: 5 }) : null;
  try {
    // A signal that came while the data and the model were being set up is seen here.
    await new Promise((r) => setImmediate(r));
    for (let epoch = pos.epoch + 1; epoch <= settings.epochs && !interrupted; epoch++) {
      if (stopped()) {
        interrupted = true;
        break;
      }
      const skip = pos.batch;
      if (skip > 0) restoreRng(pos.epochRng);
      else pos.epochRng = currentRng();
      let { lossSum, correct, seen, timeS } = skip > 0 ? pos.partial : { lossSum: 0, correct: 0, seen: 0, timeS: 0 };
      const lr = skip > 0 ? pos.partial.lr : b.optimizer.paramGroups[0].lr;
      const bar = new Progress(io.stderr, `epoch ${epoch}/${settings.epochs}`, progressOn);
      b.model.train();
      const t0 = Date.now();
      bar.begin();
      let bi = 0;
      const batches = b.trainLoader.length;
      for await (const [x, y] of b.trainLoader as AsyncIterable<Tensor[]>) {
        if (bi < skip) {
          // Replaying the interrupted epoch's order: these batches were trained on before the checkpoint.
          x.dispose();
          y.dispose();
          bi++;
          if (bi === skip && rngAfterSkip) restoreRng(rngAfterSkip);
          continue;
        }
        const [l, c] = tidy(() => {
          b.optimizer.zeroGrad();
          const out = b.forward.forward(x) as Tensor;
          const loss = criterion.forward(out, y);
          loss.backward();
          b.optimizer.step();
          return [loss.item(), noGrad(() => out.argmax(1).eq(y).sum().item())];
        });
        if (b.perBatch) b.sched?.step();
        const n = x.shape[0];
        x.dispose();
        y.dispose();
        lossSum += l * n;
        correct += c;
        seen += n;
        bi++;
        if (tb && bi % TB_STEP_EVERY === 0) tb.addScalar('Loss/train_step', l, (epoch - 1) * batches + bi);
        bar.update({ batch: bi, batches, images: seen - (skip ? pos.partial.seen : 0), loss: lossSum / seen, acc: correct / seen });
        // Let signal handlers run: an async iterator alone only ever yields to microtasks.
        await new Promise((r) => setImmediate(r));
        if (stopped() && bi < batches) {
          pos = { ...pos, epoch: epoch - 1, batch: bi, partial: { lossSum, correct, seen, timeS: timeS + (Date.now() - t0) / 1000, lr } };
          interrupted = true;
          break;
        }
      }
      bar.end();
      if (interrupted) break;
      const trainS = timeS + (Date.now() - t0) / 1000;
      if (!b.perBatch) b.sched?.step();
      const ev = await evaluate(b.model, b.testLoader, criterion);
      const m: EpochMetrics = {
        epoch, train_loss: lossSum / seen, train_acc: correct / seen, test_loss: ev.loss, test_acc: ev.acc, lr,
        time_s: trainS, images_per_s: seen / Math.max(trainS, 1e-9),
      };
      metrics.push(m);
      if (tb) {
        tb.addScalar('Loss/train', m.train_loss, epoch);
        tb.addScalar('Loss/test', m.test_loss, epoch);
        tb.addScalar('Accuracy/train', m.train_acc, epoch);
        tb.addScalar('Accuracy/test', m.test_acc, epoch);
        tb.addScalar('LearningRate', lr, epoch);
        tb.flush();
      }
      pos = { ...pos, epoch, batch: 0, partial: { lossSum: 0, correct: 0, seen: 0, timeS: 0, lr: 0 } };
      if (ev.acc > pos.best.acc) {
        pos.best = { acc: ev.acc, epoch };
        weights(FILES.best, m);
      }
      // Checkpoint before the metrics line: a metrics line never refers to weights that were not saved.
      saveCk();
      guard(path.join(outDir, FILES.metrics), () => writeMetrics(outDir, metrics));
      report(`epoch ${epoch} of ${settings.epochs} done`);
      emit({ event: 'epoch', ...m });
      say(`epoch ${epoch}/${settings.epochs}  train loss ${m.train_loss.toFixed(4)} acc ${pct(m.train_acc)}  test loss ${m.test_loss.toFixed(4)} acc ${pct(m.test_acc)}  lr ${lr.toExponential(2)}  ${trainS.toFixed(1)}s (${Math.round(m.images_per_s)} img/s)`);
      if (stopped() && epoch < settings.epochs) {
        interrupted = true;
        break;
      }
    }
    if (interrupted) {
      saveCk();
      report(`interrupted after epoch ${pos.epoch}${pos.batch ? `, batch ${pos.batch}` : ''}; resume with convkit train --resume ${outDir}`);
      const msg = `interrupted: checkpoint saved after epoch ${pos.epoch}${pos.batch ? `, batch ${pos.batch}` : ''} in ${outDir}; continue with: convkit train --resume ${outDir}`;
      emit({ event: 'interrupted', epoch: pos.epoch, batch: pos.batch, outDir, signal: stopped() });
      io.stderr.write(`${msg}\n`);
    } else {
      const last = metrics[metrics.length - 1];
      weights(FILES.final, last);
      report(`finished: ${metrics.length} epochs, final test accuracy ${last ? pct(last.test_acc) : '-'}`);
      emit({ event: 'done', outDir, test_acc: last?.test_acc ?? null, best: pos.best, epochs: metrics.length });
      if (!io.json) io.stdout.write(`Final test accuracy: ${last ? pct(last.test_acc) : '-'} (best ${pct(pos.best.acc)} at epoch ${pos.best.epoch}); run folder: ${outDir}\n`);
    }
  } finally {
    tb?.close();
    await b.trainLoader.close();
    await b.testLoader.close();
  }
  const last = metrics[metrics.length - 1];
  return { outDir, metrics, finalAcc: last?.test_acc ?? NaN, best: pos.best, interrupted, signal: interrupted ? stopped() : null };
}
