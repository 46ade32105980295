/**
 * Loading a weight file into a zoo model. Keys are PyTorch's, so a torchvision checkpoint (converted
 * to safetensors, or the .pth itself) loads by name. Three differences from a plain strict
 * loadStateDict, each reported rather than fatal:
 * - a classifier head of another size than the model's is left out, so the model keeps its freshly
 *   initialised head (the usual first step of transfer learning);
 * - a missing BatchNorm `num_batches_tracked` (checkpoints older than PyTorch 0.4.1, torchvision's own
 *   ImageNet weights among them) counts as 0, as PyTorch's own loader assumes;
 * - a stem conv pretrained on RGB loads into a one-channel model by summing its weights over the
 *   input channels (grayscale input = the same image in R, G and B).
 * Keys saved through DataParallel (`module.` prefix) are unwrapped.
 */
import * as fs from 'fs';
import { noGrad } from '../autograd/grad_mode';
import { ckError, fmtShape } from '../errors';
import { dataError } from '../data/errors';
import { loadWeights } from '../io/weights_file';
import { WeightFile } from '../io/types';
import { Module } from '../nn/module';
import { Tensor } from '../tensor';
import { ZooModel } from './common';

export interface WeightsOptions {
  /** A .safetensors file, a PyTorch .pth/.pt checkpoint, or tensors already loaded. */
  weights?: string | WeightFile;
  /** Receives each note (a replaced head, ...); default: console.warn. */
  onNote?: (note: string) => void;
}

export interface WeightsReport {
  source: string;
  /** Tensors copied into the model. */
  loaded: number;
  /** The head left out because its size differs: its key prefix and both weight shapes. */
  replacedHead: { name: string; checkpointShape: number[]; modelShape: number[] } | null;
  filledNumBatchesTracked: number;
  notes: string[];
}

/** Opens a weight file by its contents (io.loadWeights: zip or pickle signature -> PyTorch, else safetensors). */
export function openWeights(path: string): WeightFile {
  return loadWeights(path);
}

function unwrapDataParallel(tensors: Map<string, Tensor>): Map<string, Tensor> {
  const keys = [...tensors.keys()];
  if (!keys.length || !keys.every((k) => k.startsWith('module.'))) return tensors;
  return new Map(keys.map((k) => [k.slice('module.'.length), tensors.get(k)!]));
}

/** The number of classes of a checkpoint's head (rows of `<head>.weight`), if it has that key. */
export function checkpointClasses(w: WeightFile, head: string): number | undefined {
  const t = unwrapDataParallel(w.tensors).get(`${head}.weight`);
  return t && t.ndim === 2 ? t.shape[0] : undefined;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Copies a weight file into `model` (see the file comment for what is adapted and reported). */
export function loadWeightsInto(model: Module, w: WeightFile, opts: { head: string; stem?: string; source: string; onNote?: (note: string) => void }): WeightsReport {
  const note = opts.onNote ?? ((n: string) => console.warn(`[convkit] ${n}`));
  const src = new Map(unwrapDataParallel(w.tensors));
  const target = model.stateDict();
  const report: WeightsReport = { source: opts.source, loaded: 0, replacedHead: null, filledNumBatchesTracked: 0, notes: [] };
  // Notes go out only once the file is known to fit: a file that fails gets an error, not notes too.
  const say = (n: string) => report.notes.push(n);
  const made: Tensor[] = [];
  try {
    const hw = src.get(`${opts.head}.weight`);
    const mw = target[`${opts.head}.weight`];
    if (hw && mw && !sameShape(hw.shape, mw.shape)) {
      src.delete(`${opts.head}.weight`);
      src.delete(`${opts.head}.bias`);
      report.replacedHead = { name: opts.head, checkpointShape: [...hw.shape], modelShape: [...mw.shape] };
      say(`${opts.source}: the checkpoint's head '${opts.head}' has ${hw.shape[0]} classes (${fmtShape(hw.shape)}), the model ${mw.shape[0]} (${fmtShape(mw.shape)}); the head was not loaded and keeps its fresh initialisation`);
    }
    if (opts.stem) {
      const sw = src.get(opts.stem);
      const mw2 = target[opts.stem];
      if (sw && mw2 && sw.ndim === 4 && mw2.ndim === 4 && mw2.shape[1] === 1 && sw.shape[1] !== 1 && sameShape([sw.shape[0], ...sw.shape.slice(2)], [mw2.shape[0], ...mw2.shape.slice(2)])) {
        const summed = noGrad(() => sw.sum(1, { keepdim: true }));
        made.push(summed);
        src.set(opts.stem, summed);
        say(`${opts.source}: '${opts.stem}' was trained on ${sw.shape[1]} input channels; summed over them for this ${mw2.shape[1]}-channel model`);
      }
    }
    for (const k of Object.keys(target)) {
      if (k.endsWith('num_batches_tracked') && !src.has(k)) {
        const z = noGrad(() => target[k].mul(0));
        made.push(z);
        src.set(k, z);
        report.filledNumBatchesTracked++;
      }
    }
    if (report.filledNumBatchesTracked)
      say(`${opts.source}: no num_batches_tracked for ${report.filledNumBatchesTracked} BatchNorm layers (saved before PyTorch 0.4.1?); set to 0`);
    const allowed = report.replacedHead ? [`${opts.head}.weight`, `${opts.head}.bias`] : [];
    const missing = Object.keys(target).filter((k) => !src.has(k) && !allowed.includes(k));
    const known = new Set(Object.keys(target));
    const unexpected = [...src.keys()].filter((k) => !known.has(k));
    if (missing.length || unexpected.length) {
      const list = (ks: string[]) => `[${ks.slice(0, 8).join(', ')}${ks.length > 8 ? `, ... (${ks.length} in all)` : ''}]`;
      throw ckError('ERR_ARG', `${opts.source} does not fit this ${model.typeName}: missing keys ${list(missing)}, unexpected keys ${list(unexpected)}`);
    }
    const r = model.loadStateDict(src, { strict: false });
    for (const n of report.notes) note(n);
    report.loaded = Object.keys(target).length - r.missingKeys.length;
  } finally {
    for (const t of made) t.dispose();
    for (const t of Object.values(target)) t.dispose();
  }
  return report;
}

/**
 * Where pretrained weights come from, for the error a missing weight file gives: convkit downloads
 * nothing; torchvision's weights are saved once from Python and load directly (.pth) or converted.
 */
function weightsHelp(name: string, arch: string): string {
  const file = `${arch}.pth`;
  const fn = arch.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()).replace(/^mobilenetV2$/, 'mobilenetV2');
  return (
    `convkit downloads no weights: save them once with PyTorch, e.g. ` +
    `python3 -c "import torch, torchvision; torch.save(torchvision.models.${arch}(weights='${name}').state_dict(), '${file}')", ` +
    `then pass the file: models.${fn}({ weights: '${file}' }) (a .pth loads directly; \`convkit convert ${file} ${arch}.safetensors\` ` +
    `or scripts/convert-torchvision.py make a .safetensors). See docs/coming-from-pytorch.md.`
  );
}

