/**
 * ck.save / ck.load: torch.save / torch.load for what convkit keeps in files, state dicts. save writes
 * safetensors for a `.safetensors` path and torch.save's own zip format otherwise (so `torch.load(path,
 * weights_only=True)` reads it); load reads either, told apart by content, and returns the file's tensors,
 * which `model.loadStateDict(ck.load(path))` takes as PyTorch's `model.load_state_dict(torch.load(path))`.
 */
import { ckError } from './errors';
import { saveSafetensors } from './io/safetensors';
import { saveTorch } from './io/torch_save';
import type { WeightFile } from './io/types';
import { loadWeights } from './io/weights_file';
import { Module, StateDict } from './nn/module';
import { Tensor } from './tensor';

/** Writes a state dict (or a module's stateDict()) to `path`: safetensors if it ends in .safetensors, else a PyTorch .pth. */
export function save(what: Module | StateDict | Map<string, Tensor>, path: string): void {
  if (typeof path !== 'string' || !path) throw ckError('ERR_ARG', `save: path must be a non-empty string, got ${typeof path}`, 'TypeError');
  const own = what instanceof Module;
  const sd = own ? what.stateDict() : what;
  if (!own && (sd === null || typeof sd !== 'object'))
    throw ckError('ERR_ARG', `save: expected a Module or a state dict (an object or Map of tensors), got ${sd === null ? 'null' : typeof sd}`, 'TypeError');
  try {
    if (/\.safetensors$/i.test(path)) saveSafetensors(path, sd);
    else saveTorch(sd, path);
  } finally {
    // stateDict() made detached views of the module's tensors: this call's own, freed here.
    if (own) for (const t of Object.values(sd as StateDict)) t.dispose();
  }
}

/** Reads a .safetensors file or a PyTorch .pth/.pt checkpoint (by content; no code runs); dispose() frees its tensors. */
export function load(path: string): WeightFile {
  return loadWeights(path);
}
