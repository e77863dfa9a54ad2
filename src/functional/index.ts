// grilly/functional: stateless functions. The SNN issue adds lifStep, ifStep, resetNet and friends.
import '../tensor/methods.js';
export { relu, sigmoid, tanh } from '../ops/elementwise.js';
export { softmax, logSoftmax } from '../ops/softmax.js';
export { oneHot, gather } from '../ops/gather.js';
export { conv2d } from '../ops/conv.js';
export { maxPool2d, maxPool2dWithIndices, avgPool2d, adaptiveAvgPool2d } from '../ops/pool.js';
export { linear } from '../ops/linear.js';
export { dropout } from './dropout.js';
export { resetNet, setStepMode, lifStep, ifStep } from '../snn/functional.js';
export type { StepOptions } from '../snn/functional.js';
export { multiStepForward, seqToANNForward } from '../snn/container.js';
export { poissonEncode, latencyEncode } from '../snn/encoding.js';
