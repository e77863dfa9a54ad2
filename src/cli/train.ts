// grilly train: trains a spiking network on real data with progress, metrics, plots and
// checkpoints; resumable (exactly), interruptible (Ctrl-C saves and exits).
import { existsSync, mkdirSync, readdirSync, writeFileSync, appendFileSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as g from '../index.js';
import * as nn from '../nn/index.js';
import { Adam, StepLR, optimizerStateFromTensors, optimizerStateToTensors } from '../optim/index.js';
import { resetNet } from '../functional/index.js';
import { DataLoader, type Batch, type Sample } from '../data/index.js';
import { bits, streamKey } from '../ops/random.js';
import { CliError, backendOption, parseArgs, helpText, type OptionSpec } from './args.js';
import { SURROGATES, buildModel, type ModelName, type NeuronName, type SurrogateName } from './models.js';
import { openDataset, type DataSpec } from './datasets.js';
import { progress } from './progress.js';
import { barChart, lineChart, raster } from './plots.js';

export const TRAIN_OPTIONS: Record<string, OptionSpec> = {
  model: { kind: 'string', help: 'mlp (default) or csnn' },
  dataset: { kind: 'string', help: 'mnist-embedded (default), idx:DIR, nmnist:DIR or shd:FILE' },
  epochs: { kind: 'int', help: 'epochs to train (default 6 for mlp, 14 for csnn); with --resume, the total to reach' },
  'batch-size': { kind: 'int', help: 'samples per batch (default 64)' },
  T: { kind: 'int', help: 'time steps (default 4 for mlp, 6 for csnn; frames for event data)' },
  lr: { kind: 'number', help: 'Adam learning rate (default 3e-3 for mlp, 1e-3 for csnn)' },
  'lr-decay': { kind: 'number', help: 'learning-rate factor per epoch (default 0.7 for mlp, 0.9 for csnn)' },
  neuron: { kind: 'string', help: 'lif (default), plif or if' },
  surrogate: { kind: 'string', help: 'atan (default), sigmoid, fast-sigmoid, piecewise-quadratic, erf or super-spike' },
  hidden: { kind: 'int', help: 'hidden units of the mlp (default 512)' },
  augment: { kind: 'string', help: 'none, or shift: random translation by up to 2 pixels of image data (default: shift for csnn, none for mlp)' },
  backend: { kind: 'string', help: 'auto (default), webgpu or cpu' },
  out: { kind: 'string', help: 'output folder (default runs/<date-time>)' },
  resume: { kind: 'string', help: 'continue from a checkpoint.safetensors' },
  seed: { kind: 'int', help: 'random seed (default 0)' },
  limit: { kind: 'int', help: 'use only the first N training and test samples' },
  force: { kind: 'flag', help: 'overwrite the output folder\'s files' },
  verbose: { kind: 'flag', help: 'stack traces on errors' },
  help: { kind: 'flag', help: 'this text' },
};

export interface TrainConfig {
  model: ModelName;
  dataset: string;
  epochs: number;
  batchSize: number;
  T: number;
  lr: number;
  lrDecay: number;
  augment: 'none' | 'shift';
  neuron: NeuronName;
  surrogate: SurrogateName;
  hidden: number;
  seed: number;
  limit: number;
}

const DEFAULTS: TrainConfig = { model: 'mlp', dataset: 'mnist-embedded', epochs: 6, batchSize: 64, T: 4, lr: 3e-3, lrDecay: 0.7, augment: 'none', neuron: 'lif', surrogate: 'atan', hidden: 512, seed: 0, limit: 0 };
/** What --model csnn changes in the defaults (a slower start wants a slower decay). */
const CSNN_DEFAULTS: Partial<TrainConfig> = { epochs: 14, T: 6, lr: 1e-3, lrDecay: 0.9, augment: 'shift' };

function oneOf<T extends string>(v: unknown, allowed: readonly T[], name: string): T {
  if (!allowed.includes(v as T)) throw new CliError(`grilly train: unknown --${name} "${String(v)}"; use ${allowed.join(', ')}`);
  return v as T;
}

export function trainConfig(p: Record<string, unknown>, base0: TrainConfig = DEFAULTS): TrainConfig {
  const model = oneOf(p.model ?? base0.model, ['mlp', 'csnn'], 'model');
  const base = base0 === DEFAULTS && model === 'csnn' ? { ...DEFAULTS, ...CSNN_DEFAULTS } : base0;
  const c: TrainConfig = {
    model,
    dataset: String(p.dataset ?? base.dataset),
    epochs: Number(p.epochs ?? base.epochs),
    batchSize: Number(p['batch-size'] ?? base.batchSize),
    T: Number(p.T ?? base.T),
    lr: Number(p.lr ?? base.lr),
    lrDecay: Number(p['lr-decay'] ?? base.lrDecay ?? DEFAULTS.lrDecay),
    augment: oneOf(p.augment ?? base.augment ?? 'none', ['none', 'shift'], 'augment'),
    neuron: oneOf(p.neuron ?? base.neuron, ['lif', 'plif', 'if'], 'neuron'),
    surrogate: oneOf(p.surrogate ?? base.surrogate, SURROGATES, 'surrogate'),
    hidden: Number(p.hidden ?? base.hidden),
    seed: Number(p.seed ?? base.seed),
    limit: Number(p.limit ?? base.limit),
  };
  if (c.T < 1) throw new CliError(`grilly train: --T must be at least 1, got ${c.T}`);
  if (c.epochs < 1) throw new CliError(`grilly train: --epochs must be at least 1, got ${c.epochs}`);
  if (c.batchSize < 1) throw new CliError(`grilly train: --batch-size must be at least 1, got ${c.batchSize}`);
  if (!(c.lr > 0)) throw new CliError(`grilly train: --lr must be positive, got ${c.lr}`);
  if (!(c.lrDecay > 0 && c.lrDecay <= 1)) throw new CliError(`grilly train: --lr-decay must be in (0, 1], got ${c.lrDecay}`);
  if (c.hidden < 1) throw new CliError(`grilly train: --hidden must be at least 1, got ${c.hidden}`);
  if (c.limit < 0) throw new CliError(`grilly train: --limit must be ≥ 0, got ${c.limit}`);
  if (!(c.seed >= 0 && c.seed <= 0xffffffff)) throw new CliError(`grilly train: --seed must be an integer in [0, 2³²), got ${c.seed}`);
  return c;
}

/** A view of the first n samples. */
function head<S>(d: { length: number; get(i: number): S }, n: number) {
  return n > 0 && n < d.length ? { length: n, get: (i: number) => d.get(i) } : d;
}

/** Whether a file is the config.json grilly train writes (and so no one else's). */
function isTrainConfig(file: string): boolean {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return typeof c === 'object' && c !== null && 'dataset_info' in c && 'model' in c && 'epochs' in c;
  } catch {
    return false;
  }
}

