// grilly eval, grilly info and grilly convert.
import { existsSync } from 'node:fs';
import * as g from '../index.js';
import * as nn from '../nn/index.js';
import { resetNet } from '../functional/index.js';
import { DataLoader } from '../data/index.js';
import { AdamW } from '../optim/index.js';
import { CliError, backendOption, helpText, parseArgs, type OptionSpec } from './args.js';
import { buildModel } from './models.js';
import { openDataset } from './datasets.js';
import type { ResumeState } from './train.js';

const EVAL_OPTIONS: Record<string, OptionSpec> = {
  checkpoint: { kind: 'string', help: 'a checkpoint.safetensors written by grilly train (required)' },
  dataset: { kind: 'string', help: "the dataset to test on (default: the checkpoint's)" },
  backend: { kind: 'string', help: 'auto (default), webgpu or cpu' },
  limit: { kind: 'int', help: "use only the first N test samples (default: the checkpoint's --limit; 0: all)" },
  'batch-size': { kind: 'int', help: "samples per batch (default: the checkpoint's)" },
  verbose: { kind: 'flag', help: 'stack traces on errors' },
  help: { kind: 'flag', help: 'this text' },
};

export async function runEval(argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, EVAL_OPTIONS, 'eval');
  if (p.help) return (console.log(helpText('eval', 'test accuracy of a trained checkpoint', EVAL_OPTIONS)), 0);
  if (!p.checkpoint) throw new CliError('grilly eval: --checkpoint FILE is required');
  const file = String(p.checkpoint);
  if (!existsSync(file)) throw new CliError(`grilly eval: --checkpoint ${file}: no such file`);
  const info = await g.init({ backend: backendOption(p.backend, 'eval') });
  const ck = await g.load(file);
  if (!ck.metadata.grilly_train) throw new CliError(`grilly eval: ${file} is not a grilly train checkpoint (no grilly_train metadata)`);
  const st = JSON.parse(ck.metadata.grilly_train) as ResumeState;
  const cfg = st.config;
  const data = await openDataset(String(p.dataset ?? cfg.dataset), cfg.T);
  const model = buildModel({ model: cfg.model, neuron: cfg.neuron, surrogate: cfg.surrogate, inputShape: data.inputShape, temporal: data.temporal, T: cfg.T, classes: data.classes, hidden: cfg.hidden });
  model.loadStateDict(Object.fromEntries(Object.entries(ck.tensors).filter(([k]) => !k.startsWith('optimizer.'))));
  model.eval();
  const limit = Number(p.limit ?? cfg.limit ?? 0);
  const batchSize = Number(p['batch-size'] ?? cfg.batchSize);
  if (limit < 0) throw new CliError(`grilly eval: --limit must be ≥ 0, got ${limit}`);
  if (batchSize < 1) throw new CliError(`grilly eval: --batch-size must be at least 1, got ${batchSize}`);
  const test = limit > 0 && limit < data.test.length ? { length: limit, get: (i: number) => data.test.get(i) } : data.test;
  let correct = 0, n = 0, rate = 0;
  for await (const b of new DataLoader(test, { batchSize })) {
    const x0 = g.tensor(b.x, b.shape);
    const x = data.temporal ? x0.transpose(0, 1) : x0;
    const y = g.tensor(b.y, [b.y.length], { dtype: 'int32' });
    const [c, r] = await g.noGrad(() => {
      const o = model.forward(x);
      const res = Promise.all([o.mean(0).argmax(1).eq(y).sum().item(), o.mean().item()]);
      resetNet(model);
      return res;
    });
    correct += c;
    rate += r * b.y.length; // weighted by batch size: the last batch may be smaller
    n += b.y.length;
  }
  data.close();
  console.log(`grilly eval: ${info.summary}; ${cfg.model} from ${file} (epoch ${st.epoch}) on ${p.dataset ?? cfg.dataset}: test accuracy ${((100 * correct) / n).toFixed(2)}% over ${n} samples, firing rate ${(rate / n).toFixed(4)}`);
  return 0;
}

const INFO_OPTIONS: Record<string, OptionSpec> = { verbose: { kind: 'flag', help: 'stack traces on errors' }, help: { kind: 'flag', help: 'this text' } };

export async function runInfo(argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, INFO_OPTIONS, 'info');
  if (p.help) return (console.log(helpText('info', 'backends, adapter and limits', INFO_OPTIONS)), 0);
  const cpu = await g.init({ backend: 'cpu' });
  console.log(`cpu:    available (${cpu.summary})`);
  try {
    const w = await g.init({ backend: 'webgpu' });
    console.log(`webgpu: available (${w.summary})`);
    console.log(`  vendor ${w.vendor}, device ${w.device}, driver ${w.driver}`);
    console.log(`  features: ${w.features.join(', ')}`);
    for (const [k, v] of Object.entries(w.limits)) console.log(`  ${k}: ${v}`);
  } catch (e) {
    console.log(`webgpu: not available (${(e as Error).message})`);
  }
  g.shutdown();
  const auto = await g.init({ quiet: true });
  console.log(`auto picks: ${auto.backend}${process.env.GRILLY_BACKEND ? ` (GRILLY_BACKEND=${process.env.GRILLY_BACKEND})` : ''}`);
  return 0;
}

