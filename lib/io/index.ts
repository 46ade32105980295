/** convkit.io: weight files. safetensors in and out; PyTorch .pth/.pt checkpoints in, with no Python. */
export { loadSafetensors, parseSafetensors, saveSafetensors, MAX_HEADER_BYTES } from './safetensors';
export type { SaveSafetensorsOptions } from './safetensors';
export { loadTorch, parseTorch } from './torch';
export { saveTorch, type SaveTorchOptions } from './torch_save';
export type { WeightFile } from './types';
export { detectWeightFormat, loadWeights, parseWeights } from './weights_file';
export type { WeightFormat } from './weights_file';