/** Opens `weights` given as a path, with an error that explains weight names and missing files. */
function openWeightsFor(path: string, arch: string | undefined): WeightFile {
  if (!fs.existsSync(path)) {
    // torchvision's enum spellings: 'IMAGENET1K_V1', 'DEFAULT', 'ResNet18_Weights.IMAGENET1K_V1'.
    const enumName = /^([A-Za-z0-9_]+_Weights\.)?[A-Z0-9_]+$/.test(path) && !/[./\\]/.test(path.replace(/^[A-Za-z0-9_]+_Weights\./, ''));
    const why = enumName
      ? `weights: '${path}' is the name of torchvision's pretrained weights, not a file.`
      : `weights: no file at ${path}.`;
    // Models with torchvision weights say how to get them; the tutorial's own models load what was saved from them.
    const help = arch
      ? weightsHelp(enumName ? path.replace(/^[A-Za-z0-9_]+_Weights\./, '') : 'DEFAULT', arch)
      : 'Pass a .safetensors or PyTorch .pth state dict saved from this model (torch.save(model.state_dict(), path), or convkit train\'s final.safetensors).';
    const msg = `${arch ? `${arch}: ` : ''}${why} ${help}`;
    // A torchvision weights name is a wrong argument; a path that does not exist is a missing file (as openWeights says).
    throw enumName ? ckError('ERR_ARG', msg, 'TypeError') : dataError('ERR_DATA', msg, path);
  }
  return openWeights(path);
}

/** Builds a zoo model, and loads `opts.weights` into it when given (numClasses defaults to the checkpoint's). */
export function buildWithWeights<M extends ZooModel>(
  opts: WeightsOptions & { numClasses?: number },
  spec: { head: string; stem?: string; defaultClasses: number; initHead?: (model: M) => void; arch?: string },
  make: (numClasses: number, init: boolean) => M,
): M {
  const { head, stem } = spec;
  if (!opts.weights) return make(opts.numClasses ?? spec.defaultClasses, true);
  const owned = typeof opts.weights === 'string';
  const w = typeof opts.weights === 'string' ? openWeightsFor(opts.weights, spec.arch) : opts.weights;
  try {
    // The checkpoint overwrites every weight, so a custom init would be wasted work (seconds for
    // VGG's 100M-weight classifier); only a head that is not loaded gets it.
    const model = make(opts.numClasses ?? checkpointClasses(w, head) ?? spec.defaultClasses, false);
    const source = typeof opts.weights === 'string' ? opts.weights : 'weights';
    model.weightsReport = loadWeightsInto(model, w, { head, stem, source, onNote: opts.onNote });
    if (model.weightsReport.replacedHead) spec.initHead?.(model);
    return model;
  } finally {
    if (owned) w.dispose();
  }
}
