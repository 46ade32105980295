/**
 * `convkit train`: the documented training loop (a ck.tidy() per step) around a zoo model and a
 * dataset, with progress, per-epoch metrics and step-time breakdown, weights, a checkpoint and an HTML
 * report in a run folder. This file runs the run: the folder and its lock, signals, resume, the epochs
 * and what is written after each; setup.ts builds the parts, epoch.ts runs one epoch.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cuda } from '../device';
import { manualSeed } from '../random';
import { getNumThreads, setNumThreads } from '../info';
import { CrossEntropyLoss } from '../nn/layers';
import { countParameters } from '../utils';
import { SummaryWriter } from '../utils/tensorboard';
import { Profile } from '../profiler';
import { addBreakdown, Breakdown, breakdownTotal, emptyBreakdown, formatBreakdown } from './breakdown';
import type { DataBundle } from './datasets';
import { evaluate, trainEpoch } from './epoch';
import { CliError, isDiskFull } from './errors';
import { RunLock } from './lock';
import { zooEntry } from './models';
import { Progress } from './progress';
import { renderReport } from './report';
import {
  Checkpoint, currentRng, EpochMetrics, FILES, Position, readCheckpointInfo, readMetrics, removeStrayTemps, restoreCheckpoint, restoreRng,
  saveCheckpoint, saveWeights, writeMetrics, writeTextAtomic,
} from './run_folder';
import { GraphStep, GRAPH_WARMUP_STEPS } from './graph_step';
import type { AutocastDtype } from '../autocast';
import { build, Built, computeThreads, describeSettings } from './setup';

export { evaluate } from './epoch';

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
  /** --cuda-graph: replay the training step as a CUDA graph (graph_step.ts); absent in older checkpoints. */
  cudaGraph?: boolean;
  /** --autocast bfloat16: conv2d and linear in bf16 with FP32 accumulation on the CPU (ck.autocast); absent in older checkpoints. */
  autocast?: AutocastDtype | null;
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
  /**
   * --profile: print each epoch's step-time breakdown; on CUDA wait for the device at each part's end so
   * the parts hold their own kernels; profile PROFILE_STEPS steps of the first epoch with ck.profiler
   * into profile-trace.json (Chrome trace) and profile-ops.txt (the op table).
   */
  profile?: boolean;
  /** --threads: threads of the CPU kernels; unset, every core, or with an image folder the cores its loader workers leave (setup.ts, computeThreads). */
  threads?: number | null;
}

/** --tensorboard logs the training loss every this many batches. */
export const TB_STEP_EVERY = 10;
/** --profile: the steps of the first epoch ck.profiler records (after two of warm-up). */
export const PROFILE_STEPS = { from: 2, count: 5 };

