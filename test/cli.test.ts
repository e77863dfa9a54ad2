// The grilly command: training outputs, exact resume (also after Ctrl-C), output-folder
// protection, eval/info/convert, and one-line argument errors.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const env = { ...process.env, GRILLY_BACKEND: 'cpu' };
function grilly(args: string[], timeout = 240_000) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8', timeout, env });
  expect(r.error, `grilly ${args.join(' ')} did not exit`).toBeUndefined();
  return r;
}
const tmp = () => mkdtempSync(join(tmpdir(), 'grilly-cli-'));
const metrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
const stable = (m: Record<string, number | string>) => ({ epoch: m.epoch, phase: m.phase, loss: m.loss, accuracy: m.accuracy, firing_rate: m.firing_rate });
const small = ['--limit', '192', '--batch-size', '32', '--hidden', '64', '--seed', '3'];

describe('grilly train', () => {
  it('writes metrics, checkpoint, config and SVG plots', () => {
    const out = tmp();
    const r = grilly(['train', ...small, '--epochs', '1', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/epoch 1\/1: train loss [\d.]+ acc [\d.]+% \| test loss [\d.]+ acc [\d.]+% firing rate [\d.]+/);
    const files = readdirSync(out);
    for (const f of ['metrics.jsonl', 'checkpoint.safetensors', 'config.json', 'loss.svg', 'accuracy.svg', 'firing-rates.svg']) expect(files).toContain(f);
    expect(files.filter((f) => f.startsWith('raster-')).length).toBe(2); // one per spiking layer
    const m = metrics(out);
    expect(m.map((l) => l.phase)).toEqual(['train', 'test']);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ model: 'mlp', neuron: 'lif', T: 4, hidden: 64 });
    for (const f of files.filter((f) => f.endsWith('.svg'))) {
      const svg = readFileSync(join(out, f), 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg.trim().endsWith('</svg>')).toBe(true);
      expect(svg).not.toMatch(/NaN|undefined/);
    }
  });

  it('resuming after 2 epochs for 1 more gives the same metrics as 3 epochs straight', () => {
    const a = tmp(), b = tmp();
    expect(grilly(['train', ...small, '--epochs', '3', '--out', a]).status).toBe(0);
    expect(grilly(['train', ...small, '--epochs', '2', '--out', b]).status).toBe(0);
    const r = grilly(['train', '--resume', join(b, 'checkpoint.safetensors'), '--epochs', '3']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('resuming from');
    expect(metrics(b).map(stable)).toEqual(metrics(a).map(stable));
    expect(readFileSync(join(b, 'checkpoint.safetensors')).equals(readFileSync(join(a, 'checkpoint.safetensors')))).toBe(true);
  });

  it('augmented training resumes exactly too (the shifts depend only on seed, epoch and index)', () => {
    const a = tmp(), b = tmp();
    const args = [...small, '--augment', 'shift'];
    expect(grilly(['train', ...args, '--epochs', '2', '--out', a]).status).toBe(0);
    expect(grilly(['train', ...args, '--epochs', '1', '--out', b]).status).toBe(0);
    expect(grilly(['train', '--resume', join(b, 'checkpoint.safetensors'), '--epochs', '2']).status).toBe(0);
    expect(metrics(b).map(stable)).toEqual(metrics(a).map(stable));
    const noAug = tmp();
    expect(grilly(['train', ...small, '--epochs', '2', '--out', noAug]).status).toBe(0);
    expect(metrics(noAug).map(stable)).not.toEqual(metrics(a).map(stable));
  });

  it('Ctrl-C saves a checkpoint and exits; resuming finishes exactly like an uninterrupted run', async () => {
    const a = tmp(), b = tmp();
    const args = ['train', '--limit', '1600', '--batch-size', '32', '--hidden', '64', '--epochs', '1'];
    expect(grilly([...args, '--out', a]).status).toBe(0);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--out', b], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      if (/epoch 1\/1 \d+\/50/.test(stdout) && !child.killed) child.kill('SIGINT');
    });
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((res) => child.on('exit', res));
    expect(code, stdout + stderr).toBe(130);
    expect(stderr).toContain('interrupted; saving a checkpoint');
    expect(stdout).toContain('checkpoint saved to');
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    const r = grilly(['train', '--resume', join(b, 'checkpoint.safetensors')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/resuming from .* after epoch 0 \(and \d+ batches of epoch 1\)/);
    expect(metrics(b).map(stable)).toEqual(metrics(a).map(stable));
  });

  it('never overwrites an output folder without --force', () => {
    const out = tmp();
    expect(grilly(['train', ...small, '--epochs', '1', '--out', out]).status).toBe(0);
    const before = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
    const r = grilly(['train', ...small, '--epochs', '1', '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/already holds .*metrics\.jsonl.*; use another --out, --resume to continue, or --force to overwrite$/);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(before);
    expect(grilly(['train', ...small, '--epochs', '1', '--out', out, '--force']).status).toBe(0);
    // config.json alone (what a run that failed before its first epoch leaves) does not block.
    const half = tmp();
    writeFileSync(join(half, 'config.json'), JSON.stringify({ model: 'mlp', epochs: 1, dataset_info: {} }));
    expect(grilly(['train', ...small, '--epochs', '1', '--out', half]).status).toBe(0);
    // …but someone else's config.json does.
    const theirs = tmp();
    writeFileSync(join(theirs, 'config.json'), '{"name": "my project"}');
    expect(grilly(['train', ...small, '--epochs', '1', '--out', theirs]).status).toBe(2);
    expect(readFileSync(join(theirs, 'config.json'), 'utf8')).toBe('{"name": "my project"}');
  });

  it('argument, dataset and checkpoint errors are one clear line and a non-zero exit', () => {
    const cases: [string[], RegExp][] = [
      [['train', '--model', 'resnet'], /^grilly train: unknown --model "resnet"; use mlp, csnn$/],
      [['train', '--T', '0'], /^grilly train: --T must be at least 1, got 0$/],
      [['train', '--epochs', 'two'], /^grilly train: --epochs must be an integer, got "two"$/],
      [['train', '--dataset', 'idx:/no/such/dir'], /^grilly: --dataset idx:\/no\/such\/dir: no such folder$/],
      [['train', '--dataset', 'cifar'], /^grilly: unknown dataset "cifar"/],
      [['train', '--bogus'], /^grilly train: unknown option --bogus$/],
      [['train', '--resume', '/no/such.safetensors'], /^grilly train: --resume \/no\/such\.safetensors: no such file$/],
      [['frobnicate'], /^grilly: unknown command "frobnicate"/],
      [['train', '--backend', 'metal'], /^grilly train: unknown --backend "metal"; use auto, webgpu or cpu$/],
      [['train', '--seed', '-1'], /^grilly train: --seed must be an integer in \[0, 2³²\), got -1$/],
      [['convert', '--mode', '150%'], /^grilly convert: --mode's percentile must be in \(0%, 100%\], got "150%"$/],
    ];
    for (const [args, msg] of cases) {
      const r = grilly(args);
      expect(r.status, args.join(' ')).not.toBe(0);
      const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:'));
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0]).toMatch(msg);
    }
    const bad = tmp();
    writeFileSync(join(bad, 'broken.safetensors'), Buffer.from([1, 2, 3]));
    const r = grilly(['train', '--resume', join(bad, 'broken.safetensors')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:'))).toHaveLength(1);
    expect(r.stderr).toMatch(/broken\.safetensors.*too short/);
    // A truncated IDX file: a clear error naming the file.
    const idx = tmp();
    mkdirSync(idx, { recursive: true });
    for (const n of ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte']) writeFileSync(join(idx, n), Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2]));
    for (const n of ['train-labels-idx1-ubyte', 't10k-labels-idx1-ubyte']) writeFileSync(join(idx, n), Buffer.from([0, 0, 8, 1, 0, 0, 0, 2, 1, 2]));
    const ri = grilly(['train', '--dataset', `idx:${idx}`, '--out', tmp()]);
    expect(ri.status).not.toBe(0);
    expect(ri.stderr).toMatch(/train-images-idx3-ubyte/);
    expect(ri.stderr).not.toMatch(/\n\s+at /);
    // A run that fails before training leaves no folder behind; an output path that cannot be a folder is one line, exit 2.
    const parent = tmp();
    expect(grilly(['train', '--dataset', 'idx:/no/such/dir', '--out', join(parent, 'run')]).status).not.toBe(0);
    expect(existsSync(join(parent, 'run'))).toBe(false);
    writeFileSync(join(parent, 'file'), 'x');
    const ro = grilly(['train', ...small, '--epochs', '1', '--out', join(parent, 'file', 'run')]);
    expect(ro.status).toBe(2);
    expect(ro.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:'))[0]).toMatch(/^grilly train: cannot create the output folder .*file\/run: ENOTDIR/);
    const rv = grilly(['train', '--model', 'resnet', '--verbose']);
    expect(rv.stderr).toMatch(/\n\s+at /); // --verbose shows the stack
  });
});

describe('grilly eval, info, convert', () => {
  it('eval reproduces the test accuracy of the checkpoint', () => {
    const out = tmp();
    expect(grilly(['train', ...small, '--epochs', '1', '--out', out]).status).toBe(0);
    const acc = (metrics(out).find((m) => m.phase === 'test')!.accuracy as number) * 100;
    // By default on the checkpoint's --limit (192) and batch size; other batch sizes give the same accuracy.
    for (const extra of [[], ['--batch-size', '50']]) {
      const r = grilly(['eval', '--checkpoint', join(out, 'checkpoint.safetensors'), ...extra]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`test accuracy ${acc.toFixed(2)}% over 192 samples`);
    }
    expect(grilly(['eval']).stderr).toMatch(/--checkpoint FILE is required/);
  });

  it('info lists the backends; convert reports accuracy against T', () => {
    const info = grilly(['info']);
    expect(info.status, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/^cpu:\s+available/m);
    expect(info.stdout).toMatch(/^auto picks: cpu \(GRILLY_BACKEND=cpu\)/m);
    const c = grilly(['convert', '--epochs', '1', '--limit', '128', '--Ts', '2,4']);
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/SNN \(99\.9%\) accuracy: T=2 [\d.]+%, T=4 [\d.]+%/);
  });

  it('prints help', () => {
    expect(grilly(['--help']).stdout).toContain('grilly train');
    expect(grilly(['train', '--help']).stdout).toContain('--resume');
    expect(grilly(['eval', '-h']).stdout).toContain('--batch-size');
    expect(existsSync(join(root, 'src/cli/main.ts'))).toBe(true);
  });
});

describe('grilly train models', () => {
  it('every --surrogate name builds its surrogate in every spiking layer', async () => {
    const g = await import('../src/index.js');
    const nn = await import('../src/nn/index.js');
    const { SURROGATES, buildModel } = await import('../src/cli/models.js');
    await g.init({ backend: 'cpu' });
    const want = { atan: nn.ATan, sigmoid: nn.surrogate.Sigmoid, 'fast-sigmoid': nn.FastSigmoid, 'piecewise-quadratic': nn.PiecewiseQuadratic, erf: nn.Erf, 'super-spike': nn.SuperSpike };
    expect([...SURROGATES].sort()).toEqual(Object.keys(want).sort());
    for (const s of SURROGATES) {
      const m = buildModel({ model: 'mlp', neuron: 'lif', surrogate: s, inputShape: [4], temporal: false, T: 2, classes: 3, hidden: 5 });
      const nodes = [...m.modules()].filter((x): x is InstanceType<typeof nn.BaseNode> => x instanceof nn.BaseNode);
      expect(nodes.length).toBe(2);
      for (const n of nodes) expect(n.surrogateFunction, s).toBeInstanceOf(want[s]);
    }
  });
});