const OUTPUTS = ['metrics.jsonl', 'checkpoint.safetensors', 'config.json', 'loss.svg', 'accuracy.svg', 'firing-rates.svg'];

function defaultOut(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return join('runs', `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`);
}

interface EpochSums { loss: number; correct: number; rate: number; batches: number; samples: number }
const zero = (): EpochSums => ({ loss: 0, correct: 0, rate: 0, batches: 0, samples: 0 });

/** Per-batch numbers, read back a few batches late so the GPU never waits on the host. */
class Lagged {
  private q: Promise<void>[] = [];
  constructor(private readonly depth = 6) {}
  async push(p: Promise<void>): Promise<void> {
    this.q.push(p);
    if (this.q.length > this.depth) await this.q.shift();
  }
  async drain(): Promise<void> {
    await Promise.all(this.q.splice(0));
  }
}

export async function runTrain(argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, TRAIN_OPTIONS, 'train');
  if (p.help) {
    console.log(helpText('train', 'train a spiking network (defaults: a LIF MLP on the embedded MNIST digits)', TRAIN_OPTIONS));
    return 0;
  }
  // Resuming: the checkpoint's configuration rules; only --epochs (the total) may change.
  let resume: { tensors: Record<string, g.Tensor>; metadata: Record<string, string>; state: ResumeState } | null = null;
  let base = DEFAULTS;
  if (p.resume) {
    const file = String(p.resume);
    if (!existsSync(file)) throw new CliError(`grilly train: --resume ${file}: no such file`);
    await g.init({ backend: backendOption(p.backend, 'train'), quiet: true });
    const ck = await g.load(file);
    const raw = ck.metadata.grilly_train;
    if (!raw) throw new CliError(`grilly train: --resume ${file}: not a grilly train checkpoint (no grilly_train metadata)`);
    const state = JSON.parse(raw) as ResumeState;
    base = state.config;
    resume = { ...ck, state };
  }
  const cfg = trainConfig(resume ? { epochs: p.epochs } : p, base);
  if (resume) for (const k of ['model', 'dataset', 'T', 'neuron', 'surrogate', 'hidden', 'seed', 'batch-size', 'lr', 'lr-decay', 'augment', 'limit'] as const) {
    if (p[k] !== undefined) console.warn(`grilly train: --${k} is ignored when resuming (the checkpoint's configuration is used)`);
  }
  const out = resolve(String(p.out ?? (resume ? dirname(String(p.resume)) : defaultOut())));
  if (!resume && existsSync(out)) {
    // A grilly train config.json alone is what a run that failed before its first epoch leaves: no results to protect.
    const clash = readdirSync(out).filter((f) => (OUTPUTS.includes(f) && !(f === 'config.json' && isTrainConfig(join(out, f)))) || f.startsWith('raster-'));
    if (clash.length && !p.force) throw new CliError(`grilly train: ${out} already holds ${clash.join(', ')}; use another --out, --resume to continue, or --force to overwrite`);
  }
  const info = await g.init({ backend: backendOption(p.backend, 'train') });
  console.log(`grilly train: ${info.summary}`);
  const data: DataSpec = await openDataset(cfg.dataset, cfg.T);
  const train = head(data.train, cfg.limit);
  const test = head(data.test, cfg.limit);
  g.manualSeed(cfg.seed);
  const model = buildModel({ model: cfg.model, neuron: cfg.neuron, surrogate: cfg.surrogate, inputShape: data.inputShape, temporal: data.temporal, T: cfg.T, classes: data.classes, hidden: cfg.hidden });
  const opt = new Adam(model.parameters(), { lr: cfg.lr });
  // The rate decays by a factor per epoch: a schedule that does not depend on the total number of epochs, so
  // training 2 epochs and resuming for a third equals 3 epochs straight.
  const sched = new StepLR(opt, { stepSize: 1, gamma: cfg.lrDecay });
  const lossFn = new nn.MSELoss();
  let startEpoch = 1;
  let partial: { epoch: number; batch: number; sums: EpochSums } | null = null;
  if (resume) {
    const modelPart = Object.fromEntries(Object.entries(resume.tensors).filter(([k]) => !k.startsWith('optimizer.')));
    model.loadStateDict(modelPart);
    opt.loadStateDict(optimizerStateFromTensors(resume.tensors, resume.metadata));
    g.setRngState(resume.state.rng);
    startEpoch = resume.state.epoch + 1;
    if (resume.state.scheduler) sched.loadStateDict(resume.state.scheduler);
    partial = resume.state.partial ?? null;
    console.log(`grilly train: resuming from ${p.resume} after epoch ${resume.state.epoch}${partial ? ` (and ${partial.batch} batches of epoch ${partial.epoch})` : ''}`);
  }
  // The folder is made once the backend, the dataset and the model are ready: a run that fails before leaves nothing.
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new CliError(`grilly train: cannot create the output folder ${out}: ${(e as Error).message}`);
  }
  writeFileSync(join(out, 'config.json'), JSON.stringify({ ...cfg, backend: info.summary, dataset_info: { classes: data.classes, input_shape: data.inputShape, temporal: data.temporal, train: train.length, test: test.length } }, null, 2) + '\n');
  console.log(`grilly train: ${cfg.model} (${cfg.neuron}, ${cfg.surrogate}) on ${cfg.dataset}: ${train.length} train / ${test.length} test samples, T = ${cfg.T}, ${cfg.epochs} epochs → ${out}`);

  // Ctrl-C: finish the batch, save a checkpoint that resumes exactly there, exit.
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('\ngrilly train: interrupted; saving a checkpoint after this batch (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSigint);
  const metricsFile = join(out, 'metrics.jsonl');
  if (!resume && existsSync(metricsFile)) writeFileSync(metricsFile, '');
  const history = readHistory(metricsFile);
  const monitor = new nn.Monitor(model, { layers: 'spiking', record: ['spikes'] });
  monitor.enabled = false;

  const toInput = (b: Batch): g.Tensor => {
    const x = g.tensor(b.x, b.shape);
    // Event data comes as (N, T, …) per batch; the network takes (T, N, …).
    return data.temporal ? x.transpose(0, 1) : x;
  };
  const save = async (epoch: number, part: { epoch: number; batch: number; sums: EpochSums } | null) => {
    const o = optimizerStateToTensors(opt.stateDict());
    const state: ResumeState = { config: cfg, epoch, rng: g.getRngState(), partial: part, scheduler: sched.stateDict() };
    await g.save(join(out, 'checkpoint.safetensors'), { ...model.stateDict(), ...o.tensors }, { ...o.metadata, grilly_train: JSON.stringify(state) });
  };

  try {
    for (let epoch = startEpoch; epoch <= cfg.epochs; epoch++) {
      const t0 = performance.now();
      model.train();
      const augment = cfg.augment === 'shift' && !data.temporal ? shiftAugment(cfg.seed) : undefined;
      const loader = new DataLoader(train, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: true, prefetch: 2, transform: augment });
      loader.setEpoch(epoch - 1);
      const sums = partial?.epoch === epoch ? { ...partial.sums } : zero();
      const skip = partial?.epoch === epoch ? partial.batch : 0;
      partial = null;
      const bar = progress(`epoch ${epoch}/${cfg.epochs}`, loader.length, cfg.batchSize);
      const lag = new Lagged();
      let k = 0;
      for await (const b of loader) {
        if (k++ < skip) continue;
        const x = toInput(b);
        const y = g.tensor(b.y, [b.y.length], { dtype: 'int32' });
        const outSpikes = model.forward(x);
        const rate = outSpikes.mean(0);
        const loss = lossFn.forward(rate, y.oneHot(data.classes));
        opt.zeroGrad();
        loss.backward();
        opt.step();
        resetNet(model);
        const hits = rate.argmax(1).eq(y).sum();
        const fr = outSpikes.mean();
        const n = b.y.length;
        const done = k;
        await lag.push(Promise.all([loss.item(), hits.item(), fr.item()]).then(([l, c, r]) => {
          sums.loss += l;
          sums.correct += c;
          sums.rate += r;
          sums.batches++;
          sums.samples += n;
          bar.update(done, { loss: sums.loss / sums.batches, acc: sums.correct / sums.samples, rate: sums.rate / sums.batches });
        }));
        if (interrupted) {
          await lag.drain();
          bar.end();
          await save(epoch - 1, { epoch, batch: k, sums });
          console.log(`grilly train: checkpoint saved to ${join(out, 'checkpoint.safetensors')}; continue with --resume ${join(out, 'checkpoint.safetensors')}`);
          return 130;
        }
      }
      await lag.drain();
      bar.end();
      const secs = (performance.now() - t0) / 1000;
      const trainLine = { epoch, phase: 'train', loss: sums.loss / sums.batches, accuracy: sums.correct / sums.samples, firing_rate: sums.rate / sums.batches, samples_per_s: sums.samples / secs, seconds: secs };
      appendFileSync(metricsFile, JSON.stringify(trainLine) + '\n');
      const testLine = await evaluate(model, test, data, lossFn, monitor, epoch, cfg.batchSize);
      appendFileSync(metricsFile, JSON.stringify(testLine) + '\n');
      history.push(trainLine, testLine);
      console.log(
        `epoch ${epoch}/${cfg.epochs}: train loss ${trainLine.loss.toFixed(4)} acc ${(100 * trainLine.accuracy).toFixed(2)}% | ` +
          `test loss ${testLine.loss.toFixed(4)} acc ${(100 * testLine.accuracy).toFixed(2)}% firing rate ${testLine.firing_rate.toFixed(4)} (${secs.toFixed(1)} s)`,
      );
      sched.step();
      await save(epoch, null);
      await plots(out, history, model, monitor, test, data);
    }
    console.log(`grilly train: done; metrics, checkpoint and plots in ${out}`);
  } finally {
    process.off('SIGINT', onSigint);
    monitor.remove();
    data.close();
  }
  return 0;
}

