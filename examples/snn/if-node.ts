// Seed page, "IFNode (Integrate-and-Fire)": integrates its input, fires at the threshold, resets.
//   node = nn.IFNode(v_threshold=1.0, surrogate_function=nn.ATan()); output = node(x)
import * as grilly from '../../src/index.js';
import * as nn from '../../src/nn/index.js';

await grilly.init();
const node = new nn.IFNode({ vThreshold: 1.0, surrogateFunction: new nn.ATan() });
const x = grilly.tensor([0.3, 0.6, 1.2]); // input current, one step
for (let t = 0; t < 4; t++) {
  const output = node.forward(x); // binary spikes
  console.log(`t=${t} spikes=${JSON.stringify(await output.toArray())} v=${JSON.stringify(Array.from(await node.v!.data(), (v) => +v.toFixed(3)))}`);
}
// The third neuron fires every step; the first every fourth step (0.3 · 4 ≥ 1); the second every other step.
