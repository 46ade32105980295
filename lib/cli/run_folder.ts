/**
 * A training run's folder: metrics.jsonl, final/best weights, the checkpoint --resume reads, and
 * report.html. Every file is written whole to a temporary name and renamed into place, so an
 * interrupted or crashed run leaves each file either as it was or complete, never half-written.
 */
import * as fs from 'fs';
import * as path from 'path';
import { saveSafetensors, loadSafetensors } from '../io/safetensors';
import { writeAll, writeAtomically } from '../io/read_file';
import { Module } from '../nn/module';
import { Optimizer, OptimizerStateDict, ParamState } from '../optim/optimizer';
import { Scheduler, SchedulerStateDict } from '../optim/lr_scheduler';
import { getRngState, setRngState } from '../random';
import { Tensor } from '../tensor';
import type { Breakdown } from './breakdown';
import { CliError } from './errors';

export interface EpochMetrics {
  epoch: number;
  train_loss: number;
  train_acc: number;
  test_loss: number;
  test_acc: number;
  /** The learning rate of the first parameter group at the epoch's first step. */
  lr: number;
  time_s: number;
  images_per_s: number;
  /** Where the epoch's training time went (seconds per part, see breakdown.ts); absent in runs of older versions. */
  breakdown?: Breakdown;
}

export const FILES = {
  metrics: 'metrics.jsonl',
  final: 'final.safetensors',
  best: 'best.safetensors',
  checkpoint: 'checkpoint.safetensors',
  report: 'report.html',
  settings: 'settings.json',
};

/**
 * Removes the temporary files that atomic writes of this folder's own files leave behind when the
 * process is killed mid-write (kill -9, power loss): `<file>.tmp-<pid>-<random>` for the names in
 * FILES, nothing else. Call only while holding the folder's lock, so no live writer owns them.
 */
export function removeStrayTemps(dir: string): { files: string[]; bytes: number } {
  const names = Object.values(FILES).map((n) => n.replace(/[.]/g, '\\.')).join('|');
  const re = new RegExp(`^(?:${names})\\.tmp-\\d+-[0-9a-z]+$`);
  const files: string[] = [];
  let bytes = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isFile() || !re.test(e.name)) continue;
    const f = path.join(dir, e.name);
    try {
      bytes += fs.statSync(f).size;
      fs.unlinkSync(f);
      files.push(e.name);
    } catch {
      /* gone already */
    }
  }
  return { files, bytes };
}

export function writeTextAtomic(file: string, text: string): void {
  writeAtomically(file, (fd) => writeAll(fd, Buffer.from(text, 'utf8')));
}

export function readMetrics(dir: string): EpochMetrics[] {
  const f = path.join(dir, FILES.metrics);
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as EpochMetrics);
}

/** Rewrites metrics.jsonl whole (it is small), so a crash mid-write cannot leave a torn last line. */
export function writeMetrics(dir: string, metrics: EpochMetrics[]): void {
  writeTextAtomic(path.join(dir, FILES.metrics), metrics.map((m) => JSON.stringify(m)).join('\n') + (metrics.length ? '\n' : ''));
}

/** Weights with PyTorch's state-dict keys, plus what eval needs to rebuild the model and its input. */
export function saveWeights(file: string, model: Module, meta: Record<string, string>): void {
  const sd = model.stateDict();
  try {
    saveSafetensors(file, sd, meta);
  } finally {
    for (const t of Object.values(sd)) t.dispose();
  }
}

type RngState = { seed: string; offset: number };
const rngNow = (): RngState => {
  const s = getRngState();
  return { seed: s.seed.toString(), offset: s.offset };
};

/** Where in the run a checkpoint was taken, and what the loop needs to carry on exactly from there. */
export interface Position {
  /** Epochs finished. */
  epoch: number;
  /** Batches finished of epoch `epoch + 1` (0 at an epoch boundary). */
  batch: number;
  /** The random stream at the start of that epoch: the loader's shuffle is drawn from it. */
  epochRng: RngState;
  /** Running sums of the unfinished epoch. */
  partial: { lossSum: number; correct: number; seen: number; timeS: number; lr: number; breakdown?: Breakdown };
  best: { acc: number; epoch: number };
}

