// ANN → SNN conversion on the embedded MNIST digits (8,000 train / 2,000 test): train a small CNN
// (ReLU, average pooling), convert it in each mode, print the SNN's accuracy against T.
// Usage: tsx examples/ann2snn-mnist.ts [--epochs 4] [--Ts 8,16,32,64,128] [--limit N] [--calib 512] [--backend auto|webgpu|cpu]
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { AdamW } from '../src/optim/index.js';
import { loadEmbeddedMnist } from '../src/data/index.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const epochs = Number(arg('epochs', '4'));
const Ts = arg('Ts', '8,16,32,64,128').split(',').map(Number);
const limit = Number(arg('limit', '0'));
const nCalib = Number(arg('calib', '512'));
const info = await g.init({ backend: arg('backend', 'auto') as g.BackendName });
console.log(`grilly ${info.summary}`);
g.manualSeed(0);

const { train, test } = loadEmbeddedMnist();
const nTrain = limit > 0 ? Math.min(limit, train.count) : train.count;
const nTest = limit > 0 ? Math.min(limit, test.count) : test.count;
const batchOf = (images: Float32Array, labels: Int32Array, s: number, n: number) => ({
  x: g.tensor(images.subarray(s * 784, (s + n) * 784), [n, 1, 28, 28]),
  y: g.tensor(labels.subarray(s, s + n)),
});

const ann = new nn.Sequential(
  new nn.Conv2d(1, 16, 3, { padding: 1 }), new nn.BatchNorm2d(16), new nn.ReLU(), new nn.AvgPool2d(2),
  new nn.Conv2d(16, 32, 3, { padding: 1 }), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.AvgPool2d(2),
  new nn.Flatten(), new nn.Linear(32 * 7 * 7, 128), new nn.ReLU(), new nn.Linear(128, 10),
);
const opt = new AdamW(ann.parameters(), { lr: 2e-3, weightDecay: 1e-4 });
const lossFn = new nn.CrossEntropyLoss();
for (let epoch = 1; epoch <= epochs; epoch++) {
  ann.train();
  for (let s = 0; s + 64 <= nTrain; s += 64) {
    const { x, y } = batchOf(train.images, train.labels, s, 64);
    const loss = lossFn.forward(ann.forward(x), y);
    opt.zeroGrad();
    loss.backward();
    opt.step();
  }
  await g.sync();
}
ann.eval();
let correct = 0;
const testBatches: { x: g.Tensor; y: g.Tensor }[] = [];
for (let s = 0; s < nTest; s += 250) testBatches.push(batchOf(test.images, test.labels, s, Math.min(250, nTest - s)));
for (const { x, y } of testBatches) correct += await g.noGrad(() => ann.forward(x).argmax(1).eq(y).sum()).item();
const annAcc = (100 * correct) / nTest;
console.log(`ANN test accuracy: ${annAcc.toFixed(2)}% (${epochs} epochs on ${nTrain} digits)`);

const calibration = [];
for (let s = 0; s < Math.min(nCalib, nTrain); s += 128) calibration.push(batchOf(train.images, train.labels, s, Math.min(128, nCalib - s)).x);
console.log(`SNN accuracy vs T (${nTest} test digits; calibration on ${Math.min(nCalib, nTrain)} training digits):`);
console.log(`${'mode'.padEnd(8)}${Ts.map((t) => `T=${t}`.padStart(9)).join('')}`);
const results: Record<string, Record<number, number>> = {};
for (const mode of ['max', '99.9%', 0.5] as const) {
  const snn = await new nn.Converter(ann, { mode }).convert(calibration);
  const acc = await nn.accuracyVsT(snn, testBatches, Ts);
  results[String(mode)] = Object.fromEntries([...acc].map(([t, a]) => [t, 100 * a]));
  console.log(`${String(mode).padEnd(8)}${Ts.map((t) => `${(100 * acc.get(t)!).toFixed(2)}%`.padStart(9)).join('')}`);
}
const at64 = results['99.9%']?.[64];
if (at64 !== undefined) console.log(`'99.9%' at T=64: ${at64.toFixed(2)}% vs ANN ${annAcc.toFixed(2)}% (gap ${(annAcc - at64).toFixed(2)} points)`);
