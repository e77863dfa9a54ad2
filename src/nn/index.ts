// grilly/nn: modules, layers, losses and initialisers (neurons, surrogates and SNN containers
// come with the SNN issue).
import '../tensor/methods.js';
export { Module, Parameter, isParameter, snake } from './module.js';
export type { LoadReport } from './module.js';
export { Linear, Sequential, Identity, Flatten, Dropout, ReLU, LeakyReLU, Sigmoid, Tanh } from './layers.js';
export { Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d } from './conv.js';
export type { Conv2dLayerOptions } from './conv.js';
export { BatchNorm1d, BatchNorm2d } from './batchnorm.js';
export type { BatchNormOptions } from './batchnorm.js';
export { CrossEntropyLoss, MSELoss, BCEWithLogitsLoss } from './loss.js';
export type { Reduction, CrossEntropyOptions } from './loss.js';
export * as init from './init.js';
export { IFNode, LIFNode, ParametricLIFNode, BaseNode } from '../snn/node.js';
export type { BaseNodeOptions, LIFNodeOptions, ParametricLIFNodeOptions, StepMode, Stateful } from '../snn/node.js';
// Surrogates. nn.Sigmoid is the activation layer (as in PyTorch); the sigmoid surrogate is
// nn.surrogate.Sigmoid (as SpikingJelly's surrogate.Sigmoid).
export { ATan, FastSigmoid, PiecewiseQuadratic, Erf, SuperSpike, SurrogateFunction } from '../snn/surrogate.js';
export type { SurrogateOptions } from '../snn/surrogate.js';
export * as surrogate from '../snn/surrogate.js';
export { SeqToANNContainer, MultiStepContainer } from '../snn/container.js';
export { Converter, VoltageScaler, fuseBatchNorm, snnInference, accuracyVsT } from '../snn/convert.js';
export type { ConverterOptions, ConvertMode } from '../snn/convert.js';
export { PoissonEncoder, LatencyEncoder } from '../snn/encoding.js';
export type { PoissonEncoderOptions, LatencyEncoderOptions, LatencyMode } from '../snn/encoding.js';
export { Monitor } from '../snn/monitor.js';
export type { MonitorOptions, MonitorField } from '../snn/monitor.js';