const CONVERT_OPTIONS: Record<string, OptionSpec> = {
  epochs: { kind: 'int', help: 'epochs to train the ANN (default 4)' },
  mode: { kind: 'string', help: "max, a percentile such as 99.9% (default), or a fraction such as 0.5" },
  Ts: { kind: 'string', help: 'time steps to report, comma-separated (default 8,16,32,64,128)' },
  limit: { kind: 'int', help: 'use only the first N training and test digits' },
  backend: { kind: 'string', help: 'auto (default), webgpu or cpu' },
  verbose: { kind: 'flag', help: 'stack traces on errors' },
  help: { kind: 'flag', help: 'this text' },
};

/** Trains a small CNN on the embedded digits, converts it to an SNN and reports accuracy against T. */
export async function runConvert(argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, CONVERT_OPTIONS, 'convert');
  if (p.help) return (console.log(helpText('convert', 'train an ANN on the embedded MNIST digits, convert it to a spiking network, report accuracy vs T', CONVERT_OPTIONS)), 0);
  const modeArg = String(p.mode ?? '99.9%');
  const mode: nn.ConvertMode = modeArg === 'max' || modeArg.endsWith('%') ? (modeArg as nn.ConvertMode) : Number(modeArg);
  const pct = modeArg.endsWith('%') ? Number(modeArg.slice(0, -1)) : NaN;
  if (modeArg.endsWith('%') && !(pct > 0 && pct <= 100)) throw new CliError(`grilly convert: --mode's percentile must be in (0%, 100%], got "${modeArg}"`);
  if (typeof mode === 'number' && !(mode > 0 && mode <= 1)) throw new CliError(`grilly convert: --mode must be max, a percentile like 99.9% or a fraction in (0, 1], got "${modeArg}"`);
  const Ts = String(p.Ts ?? '8,16,32,64,128').split(',').map(Number);
  if (Ts.some((t) => !Number.isInteger(t) || t < 1)) throw new CliError(`grilly convert: --Ts must be positive integers, got "${p.Ts}"`);
  const info = await g.init({ backend: backendOption(p.backend, 'convert') });
  console.log(`grilly convert: ${info.summary}`);
  g.manualSeed(0);
  const data = await openDataset('mnist-embedded', 1);
  const limit = Number(p.limit ?? 0);
  const cut = <S>(d: { length: number; get(i: number): S }) => (limit > 0 && limit < d.length ? { length: limit, get: (i: number) => d.get(i) } : d);
  const train = cut(data.train), test = cut(data.test);
  const ann = new nn.Sequential(
    new nn.Conv2d(1, 16, 3, { padding: 1 }), new nn.BatchNorm2d(16), new nn.ReLU(), new nn.AvgPool2d(2),
    new nn.Conv2d(16, 32, 3, { padding: 1 }), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.AvgPool2d(2),
    new nn.Flatten(), new nn.Linear(32 * 7 * 7, 128), new nn.ReLU(), new nn.Linear(128, 10),
  );
  const opt = new AdamW(ann.parameters(), { lr: 2e-3, weightDecay: 1e-4 });
  const lossFn = new nn.CrossEntropyLoss();
  const epochs = Number(p.epochs ?? 4);
  for (let e = 0; e < epochs; e++) {
    ann.train();
    const loader = new DataLoader(train, { batchSize: 64, shuffle: true, seed: 0, dropLast: true });
    loader.setEpoch(e);
    for await (const b of loader) {
      const loss = lossFn.forward(ann.forward(g.tensor(b.x, b.shape)), g.tensor(b.y, [b.y.length], { dtype: 'int32' }));
      opt.zeroGrad();
      loss.backward();
      opt.step();
    }
  }
  ann.eval();
  const batches: { x: g.Tensor; y: g.Tensor }[] = [];
  for await (const b of new DataLoader(test, { batchSize: 250 })) batches.push({ x: g.tensor(b.x, b.shape), y: g.tensor(b.y, [b.y.length], { dtype: 'int32' }) });
  let correct = 0, n = 0;
  for (const { x, y } of batches) (correct += await g.noGrad(() => ann.forward(x).argmax(1).eq(y).sum()).item()), (n += y.size);
  console.log(`ANN test accuracy: ${((100 * correct) / n).toFixed(2)}%`);
  const calib: g.Tensor[] = [];
  for await (const b of new DataLoader({ length: Math.min(512, train.length), get: (i: number) => train.get(i) }, { batchSize: 128 })) calib.push(g.tensor(b.x, b.shape));
  const snn = await new nn.Converter(ann, { mode }).convert(calib);
  const acc = await nn.accuracyVsT(snn, batches, Ts);
  console.log(`SNN (${modeArg}) accuracy: ${[...acc].map(([t, a]) => `T=${t} ${(100 * a).toFixed(2)}%`).join(', ')}`);
  return 0;
}