export interface TrainResult {
  outDir: string;
  metrics: EpochMetrics[];
  finalAcc: number;
  best: { acc: number; epoch: number };
  interrupted: boolean;
  /** The signal that interrupted the run (SIGINT: Ctrl-C; SIGTERM: a scheduler, `docker stop`, kill). */
  signal: StopSignal | null;
  /** --cuda-graph: the training steps replayed from the captured graph (0 without it). */
  graphReplays: number;
}

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The exit code of a run stopped by a signal, as a shell reports a process killed by it: 128 + its number. */
export const SIGNAL_EXIT: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export function bestDevice(): string {
  // The emulated CUDA device runs kernels one block at a time on the host: right for testing, far
  // slower than the CPU backend for training.
  return cuda.isAvailable() && !cuda.isEmulated() ? 'cuda' : 'cpu';
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

/** Where a checkpoint stands, in words: "after epoch 2", or "in epoch 3 after batch 5" (epoch 3 unfinished). */
export function where(p: { epoch: number; batch: number }): string {
  return p.batch ? `in epoch ${p.epoch + 1} after batch ${p.batch}` : `after epoch ${p.epoch}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * ENOSPC/EDQUOT while writing `file` of the run folder, as one line that says what is on disk: the
 * writer removed its temporary file, so `file` is as it was, and the last checkpoint is intact.
 */
function diskFullError(e: NodeJS.ErrnoException, file: string, outDir: string, lastCk: { epoch: number; batch: number } | null): CliError {
  const what = e.code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on the device';
  const kept = lastCk
    ? `the last complete checkpoint (${where(lastCk)}) at ${path.join(outDir, FILES.checkpoint)} is intact; ` +
      `free some space, then continue with: convkit train --resume ${outDir}`
    : `no checkpoint had been written yet; free some space, then start the run again`;
  return new CliError(`${what} (${e.code}) while writing ${file}, which was left as it was; ${kept}`, 'ERR_DISK_FULL', 1);
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
  let created = false;
  if (io.resume) {
    outDir = io.resume;
    if (!fs.existsSync(outDir)) readCheckpointInfo(outDir); // the error that says what is missing
  } else {
    created = !io.out || !fs.existsSync(io.out);
    outDir = freshRunDir(io.out);
  }
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
  let failed = true;
  try {
    const r = await trainLocked(settingsIn, io, outDir, early, say, emit, () => stop);
    failed = false;
    return r;
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigterm);
    lock.release();
    // A run that failed before its first checkpoint leaves nothing worth keeping: no empty run folders.
    if (failed && created && !fs.existsSync(path.join(outDir, FILES.checkpoint))) fs.rmSync(outDir, { recursive: true, force: true });
  }
}

/** The run's state at its start: fresh, or read back from the folder's checkpoint. */
interface Opened {
  settings: TrainSettings;
  resumed: { ck: Checkpoint; file: string } | null;
}

function openRun(settingsIn: TrainSettings, io: TrainIO, outDir: string, early: string[]): Opened {
  let settings = settingsIn;
  let resumed: Opened['resumed'] = null;
  if (io.resume) {
    resumed = readCheckpointInfo(outDir);
    settings = { ...(resumed.ck.settings as unknown as TrainSettings), ...io.overrides };
  } else if (fs.existsSync(path.join(outDir, FILES.checkpoint))) {
    throw new CliError(`--out ${outDir} already holds a run; continue it with --resume ${outDir}, or choose another folder`, 'ERR_RUN_EXISTS');
  }
  // Temporary files of writes cut short by kill -9: no live writer owns them while the lock is held.
  const stray = removeStrayTemps(outDir);
  if (stray.files.length) early.push(`removed ${stray.files.length} temporary file(s) (${stray.bytes.toLocaleString('en-US')} bytes) left by an interrupted write: ${stray.files.join(', ')}`);
  return { settings, resumed };
}

/** The run folder's writes; a full disk becomes one line that says what was kept. */
class RunFiles {
  lastCk: { epoch: number; batch: number } | null;
  constructor(private readonly outDir: string, private readonly name: string, private readonly b: Built, private readonly settings: TrainSettings, resumedAt: { epoch: number; batch: number } | null) {
    this.lastCk = resumedAt;
  }

  guard(file: string, write: () => void): void {
    try {
      write();
    } catch (e) {
      if (isDiskFull(e)) throw diskFullError(e as NodeJS.ErrnoException, file, this.outDir, this.lastCk);
      throw e;
    }
  }

  settingsFile(): void {
    const f = path.join(this.outDir, FILES.settings);
    this.guard(f, () => writeTextAtomic(f, `${JSON.stringify(this.settings, null, 2)}\n`));
  }

  metrics(metrics: EpochMetrics[]): void {
    this.guard(path.join(this.outDir, FILES.metrics), () => writeMetrics(this.outDir, metrics));
  }

  report(metrics: EpochMetrics[], status: string): void {
    const f = path.join(this.outDir, FILES.report);
    const { bundle } = this.b;
    const settings = { ...describeSettings(this.settings, bundle), outDir: this.outDir, trainSize: bundle.train.length, testSize: bundle.test.length, parameters: countParameters(this.b.model) };
    this.guard(f, () => writeTextAtomic(f, renderReport({
      title: `convkit run ${path.basename(path.resolve(this.outDir))}: ${this.name} on ${bundle.kind}`, metrics, settings, summary: this.b.summaryText, status,
    })));
  }

  checkpoint(pos: Position): void {
    this.guard(path.join(this.outDir, FILES.checkpoint), () => saveCheckpoint(this.outDir, pos, this.b.model, this.b.optimizer, this.b.sched, this.settings as unknown as Record<string, unknown>));
    this.lastCk = { epoch: pos.epoch, batch: pos.batch };
  }

  weights(file: string, m: EpochMetrics | undefined): void {
    const f = path.join(this.outDir, file);
    this.guard(f, () => saveWeights(f, this.b.model, weightsMeta(this.name, this.b.bundle, m)));
  }

  text(file: string, text: string): void {
    const f = path.join(this.outDir, file);
    this.guard(f, () => writeTextAtomic(f, text));
  }
}

/**
 * --profile: ck.profiler around a few steps of the first epoch trained (steps 2 to 6 after two of warm-up, or
 * as many as a short epoch has), written next to the run's other files; on CUDA with CUDA-event timings too.
 */
function stepProfiler(files: RunFiles, b: Built, device: string, say: (l: string) => void): { onStep: (batch: number) => void; finish: () => void } {
  const batches = b.trainLoader.length;
  const from = batches >= PROFILE_STEPS.from + PROFILE_STEPS.count ? PROFILE_STEPS.from : 0;
  const count = Math.min(PROFILE_STEPS.count, batches - from);
  let prof: Profile | null = null;
  let steps = 0;
  let done = false;
  const finish = () => {
    if (!prof || done) return;
    done = true;
    prof.stop();
    const table = prof.keyAverages().table({ rowLimit: 25 });
    files.text('profile-ops.txt', table);
    files.text('profile-trace.json', JSON.stringify(prof.chromeTrace()));
    say(`  ck.profiler, ${plural(steps, 'step')}: profile-trace.json (open in https://ui.perfetto.dev), profile-ops.txt; the top ops by self time:`);
    for (const l of prof.keyAverages().table({ rowLimit: 8 }).trimEnd().split('\n')) say(`    ${l}`);
  };
  const onStep = (batch: number) => {
    if (done) return;
    if (batch === from) prof = new Profile({ withModules: b.model, activities: device.startsWith('cuda') ? ['cpu', 'cuda'] : ['cpu'] }).start();
    if (!prof) return;
    if (batch === from + count) finish();
    else {
      prof.step();
      steps++;
    }
  };
  return { onStep, finish };
}

/** Where the run starts: the beginning, or the checkpoint's position with its model, optimizer, metrics and random streams. */
function startPosition(resumed: Opened['resumed'], b: Built, files: RunFiles, outDir: string): { metrics: EpochMetrics[]; pos: Position; rngAfterSkip: Checkpoint['rng'] | null } {
  if (!resumed) {
    files.settingsFile();
    const pos = { epoch: 0, batch: 0, epochRng: currentRng(), partial: { lossSum: 0, correct: 0, seen: 0, timeS: 0, lr: 0 }, best: { acc: -1, epoch: 0 } };
    return { metrics: [], pos, rngAfterSkip: null };
  }
  restoreCheckpoint(resumed.file, resumed.ck, b.model, b.optimizer, b.sched);
  const { ck } = resumed;
  const pos: Position = { epoch: ck.epoch, batch: ck.batch, epochRng: ck.epochRng, partial: ck.partial, best: ck.best };
  // Epochs the checkpoint has not seen (a crash between the two writes) are dropped, so the curve
  // continues from exactly where the weights are.
  const metrics = readMetrics(outDir).filter((m) => m.epoch <= pos.epoch);
  files.metrics(metrics);
  if (pos.batch === 0) restoreRng(ck.rng);
  return { metrics, pos, rngAfterSkip: ck.rng };
}

/** The start event and lines: model, data, recipe, where a resumed run continues, notes. */
function announce(
  name: string, b: Built, settings: TrainSettings, outDir: string, resumedAt: Position | null, early: string[], say: (l: string) => void, emit: (o: Record<string, unknown>) => void,
): void {
  const nTrain = b.bundle.train.length;
  const nTest = b.bundle.test.length;
  const params = countParameters(b.model);
  const threads = getNumThreads();
  emit({ event: 'start', outDir, settings, threads, trainSize: nTrain, testSize: nTest, parameters: params, resumedAt: resumedAt ? { epoch: resumedAt.epoch, batch: resumedAt.batch } : null });
  say(`convkit train: ${name} (${params.toLocaleString('en-US')} parameters) on ${b.bundle.kind} ${b.bundle.root} (${nTrain} train / ${nTest} test, ${b.bundle.channels}x${b.bundle.size}x${b.bundle.size}, ${b.bundle.classes.length} classes)`);
  const onCpu = settings.device === 'cpu' ? ` (${plural(threads, 'kernel thread')}${settings.workers ? `, ${plural(settings.workers, 'loader worker')}` : ''})` : '';
  say(`  ${settings.device}${onCpu}, ${settings.optimizer} lr ${settings.lr}, ${settings.scheduler} schedule, ${plural(settings.epochs, 'epoch')} of ${b.trainLoader.length} batches of ${settings.batchSize}, seed ${settings.seed} -> ${outDir}`);
  if (resumedAt) say(`  resuming ${where(resumedAt)}`);
  for (const n of [...early, ...b.notes]) say(`  note: ${n}`);
}

/** The run's last writes and lines: a checkpoint where it was interrupted, or the final weights. */
function finishRun(interrupted: boolean, c: {
  files: RunFiles; metrics: EpochMetrics[]; pos: Position; outDir: string; emit: (o: Record<string, unknown>) => void; io: TrainIO; signal: StopSignal | null;
  graphReplays: number;
}): void {
  const { files, metrics, pos, outDir } = c;
  if (interrupted) {
    files.checkpoint(pos);
    files.report(metrics, `interrupted ${where(pos)}; resume with convkit train --resume ${outDir}`);
    c.emit({ event: 'interrupted', epoch: pos.epoch, batch: pos.batch, outDir, signal: c.signal });
    c.io.stderr.write(`interrupted ${where(pos)}: checkpoint saved in ${outDir}; continue with: convkit train --resume ${outDir}\n`);
    return;
  }
  const last = metrics[metrics.length - 1];
  files.weights(FILES.final, last);
  files.report(metrics, `finished: ${plural(metrics.length, 'epoch')}, final test accuracy ${last ? pct(last.test_acc) : '-'}`);
  c.emit({ event: 'done', outDir, test_acc: last?.test_acc ?? null, best: pos.best, epochs: metrics.length, graphReplays: c.graphReplays });
  if (!c.io.json) c.io.stdout.write(`Final test accuracy: ${last ? pct(last.test_acc) : '-'} (best ${pct(pos.best.acc)} at epoch ${pos.best.epoch}); run folder: ${outDir}\n`);
}

/** --cuda-graph's refusals that need no model: the device and the options the capture path does not support. */
function checkGraphOptions(s: TrainSettings, io: TrainIO): void {
  if (s.autocast && !s.device.startsWith('cpu'))
    throw new CliError(`--autocast ${s.autocast} is mixed precision on the CPU (ck.autocast('cpu')): convkit's CUDA kernels run in FP32 (TF32 with ck.backends.cuda.matmul.allowTF32), and this run trains on ${s.device}; drop --autocast or train with --device cpu`, 'ERR_UNSUPPORTED');
  if (!s.cudaGraph) return;
  if (!s.device.startsWith('cuda'))
    throw new CliError(`--cuda-graph needs a CUDA device (--device cuda): a CUDA graph replays GPU kernels, and this run trains on ${s.device}`, 'ERR_UNSUPPORTED');
  if (io.profile) throw new CliError('--cuda-graph with --profile: the profiler times the ops of eager steps, and a replayed graph runs none; drop one of them', 'ERR_UNSUPPORTED');
}

/** The --cuda-graph stepper for a built run, or null; refuses a run whose step cannot be captured. */
function graphStepFor(s: TrainSettings, b: Built, criterion: CrossEntropyLoss): GraphStep | null {
  if (!s.cudaGraph) return null;
  if (b.forward !== b.model)
    throw new CliError("--cuda-graph with --nproc-per-node: DistributedDataParallel's gradient all-reduce is host work between the kernels and cannot be captured", 'ERR_UNSUPPORTED');
  return new GraphStep({ model: b.forward, optimizer: b.optimizer, criterion, device: s.device, batchSize: s.batchSize });
}

async function trainLocked(
  settingsIn: TrainSettings, io: TrainIO, outDir: string, early: string[], say: (line: string) => void, emit: (obj: Record<string, unknown>) => void,
  stopped: () => StopSignal | null,
): Promise<TrainResult> {
  const { settings, resumed } = openRun(settingsIn, io, outDir, early);
  checkGraphOptions(settings, io);
  if (io.threads) setNumThreads(io.threads);
  manualSeed(settings.seed);
  const b = build(settings);
  if (!io.threads && settings.workers > 0) setNumThreads(computeThreads(settings.workers, b.bundle.kind));
  const { name } = zooEntry(settings.model);
  const criterion = new CrossEntropyLoss({ labelSmoothing: settings.labelSmoothing });
  const files = new RunFiles(outDir, name, b, settings, resumed ? { epoch: resumed.ck.epoch, batch: resumed.ck.batch } : null);
  const graph = graphStepFor(settings, b, criterion);
  if (graph) b.notes.push(`--cuda-graph: after ${GRAPH_WARMUP_STEPS} eager warm-up steps the training step is captured once and replayed for every full batch (a last partial batch and evaluation run eagerly)`);
  const start = startPosition(resumed, b, files, outDir);
  const { metrics, rngAfterSkip } = start;
  let { pos } = start;
  announce(name, b, settings, outDir, resumed ? pos : null, early, say, emit);

  const progressOn = !io.quiet && (!!io.stderr.isTTY || !io.json);
  let interrupted = false;
  // A resumed run appends a new event file to the same folder; TensorBoard merges them by step.
  const tb = io.tensorboard ? new SummaryWriter(io.tensorboard, { flushSecs: 5 }) : null;
  const prof = io.profile ? stepProfiler(files, b, settings.device, say) : null;
  try {
    // A signal that came while the data and the model were being set up is seen here.
    await new Promise((r) => setImmediate(r));
    for (let epoch = pos.epoch + 1; epoch <= settings.epochs; epoch++) {
      if (stopped()) {
        interrupted = true;
        break;
      }
      const skip = pos.batch;
      if (skip > 0) restoreRng(pos.epochRng);
      else pos.epochRng = currentRng();
      const base = skip > 0 ? pos.partial : { lossSum: 0, correct: 0, seen: 0, timeS: 0, lr: b.optimizer.paramGroups[0].lr };
      const t0 = Date.now();
      const r = await trainEpoch(
        { model: b.forward, optimizer: b.optimizer, sched: b.sched, perBatch: b.perBatch, loader: b.trainLoader, criterion, device: settings.device, graph, autocast: settings.autocast ?? null },
        { skip, base, afterSkip: () => rngAfterSkip && restoreRng(rngAfterSkip) },
        {
          bar: new Progress(io.stderr, `epoch ${epoch}/${settings.epochs}`, progressOn), tb, tbEvery: TB_STEP_EVERY, stepBase: (epoch - 1) * b.trainLoader.length,
          syncLaps: !!io.profile, stopped: () => stopped() !== null, onStep: prof?.onStep,
        },
      );
      // The epoch's time on a clock of its own; the breakdown's parts are checked against it. --profile's own
      // bookkeeping (starting ck.profiler, writing its trace and table) is not training time: kept off both.
      const timeS = base.timeS + (Date.now() - t0) / 1000 - r.hookS;
      prof?.finish();
      const breakdown = addBreakdown(r.breakdown, skip > 0 ? pos.partial.breakdown : undefined);
      if (r.interrupted) {
        pos = { ...pos, epoch: epoch - 1, batch: r.batches, partial: { lossSum: r.lossSum, correct: r.correct, seen: r.seen, timeS, lr: base.lr, breakdown } };
        interrupted = true;
        break;
      }
      if (!b.perBatch) b.sched?.step();
      const ev = await evaluate(b.model, b.testLoader, criterion, undefined, settings.autocast ?? null);
      const m: EpochMetrics = {
        epoch, train_loss: r.lossSum / r.seen, train_acc: r.correct / r.seen, test_loss: ev.loss, test_acc: ev.acc, lr: base.lr,
        time_s: timeS, images_per_s: r.seen / Math.max(timeS, 1e-9), breakdown: roundBreakdown(breakdown),
      };
      metrics.push(m);
      pos = { ...pos, epoch, batch: 0, partial: { lossSum: 0, correct: 0, seen: 0, timeS: 0, lr: 0 } };
      endOfEpoch(m, { files, metrics, pos, tb, say, emit, settings, profile: !!io.profile });
      if (stopped() && epoch < settings.epochs) {
        interrupted = true;
        break;
      }
    }
    if (graph) say(`  CUDA graph: ${plural(graph.replays, 'step')} replayed`);
    finishRun(interrupted, { files, metrics, pos, outDir, emit, io, signal: stopped(), graphReplays: graph?.replays ?? 0 });
  } finally {
    graph?.dispose();
    prof?.finish();
    tb?.close();
    await b.trainLoader.close();
    await b.testLoader.close();
  }
  const last = metrics[metrics.length - 1];
  return { outDir, metrics, finalAcc: last?.test_acc ?? NaN, best: pos.best, interrupted, signal: interrupted ? stopped() : null, graphReplays: graph?.replays ?? 0 };
}

const roundBreakdown = (b: Breakdown): Breakdown => {
  const out = emptyBreakdown();
  for (const k of Object.keys(b) as (keyof Breakdown)[]) out[k] = Number(b[k].toFixed(6));
  return out;
};

/** After an epoch: TensorBoard, the best weights, then checkpoint, metrics and report (in that order), then the lines. */
function endOfEpoch(m: EpochMetrics, c: {
  files: RunFiles; metrics: EpochMetrics[]; pos: Position; tb: SummaryWriter | null; say: (l: string) => void; emit: (o: Record<string, unknown>) => void;
  settings: TrainSettings; profile: boolean;
}): void {
  const { epoch } = m;
  if (c.tb) {
    c.tb.addScalar('Loss/train', m.train_loss, epoch);
    c.tb.addScalar('Loss/test', m.test_loss, epoch);
    c.tb.addScalar('Accuracy/train', m.train_acc, epoch);
    c.tb.addScalar('Accuracy/test', m.test_acc, epoch);
    c.tb.addScalar('LearningRate', m.lr, epoch);
    c.tb.flush();
  }
  if (m.test_acc > c.pos.best.acc) {
    c.pos.best = { acc: m.test_acc, epoch };
    c.files.weights(FILES.best, m);
  }
  // Checkpoint before the metrics line: a metrics line never refers to weights that were not saved.
  c.files.checkpoint(c.pos);
  c.files.metrics(c.metrics);
  c.files.report(c.metrics, `epoch ${epoch} of ${c.settings.epochs} done`);
  c.emit({ event: 'epoch', ...m });
  c.say(`epoch ${epoch}/${c.settings.epochs}  train loss ${m.train_loss.toFixed(4)} acc ${pct(m.train_acc)}  test loss ${m.test_loss.toFixed(4)} acc ${pct(m.test_acc)}  lr ${m.lr.toExponential(2)}  ${m.time_s.toFixed(1)}s (${Math.round(m.images_per_s)} img/s)`);
  if (c.profile && m.breakdown) {
    c.say(`  step-time breakdown of epoch ${epoch} (${breakdownTotal(m.breakdown).toFixed(2)} s of ${m.time_s.toFixed(2)} s):`);
    for (const l of formatBreakdown(m.breakdown)) c.say(l);
  }
}
