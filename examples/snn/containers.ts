// Seed page, "Temporal Containers": MultiStepContainer runs a single-step module at each step;
// SeqToANNContainer merges time and batch for ordinary layers.
//   container = nn.MultiStepContainer(nn.LIFNode(tau=2.0))           # (T, batch, ...) -> (T, batch, ...)
//   container = nn.SeqToANNContainer(nn.Conv2d(3, 64, 3, padding=1))  # (T, B, C, H, W) -> (T*B, ...) -> back
import * as grilly from '../../src/index.js';
import * as nn from '../../src/nn/index.js';

await grilly.init();
grilly.manualSeed(0);
const T = 4, B = 2;
const multi = new nn.MultiStepContainer(new nn.LIFNode({ tau: 2.0 }));
const xTemporal = grilly.rand([T, B, 8]).mul(1.5);
const spikes = multi.forward(xTemporal);
console.log(`MultiStepContainer(LIFNode): ${JSON.stringify(xTemporal.shape)} -> ${JSON.stringify(spikes.shape)}, firing rate ${(await spikes.mean().item()).toFixed(3)}`);

const conv = new nn.SeqToANNContainer(new nn.Conv2d(3, 64, 3, { padding: 1 }));
const images = grilly.rand([T, B, 3, 16, 16]);
const out = conv.forward(images);
console.log(`SeqToANNContainer(Conv2d(3, 64, 3, padding=1)): ${JSON.stringify(images.shape)} -> ${JSON.stringify(out.shape)}`);
console.log(String(conv));
