// --dataset for `grilly train` and `grilly eval`: mnist-embedded, idx:DIR, nmnist:DIR, shd:FILE.
import { existsSync, statSync } from 'node:fs';
import { EmbeddedMNIST, IdxDataset, NMNIST, SHD, type Dataset, type Sample } from '../data/index.js';
import { CliError } from './args.js';

export interface DataSpec {
  train: Dataset<Sample>;
  test: Dataset<Sample>;
  /** One sample without time. */
  inputShape: number[];
  /** Samples are (T, …) sequences (event data) rather than static images. */
  temporal: boolean;
  classes: number;
  name: string;
  close(): void;
}

function needDir(dir: string, what: string): void {
  if (!dir) throw new CliError(`grilly: --dataset ${what}: needs a folder, e.g. --dataset ${what}:./data/mnist`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`grilly: --dataset ${what}:${dir}: no such folder`);
}

export async function openDataset(spec: string, T: number): Promise<DataSpec> {
  const [kind, ...rest] = spec.split(':');
  const arg = rest.join(':');
  const none = () => {};
  switch (kind) {
    case 'mnist-embedded':
      return { train: new EmbeddedMNIST({ split: 'train' }), test: new EmbeddedMNIST({ split: 'test' }), inputShape: [1, 28, 28], temporal: false, classes: 10, name: spec, close: none };
    case 'idx': {
      needDir(arg, 'idx');
      const train = new IdxDataset({ dir: arg, split: 'train' });
      const test = new IdxDataset({ dir: arg, split: 'test' });
      return { train, test, inputShape: [1, train.rows, train.cols], temporal: false, classes: Math.max(train.classes, test.classes), name: spec, close: none };
    }
    case 'nmnist': {
      needDir(arg, 'nmnist');
      const train = new NMNIST({ dir: arg, split: 'train', T });
      const test = new NMNIST({ dir: arg, split: 'test', T });
      return { train, test, inputShape: [2, 34, 34], temporal: true, classes: 10, name: spec, close: none };
    }
    case 'shd': {
      const [trainFile, testArg] = arg.split(',');
      if (!trainFile) throw new CliError('grilly: --dataset shd: needs the training file, e.g. --dataset shd:./shd_train.h5 (the test file is found beside it, or give shd:TRAIN,TEST)');
      const testFile = testArg ?? trainFile.replace(/train/g, 'test');
      for (const f of [trainFile, testFile]) {
        if (!existsSync(f)) throw new CliError(`grilly: --dataset shd: ${f}: no such file${f === testFile && !testArg ? ' (the test file is looked for beside the training file; give shd:TRAIN,TEST)' : ''}`);
      }
      const train = await SHD.open({ file: trainFile, T });
      const test = await SHD.open({ file: testFile, T });
      return { train, test, inputShape: [700], temporal: true, classes: Math.max(train.classes, test.classes), name: spec, close: () => (train.close(), test.close()) };
    }
    default:
      throw new CliError(`grilly: unknown dataset "${spec}"; use mnist-embedded, idx:DIR, nmnist:DIR or shd:FILE`);
  }
}
