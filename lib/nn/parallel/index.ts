/** nn.parallel: data-parallel training across processes (DistributedDataParallel, on ck.distributed). */
export { DistributedDataParallel } from './distributed';
export type { DDPOptions } from './distributed';
export { SyncBatchNorm } from './sync_batchnorm';
