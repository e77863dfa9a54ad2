// The seed page's complete training example: a spiking MLP on the embedded MNIST digits, trained
// with surrogate gradients through time in the seed's explicit style — the loss function's
// backward gives the gradient of the firing rate (N, C), and snn.backward(grad) takes it for the
// network's (T, N, C) output as the gradient of the mean over T.
// Usage: tsx examples/snn/train-snn.ts [--epochs 3] [--T 8] [--batch-size 64] [--lr 1e-3] [--limit N] [--backend auto|webgpu|cpu]
import * as grilly from '../../src/index.js';
import * as nn from '../../src/nn/index.js';
import { Adam } from '../../src/optim/index.js';
import { resetNet } from '../../src/functional/index.js';
import { loadEmbeddedMnist } from '../../src/data/index.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const epochs = Number(arg('epochs', '3'));
const T = Number(arg('T', '8'));
const batchSize = Number(arg('batch-size', '64'));
const lr = Number(arg('lr', '1e-3'));
const limit = Number(arg('limit', '0'));
const info = await grilly.init({ backend: arg('backend', 'auto') as grilly.BackendName });
console.log(`grilly ${info.summary}`);
grilly.manualSeed(0);

const snn = new nn.Sequential(
  new nn.SeqToANNContainer(new nn.Flatten(), new nn.Linear(784, 256)),
  new nn.LIFNode({ tau: 2.0, surrogateFunction: new nn.ATan(), stepMode: 'm' }),
  new nn.SeqToANNContainer(new nn.Linear(256, 10)),
  new nn.LIFNode({ tau: 2.0, surrogateFunction: new nn.ATan(), stepMode: 'm' }),
);
const lossFn = new nn.MSELoss();
const optimizer = new Adam(snn.parameters(), { lr });

const { train, test } = loadEmbeddedMnist();
const nTrain = limit > 0 ? Math.min(limit, train.count) : train.count;
const nTest = limit > 0 ? Math.min(limit, test.count) : test.count;

function batch(images: Float32Array, labels: Int32Array, start: number, n: number): { x: grilly.Tensor; y: grilly.Tensor } {
  const x = grilly.tensor(images.subarray(start * 784, (start + n) * 784), [n, 1, 28, 28]);
  return { x, y: grilly.tensor(labels.subarray(start, start + n)) };
}
/** Rate coding: each pixel spikes at each step with probability equal to its intensity. */
const encode = (x: grilly.Tensor) => grilly.rand([T, ...x.shape]).lt(x.unsqueeze(0));

for (let epoch = 1; epoch <= epochs; epoch++) {
  const t0 = performance.now();
  let lossSum = 0, rateSum = 0, batches = 0;
  const kernelsBefore = grilly.stats().kernels;
  for (let s = 0; s + batchSize <= nTrain; s += batchSize) {
    const { x, y } = batch(train.images, train.labels, s, batchSize);
    const out = snn.forward(encode(x)); // (T, N, 10) spikes
    const fireRate = out.mean(0); // (N, 10)
    const target = y.oneHot(10);
    const loss = lossFn.forward(fireRate, target);
    optimizer.zeroGrad();
    const grad = lossFn.backward(1, fireRate, target); // dLoss/dfireRate, (N, 10)
    snn.backward(grad); // taken as the gradient of the mean over T
    optimizer.step();
    resetNet(snn);
    lossSum += await loss.item();
    rateSum += await out.mean().item();
    batches++;
  }
  const k = grilly.stats().kernels;
  const perStep = (name: string) => ((k[name] ?? 0) - (kernelsBefore[name] ?? 0)) / batches;
  let correct = 0;
  for (let s = 0; s < nTest; s += 500) {
    const { x, y } = batch(test.images, test.labels, s, Math.min(500, nTest - s));
    correct += await grilly.noGrad(() => snn.forward(encode(x)).mean(0).argmax(1).eq(y).sum()).item();
    resetNet(snn);
  }
  console.log(
    `Epoch ${epoch}: loss=${(lossSum / batches).toFixed(4)} avg_fire_rate=${(rateSum / batches).toFixed(4)} test_acc=${((100 * correct) / nTest).toFixed(2)}% ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s; per step: ${perStep('neuron.forward')} neuron forward and ${perStep('neuron.backward')} backward dispatches for 2 neuron layers)`,
  );
}
