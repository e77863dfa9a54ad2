#!/usr/bin/env node
// The grilly command: train, eval, info, convert.
import { CliError } from './args.js';
import { GrillyError } from '../errors.js';

const USAGE = `grilly — spiking neural networks on the GPU

  grilly train    train a spiking network (default: a LIF MLP on the embedded MNIST digits)
  grilly eval     test accuracy of a checkpoint (--checkpoint FILE)
  grilly info     backends, adapter and limits
  grilly convert  train an ANN, convert it to an SNN, report accuracy against T

Each command takes --help.`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'train': return (await import('./train.js')).runTrain(rest);
    case 'eval': return (await import('./commands.js')).runEval(rest);
    case 'info': return (await import('./commands.js')).runInfo(rest);
    case 'convert': return (await import('./commands.js')).runConvert(rest);
    case undefined: case '--help': case '-h': case 'help':
      console.log(USAGE);
      return 0;
    default:
      throw new CliError(`grilly: unknown command "${cmd}"; use train, eval, info or convert`);
  }
}

const argv = process.argv.slice(2);
const verbose = argv.includes('--verbose');
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (verbose || !(e instanceof GrillyError)) console.error(e instanceof Error && verbose ? e.stack : String(e instanceof Error ? `${e.name}: ${e.message}` : e));
    else console.error(e.message.startsWith('grilly') ? e.message : `grilly: ${e.message}`);
    process.exitCode = e instanceof CliError ? 2 : 1;
  },
);