/**
 * Random translation by up to 2 pixels (zero fill), drawn from the engine's hash of (seed, epoch,
 * index): the same on every machine and after a resume.
 */
function shiftAugment(seed: number) {
  return (s: Sample, index: number, epoch: number): Sample => {
    const [C, H, W] = s.shape as [number, number, number];
    const r = bits(streamKey(seed ^ 0x5eed, epoch), index);
    const dy = (r % 5) - 2, dx = (Math.floor(r / 5) % 5) - 2;
    const x = new Float32Array(s.x.length);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        const sy = y - dy;
        if (sy < 0 || sy >= H) continue;
        for (let xx = 0; xx < W; xx++) {
          const sx = xx - dx;
          if (sx >= 0 && sx < W) x[(c * H + y) * W + xx] = s.x[(c * H + sy) * W + sx]!;
        }
      }
    }
    return { x, shape: s.shape, y: s.y };
  };
}

export interface ResumeState {
  config: TrainConfig;
  epoch: number;
  rng: { seed: number; calls: number };
  partial: { epoch: number; batch: number; sums: EpochSums } | null;
  scheduler?: ReturnType<StepLR['stateDict']>;
}

type MetricLine = { epoch: number; phase: string; loss: number; accuracy: number; firing_rate: number; layer_rates?: Record<string, number> } & Record<string, unknown>;

