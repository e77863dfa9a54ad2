// Seed page, "LIFNode (Leaky Integrate-and-Fire)": the membrane potential decays toward vReset with
// time constant tau.  node = nn.LIFNode(tau=2.0, v_threshold=1.0, surrogate_function=nn.ATan())
import * as grilly from '../../src/index.js';
import * as nn from '../../src/nn/index.js';

await grilly.init();
const node = new nn.LIFNode({ tau: 2.0, vThreshold: 1.0, surrogateFunction: new nn.ATan() });
// decayInput is false (the seed's choice; SpikingJelly's default is true): H = V − (V − Vreset)/τ + X.
const x = grilly.tensor([0.4, 0.6, 1.0]);
for (let t = 0; t < 5; t++) {
  const output = node.forward(x);
  console.log(`t=${t} spikes=${JSON.stringify(await output.toArray())} v=${JSON.stringify(Array.from(await node.v!.data(), (v) => +v.toFixed(4)))}`);
}
// With constant input X and no spike, V approaches τ·X: 0.8 for the first neuron (it never fires),
// 1.2 for the second (it fires once V passes 1).
