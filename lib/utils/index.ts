/** convkit.utils: model inspection (parameter counts, summary, receptive fields) and transfer-learning helpers. */
export { countParameters, countByType } from './params';
export type { TypeCount } from './params';
export { summary } from './summary';
export type { Summary, SummaryRow } from './summary';
export { receptiveField } from './receptive_field';
export type { RFOp, RFRow } from './receptive_field';
export {
  paramGroupsByDepth, freezeBackbone, freezeBatchNorm, unfreezeBatchNorm, isBatchNormFrozen, GradualUnfreezer,
  RESNET_DEPTH_LRS, RESNET_UNFREEZE_STAGES,
} from './finetune';
export type { ParamGroup, DepthStage, ParamGroupsOptions, FreezeOptions, GradualUnfreezerOptions } from './finetune';
export * as tensorboard from './tensorboard';