function readHistory(file: string): MetricLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as MetricLine);
}

// Batches of the training batch size (as SpikingJelly's examples): a test batch then fits wherever a training batch does.
async function evaluate(model: nn.Module, test: { length: number; get(i: number): { x: Float32Array; shape: readonly number[]; y: number } }, data: DataSpec, lossFn: nn.MSELoss, monitor: nn.Monitor, epoch: number, batchSize: number): Promise<MetricLine> {
  model.eval();
  const t0 = performance.now();
  const loader = new DataLoader(test, { batchSize, shuffle: false, prefetch: 1 });
  let loss = 0, correct = 0, rate = 0, samples = 0;
  monitor.clear();
  monitor.enabled = true;
  for await (const b of loader) {
    const x0 = g.tensor(b.x, b.shape);
    const x = data.temporal ? x0.transpose(0, 1) : x0;
    const y = g.tensor(b.y, [b.y.length], { dtype: 'int32' });
    const [l, c, r] = await g.noGrad(() => {
      const o = model.forward(x);
      const rt = o.mean(0);
      const res = Promise.all([lossFn.forward(rt, y.oneHot(data.classes)).item(), rt.argmax(1).eq(y).sum().item(), o.mean().item()]);
      resetNet(model);
      return res;
    });
    // weighted by batch size: the last batch may be smaller
    loss += l * b.y.length;
    correct += c;
    rate += r * b.y.length;
    samples += b.y.length;
  }
  monitor.enabled = false;
  const layerRates = Object.fromEntries(await monitor.firingRates());
  monitor.clear();
  return { epoch, phase: 'test', loss: loss / samples, accuracy: correct / samples, firing_rate: rate / samples, layer_rates: layerRates, seconds: (performance.now() - t0) / 1000 };
}

