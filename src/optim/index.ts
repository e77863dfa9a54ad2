// grilly/optim: optimizers and schedulers (filled by the layers issue).
import '../tensor/methods.js';
export {};
