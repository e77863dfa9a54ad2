// A script that used the GPU exits by itself: the example runs on WebGPU (lavapipe in CI), at
// reduced size, and must end on its own with status 0.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;

function runScript(args: string[], timeout = 120_000) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: root, encoding: 'utf8', timeout, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  return { ...r, ms: Date.now() - t0 };
}

describe('scripts exit by themselves', () => {
  it('examples/train-mnist.ts on webgpu trains and exits', () => {
    const r = runScript(['examples/train-mnist.ts', '--backend', 'webgpu', '--epochs', '1', '--limit', '1024']);
    expect(r.error, 'the script did not exit within the timeout').toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/webgpu · /);
    const m = /Epoch 1: loss=([\d.]+) train_acc=([\d.]+)% test_acc=([\d.]+)%/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![3])).toBeGreaterThan(60); // 1,024 digits, one epoch: far above chance (10%)
  });

  it('a script that only reads one value from the GPU exits', () => {
    const r = runScript(['--input-type=module', '-e', `import * as g from './src/index.ts'; await g.init({ backend: 'webgpu' }); console.log(await g.ones([3]).sum().item());`], 60_000);
    expect(r.error).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('3');
  });
});
