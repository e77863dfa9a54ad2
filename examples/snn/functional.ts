// Seed page, "Functional API": F.lif_step in a loop, F.multi_step_forward, F.reset_net.
//   spike, v = F.lif_step(x, v_prev, tau=2.0, v_threshold=1.0)
//   output = F.multi_step_forward(model, x_temporal, T=10); F.reset_net(model)
import * as grilly from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import * as F from '../../src/functional/index.js';

await grilly.init();
const x = grilly.tensor([0.5, 0.9, 1.3]);
let v = grilly.zeros([3]);
for (let t = 0; t < 5; t++) {
  const [spike, vNext] = F.lifStep(x, v, { tau: 2.0, vThreshold: 1.0 });
  v = vNext;
  console.log(`t=${t} spike=${JSON.stringify(await spike.toArray())} v=${JSON.stringify(Array.from(await v.data(), (u) => +u.toFixed(4)))}`);
}
const model = new nn.LIFNode({ tau: 2.0 });
const xTemporal = grilly.full([10, 3], 0.6);
const output = F.multiStepForward(xTemporal, model); // (T, N, …) through a single-step module
console.log(`multiStepForward: ${JSON.stringify(output.shape)}, spike count ${await output.sum().item()}`);
F.resetNet(model);
console.log(`after resetNet: model.v = ${model.v}`);
