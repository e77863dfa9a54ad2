// Seed page, "ParametricLIFNode": a learnable time constant. 1/τ = sigmoid(w), w starts at
// −log(initTau − 1). Here τ learns to make the neuron fire on a slowly rising input.
//   node = nn.ParametricLIFNode(init_tau=2.0, surrogate_function=nn.ATan())
import * as grilly from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import { resetNet } from '../../src/functional/index.js';

await grilly.init();
const node = new nn.ParametricLIFNode({ initTau: 2.0, surrogateFunction: new nn.ATan(), stepMode: 'm' });
const opt = new SGD(node.parameters(), { lr: 2 });
const x = grilly.full([8, 1], 0.45); // T = 8 steps of a constant input: with τ = 2 the neuron never fires
for (let it = 0; it < 6; it++) {
  const spikes = node.forward(x);
  const loss = spikes.mean().sub(0.25).pow(2); // ask for a firing rate of 0.25
  opt.zeroGrad();
  loss.backward();
  opt.step();
  resetNet(node);
  console.log(`step ${it}: firing rate ${(await spikes.mean().item()).toFixed(3)}, tau ${(await node.tau.item()).toFixed(3)}, w.grad ${(await node.w.grad!.item()).toFixed(4)}`);
}
// τ grows (less leak) until the neuron reaches the threshold: PLIF's τ does learn.