async function plots(out: string, history: MetricLine[], model: nn.Module, monitor: nn.Monitor, test: { get(i: number): { x: Float32Array; shape: readonly number[]; y: number } }, data: DataSpec): Promise<void> {
  const series = (phase: string, key: 'loss' | 'accuracy') => history.filter((h) => h.phase === phase).map((h) => [h.epoch, key === 'accuracy' ? 100 * h.accuracy : h.loss] as [number, number]);
  writeFileSync(join(out, 'loss.svg'), lineChart('Loss', 'epoch', 'loss (MSE of firing rate)', [{ name: 'train', points: series('train', 'loss') }, { name: 'test', points: series('test', 'loss') }]));
  writeFileSync(join(out, 'accuracy.svg'), lineChart('Accuracy', 'epoch', 'accuracy (%)', [{ name: 'train', points: series('train', 'accuracy') }, { name: 'test', points: series('test', 'accuracy') }]));
  const last = [...history].reverse().find((h) => h.phase === 'test');
  if (last?.layer_rates) {
    const names = Object.keys(last.layer_rates);
    writeFileSync(join(out, 'firing-rates.svg'), barChart(`Firing rate per spiking layer (test, epoch ${last.epoch})`, 'spikes per neuron per step', names.map((n) => `layer ${n}`), names.map((n) => last.layer_rates![n]!)));
  }
  // A spike raster of the first test sample, per spiking layer.
  const s = test.get(0);
  const x0 = g.tensor(s.x, [1, ...s.shape]);
  const x = data.temporal ? x0.transpose(0, 1) : x0;
  monitor.clear();
  monitor.enabled = true;
  g.noGrad(() => model.forward(x));
  resetNet(model);
  monitor.enabled = false;
  for (const name of monitor.layerNames) {
    const rec = monitor.records(name)[0];
    if (!rec) continue;
    const T = rec.shape[0]!;
    const neurons = rec.size / T;
    const spikes = await rec.data();
    writeFileSync(join(out, `raster-${name.replace(/[^\w.-]/g, '_') || 'net'}.svg`), raster(`Spikes of layer ${name} for test sample 0 (label ${s.y})`, spikes, T, neurons));
  }
  monitor.clear();
}
