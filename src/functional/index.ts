// grilly/functional: stateless functions. The SNN issue adds lifStep, ifStep, resetNet and friends.
import '../tensor/methods.js';
export { relu, sigmoid, tanh } from '../ops/elementwise.js';
export { softmax, logSoftmax } from '../ops/softmax.js';
export { oneHot, gather } from '../ops/gather.js';
