// Monitor: watch the spiking layers of a network while it runs, then read firing rates and the
// recorded spikes. Records stay on the device until read; remove() unhooks the monitor.
import * as grilly from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { resetNet } from '../../src/functional/index.js';

await grilly.init();
grilly.manualSeed(3);
const T = 8;
const net = new nn.Sequential(
  new nn.SeqToANNContainer(new nn.Linear(20, 32)),
  new nn.LIFNode({ tau: 2.0, stepMode: 'm', storeVSeq: true }),
  new nn.SeqToANNContainer(new nn.Linear(32, 4)),
  new nn.LIFNode({ tau: 2.0, vThreshold: 0.2, stepMode: 'm' }),
);
const lif = net.at(1);
const ownForward = lif.forward;
const encoder = new nn.PoissonEncoder({ T });
const mon = new nn.Monitor(net, { layers: 'spiking', record: ['spikes', 'v'] });
console.log(`watching layers: ${mon.layerNames.join(', ')}`);

const outputs: grilly.Tensor[] = [];
for (let batch = 0; batch < 3; batch++) {
  const images = grilly.rand([16, 20]); // stand-in intensities in [0, 1)
  outputs.push(net.forward(encoder.forward(images).mul(2))); // (T, 16, 4)
  resetNet(net);
}

const rates = await mon.firingRates();
const counts = await mon.spikeCounts();
for (const name of mon.layerNames) {
  console.log(`layer ${name}: ${mon.records(name).length} records of [${mon.records(name)[0]!.shape.join(', ')}], ${counts.get(name)} spikes, firing rate ${rates.get(name)!.toFixed(4)}`);
}
console.log(`v records of layer 1: [${mon.records('1', 'v')[0]!.shape.join(', ')}]`);

// The last layer's records are exactly what the network returned.
let same = true;
for (let i = 0; i < outputs.length; i++) {
  const a = await outputs[i]!.data(), b = await mon.records('3')[i]!.data();
  same &&= a.every((v, k) => v === b[k]);
}
console.log(`records match outputs: ${same}`);

mon.enabled = false;
net.forward(encoder.forward(grilly.rand([16, 20])));
console.log(`while disabled: ${mon.records('1').length} records`);
mon.clear();
console.log(`after clear: ${mon.records('1').length} records`);
console.log(`while watched, layer 1's forward is wrapped: ${lif.forward !== ownForward}`);
mon.remove();
console.log(`after remove, layer 1's forward is restored: ${lif.forward === ownForward}`);
