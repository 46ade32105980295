/** convkit.utils.tensorboard: TensorBoard event files from TypeScript (PyTorch's torch.utils.tensorboard). */
export { SummaryWriter, histogramBuckets } from './summary_writer';
export type { SummaryWriterOptions, HistogramBins } from './summary_writer';
export { crc32c, maskedCrc32c } from './record';
