/** distributed: torch.distributed's process group and collectives, on Gloo and NCCL (see process_group.ts). */
export {
  initProcessGroup, destroyProcessGroup, isAvailable, isGlooAvailable, isNcclAvailable, ncclInfo, isInitialized, getRank, getWorldSize,
  getLocalRank, getBackend, allReduce, broadcast, allGather, reduceScatter, barrier, ReduceOp, Work, DEFAULT_TIMEOUT_MS,
} from './process_group';
export type { Backend, ReduceOpName, InitOptions, CollectiveOptions } from './process_group';
