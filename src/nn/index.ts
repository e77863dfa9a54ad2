// grilly/nn: modules, layers, neurons, surrogates and containers (filled by the layers and SNN issues).
import '../tensor/methods.js';
export {};
