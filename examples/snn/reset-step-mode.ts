// Seed page, reset and step modes: a network of single-step neurons fed one step at a time, then
// switched to multi-step mode and fed all steps at once — the same spikes either way.
import * as grilly from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { resetNet, setStepMode } from '../../src/functional/index.js';

await grilly.init();
grilly.manualSeed(1);
const net = new nn.Sequential(new nn.Linear(6, 5), new nn.LIFNode({ tau: 2.0, vThreshold: 0.3 }), new nn.Linear(5, 3), new nn.LIFNode({ tau: 2.0, vThreshold: 0.3 }));
const xSeq = grilly.rand([5, 2, 6]).mul(6); // (T, N, features)

const perStep: grilly.Tensor[] = [];
for (let t = 0; t < 5; t++) perStep.push(net.forward(xSeq.slice(0, t, t + 1).squeeze(0))); // step mode 's'
const a = await grilly.stack(perStep, 0).data();

resetNet(net); // membrane potentials back to vReset
setStepMode(net, 'm'); // neurons now take (T, N, …); Linear already works on any leading dims
const b = await net.forward(xSeq).data();
console.log(`single-step spikes:  ${Array.from(a).join('')}`);
console.log(`multi-step spikes:   ${Array.from(b).join('')}`);
console.log(`identical: ${a.every((v, i) => v === b[i])}`);
