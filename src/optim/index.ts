// grilly/optim: optimizers (SGD, Adam, AdamW) and learning-rate schedulers (StepLR,
// CosineAnnealingLR), with PyTorch's update rules and state-dict layout.
import '../tensor/methods.js';
export { Optimizer } from './optimizer.js';
export type { OptimizerStateDict, ParamGroup, ParamGroupInput, ParamsInput, ParamState, OptionValue, BaseOptions } from './optimizer.js';
export { SGD } from './sgd.js';
export type { SGDOptions, SGDGroupOptions } from './sgd.js';
export { Adam, AdamW } from './adam.js';
export type { AdamOptions, AdamGroupOptions } from './adam.js';
export { LRScheduler, StepLR, CosineAnnealingLR } from './lr_scheduler.js';
export type { SchedulerStateDict, StepLROptions, CosineAnnealingLROptions } from './lr_scheduler.js';
export { optimizerStateToTensors, optimizerStateFromTensors } from './checkpoint.js';