export interface Checkpoint extends Position {
  format: 1;
  rng: RngState;
  optimizer: { param_groups: Record<string, unknown>[]; state: Record<number, Record<string, number | null>> };
  scheduler: SchedulerStateDict | null;
  settings: Record<string, unknown>;
}

export function currentRng(): RngState {
  return rngNow();
}

export function restoreRng(s: RngState): void {
  setRngState({ seed: BigInt(s.seed), offset: s.offset });
}

/**
 * One file: the model's tensors under `model.`, the optimizer's state tensors under
 * `optimizer.<index>.<name>`, everything else as JSON in the metadata.
 */
export function saveCheckpoint(dir: string, pos: Position, model: Module, optimizer: Optimizer, scheduler: Scheduler | null, settings: Record<string, unknown>): void {
  const tensors = new Map<string, Tensor>();
  const owned: Tensor[] = [];
  const sd = model.stateDict();
  const osd = optimizer.stateDict();
  try {
    for (const [k, t] of Object.entries(sd)) {
      tensors.set(`model.${k}`, t);
      owned.push(t);
    }
    const state: Checkpoint['optimizer']['state'] = {};
    for (const [i, s] of Object.entries(osd.state)) {
      const plain: Record<string, number | null> = {};
      for (const [k, v] of Object.entries(s)) {
        if (v instanceof Tensor) {
          tensors.set(`optimizer.${i}.${k}`, v);
          owned.push(v);
        } else plain[k] = v;
      }
      state[Number(i)] = plain;
    }
    const ck: Checkpoint = {
      format: 1, ...pos, rng: rngNow(), optimizer: { param_groups: osd.param_groups, state }, scheduler: scheduler ? scheduler.stateDict() : null, settings,
    };
    saveSafetensors(path.join(dir, FILES.checkpoint), tensors, { 'convkit.checkpoint': JSON.stringify(ck) });
  } finally {
    for (const t of owned) t.dispose();
  }
}

export function readCheckpointInfo(dir: string): { ck: Checkpoint; file: string } {
  const file = path.join(dir, FILES.checkpoint);
  if (!fs.existsSync(file)) throw new CliError(`--resume ${dir}: no ${FILES.checkpoint} there (is it a convkit run folder?)`);
  const w = loadSafetensors(file);
  try {
    const raw = w.metadata['convkit.checkpoint'];
    if (!raw) throw new CliError(`${file}: not a convkit checkpoint (no convkit.checkpoint metadata)`, 'ERR_FORMAT');
    return { ck: JSON.parse(raw) as Checkpoint, file };
  } finally {
    w.dispose();
  }
}

/** Loads a checkpoint's tensors into a model and optimizer built with the same settings. */
export function restoreCheckpoint(file: string, ck: Checkpoint, model: Module, optimizer: Optimizer, scheduler: Scheduler | null): void {
  const w = loadSafetensors(file);
  try {
    const msd = new Map<string, Tensor>();
    const state: Record<number, ParamState> = {};
    for (const [k, t] of w.tensors) {
      if (k.startsWith('model.')) msd.set(k.slice('model.'.length), t);
      else if (k.startsWith('optimizer.')) {
        const [, idx, ...name] = k.split('.');
        (state[Number(idx)] ??= {})[name.join('.')] = t;
      }
    }
    for (const [i, plain] of Object.entries(ck.optimizer.state)) Object.assign((state[Number(i)] ??= {}), plain);
    model.loadStateDict(msd);
    optimizer.loadStateDict({ state, param_groups: ck.optimizer.param_groups } as OptimizerStateDict);
    if (scheduler && ck.scheduler) scheduler.loadStateDict(ck.scheduler);
  } finally {
    w.dispose();
  }
}
