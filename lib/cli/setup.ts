/**
 * What a `convkit train` run is built from: the data, the model (with weights, a frozen backbone), the
 * optimizer and schedule, the loaders, and the settings as the report shows them.
 */
import * as os from 'os';
import { DataLoader } from '../data';
import { Module } from '../nn/module';
import { Optimizer, SGD, Adam, AdamW, RMSprop, lrScheduler } from '../optim';
import type { Scheduler } from '../optim/lr_scheduler';
import { openWeights, loadWeightsInto } from '../models';
import { countParameters, freezeBackbone, summary } from '../utils';
import { Tensor } from '../tensor';
import { openData, DataBundle, DataKind } from './datasets';
import { CliError } from './errors';
import { dataParallel } from './launch';
import { zooEntry } from './models';
import type { OptimizerName, TrainSettings } from './train';

/** Weight decay when --weight-decay is not given, per optimizer (AdamW's is PyTorch's default). */
export const DEFAULT_WEIGHT_DECAY: Record<OptimizerName, number> = { adamw: 0.01, adam: 0, sgd: 5e-4, rmsprop: 0 };

/**
 * On a CUDA device Adam and AdamW are capturable (PyTorch's capturable=True: step counts and learning rate on the
 * device), with or without --cuda-graph, so a run trains with the same kernels either way and its checkpoints
 * resume either way; on the CPU they keep PyTorch's default path.
 */
function makeOptimizer(name: OptimizerName, params: Tensor[], lr: number, wdIn: number | null, device: string): Optimizer {
  if (!(name in DEFAULT_WEIGHT_DECAY)) throw new CliError(`--optimizer ${String(name)}: expected adamw, adam, sgd or rmsprop`);
  const weightDecay = wdIn ?? DEFAULT_WEIGHT_DECAY[name];
  const capturable = device !== 'cpu';
  switch (name) {
    case 'adamw':
      return new AdamW(params, { lr, weightDecay, capturable });
    case 'adam':
      return new Adam(params, { lr, weightDecay, capturable });
    case 'sgd':
      return new SGD(params, { lr, momentum: 0.9, nesterov: true, weightDecay });
    default:
      return new RMSprop(params, { lr, weightDecay });
  }
}

/** The schedule, and whether it steps per batch (true) or per epoch. */
function makeScheduler(opt: Optimizer, s: TrainSettings, stepsPerEpoch: number): { sched: Scheduler | null; perBatch: boolean } {
  const total = s.epochs * stepsPerEpoch;
  switch (s.scheduler) {
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
      throw new CliError(`--scheduler ${String(s.scheduler)}: expected cosine, step, onecycle or none`);
  }
}

/**
 * Threads for the CPU kernels when --threads is not given and the loader has workers (with none, the loader
 * runs between steps on the main thread and the kernels keep their default: every core).
 * - Datasets held in memory (IDX, CIFAR-10): every core, as PyTorch's intra-op pool takes every core whatever
 *   its DataLoader's num_workers. These workers only crop, flip and normalise small images (microseconds per
 *   image) and sleep while the prefetch queue is full. Measured on 2 cores (full Fashion-MNIST, 1 epoch, batch
 *   128, --augment --workers 2; benchmarks/results/2026-12-06-cpu-e2e-fashion-mnist.md): with 2 kernel threads
 *   the step waited 0.6% of the epoch on data and the epoch took 76.6 s; with 1 (the cores the workers leave)
 *   114.6 s.
 * - Image folders: the workers decode JPEG/PNG, CPU-heavy work that a kernel pool as wide as the machine would
 *   share cores with (a GEMM whose threads are descheduled waits for its slowest one), so the kernels get the
 *   cores the workers leave, at least one.
 */
export function computeThreads(workers: number, kind: DataKind, cores = os.availableParallelism?.() ?? os.cpus().length): number {
  return kind === 'image-folder' ? Math.max(1, cores - workers) : cores;
}

export interface Built {
  bundle: DataBundle;
  model: Module;
  optimizer: Optimizer;
  sched: Scheduler | null;
  perBatch: boolean;
  trainLoader: DataLoader;
  testLoader: DataLoader;
  /** What the training step calls: the model, or its DistributedDataParallel wrapper under --nproc-per-node. */
  forward: Module;
  summaryText: string;
  notes: string[];
}

function loadData(s: TrainSettings, minSize: number, name: string, notes: string[]): DataBundle {
  const opts = (size: number | undefined) => ({ size, augment: s.augment, limitTrain: s.limitTrain ?? undefined, limitTest: s.limitTest ?? undefined });
  const bundle = openData(s.data ?? undefined, opts(s.imageSize ?? undefined));
  if (bundle.size >= minSize) return bundle;
  notes.push(`${name} needs inputs of at least ${minSize}x${minSize}; resizing the ${bundle.size}x${bundle.size} images`);
  return openData(s.data ?? undefined, opts(minSize));
}

export function build(s: TrainSettings): Built {
  const { name, entry } = zooEntry(s.model);
  const notes: string[] = [];
  const bundle = loadData(s, entry.minSize, name, notes);
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
  const optimizer = makeOptimizer(s.optimizer, params, s.lr, s.weightDecay, s.device);
  // Training batches stay on the host until the loop moves them, so the copy is timed as its own part.
  // Under --nproc-per-node: this rank's DistributedSampler shard, a per-rank share of the batch, the DDP wrapper.
  const dp = dataParallel(model, bundle.train, s.batchSize, s.seed);
  const trainLoader = new DataLoader(dp.trainSet, { batchSize: dp.batchSize, shuffle: true, numWorkers: s.workers, persistentWorkers: s.workers > 0 });
  const testLoader = new DataLoader(bundle.test, { batchSize: Math.max(s.batchSize, 256), numWorkers: s.workers, device: s.device as 'cpu', persistentWorkers: s.workers > 0 });
  const { sched, perBatch } = makeScheduler(optimizer, s, trainLoader.length);
  return { bundle, model, optimizer, sched, perBatch, trainLoader, testLoader, forward: dp.forward, summaryText, notes };
}

/** The settings as the report shows them: what a default (null) resolved to, instead of null. */
export function describeSettings(s: TrainSettings, b: DataBundle): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(s)) if (v !== null) out[k] = v as string | number | boolean;
  if (s.data === null) out.data = `the shipped Fashion-MNIST subset (${b.root})`;
  if (s.weightDecay === null) out.weightDecay = `${DEFAULT_WEIGHT_DECAY[s.optimizer]} (the ${s.optimizer} default)`;
  if (s.weights === null) out.weights = 'none (random initialisation)';
  if (s.imageSize === null) out.imageSize = `${b.size} (not set: the data's own size, or the model's minimum)`;
  if (s.limitTrain === null) out.limitTrain = `none (all ${b.train.length.toLocaleString('en-US')})`;
  if (!s.autocast) out.autocast = 'off (FP32)';
  if (s.limitTest === null) out.limitTest = `none (all ${b.test.length.toLocaleString('en-US')})`;
  return Object.fromEntries(Object.keys(s).map((k) => [k, out[k]]));
}
