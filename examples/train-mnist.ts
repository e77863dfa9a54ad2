// An MLP with the bare engine (tensors, autograd, no grilly/nn): train a 784-256-10 MLP on the 10,000 real MNIST digits
// shipped in the `mnist` package (8,000 train / 2,000 test), on WebGPU when there is a GPU and on
// the cpu backend otherwise.
// Usage: tsx examples/train-mnist.ts [--epochs 3] [--batch-size 64] [--lr 0.05] [--backend auto|webgpu|cpu] [--limit N]
import * as g from '../src/index.js';
import { loadEmbeddedMnist } from '../src/data/index.js';
import { batchOf, makeMlp, trainStep } from './mlp.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

const epochs = Number(arg('epochs', '3'));
const batchSize = Number(arg('batch-size', '64'));
const lr = Number(arg('lr', '0.05'));
const limit = Number(arg('limit', '0'));
const info = await g.init({ backend: arg('backend', 'auto') as g.BackendName });
console.log(`grilly ${info.summary}`);
g.manualSeed(0);

const { train, test } = loadEmbeddedMnist();
const nTrain = limit > 0 ? Math.min(limit, train.count) : train.count;
const nTest = limit > 0 ? Math.min(limit, test.count) : test.count;
console.log(`data: ${nTrain} train / ${nTest} test digits (embedded MNIST)`);

const model = makeMlp(256);
let seed = 1;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

for (let epoch = 1; epoch <= epochs; epoch++) {
  const t0 = performance.now();
  const order = Array.from({ length: nTrain }, (_, i) => i);
  for (let i = nTrain - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  let lossSum = 0;
  let correct = 0;
  let batches = 0;
  const pending: Promise<void>[] = [];
  for (let s = 0; s + batchSize <= nTrain; s += batchSize) {
    const { x, y } = batchOf(train.images, train.labels, order.slice(s, s + batchSize));
    const { loss, logits } = trainStep(model, x, y, lr);
    const hits = logits.argmax(1).eq(y).sum();
    // Reading back every step would stall the GPU; collect the numbers without blocking.
    pending.push(Promise.all([loss.item(), hits.item()]).then(([l, c]) => {
      lossSum += l;
      correct += c;
    }));
    batches++;
    if (pending.length >= 16) await pending.shift();
  }
  await Promise.all(pending);
  let testCorrect = 0;
  for (let s = 0; s < nTest; s += 500) {
    const idx = Array.from({ length: Math.min(500, nTest - s) }, (_, k) => s + k);
    const { x, y } = batchOf(test.images, test.labels, idx);
    testCorrect += await g.noGrad(() => model.forward(x).argmax(1).eq(y).sum()).item();
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `Epoch ${epoch}: loss=${(lossSum / batches).toFixed(4)} train_acc=${((100 * correct) / (batches * batchSize)).toFixed(2)}% ` +
      `test_acc=${((100 * testCorrect) / nTest).toFixed(2)}% (${secs.toFixed(1)} s)`,
  );
}
