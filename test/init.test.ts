// Starting backends: the error before init, GRILLY_BACKEND, 'auto', and the fallback when Dawn
// cannot load at all.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as g from '../src/index.js';

describe('init', () => {
  it('says to call init before any tensor exists', () => {
    expect(() => g.zeros([2])).toThrow(/call `await grilly.init\(\)` first/);
    expect(() => g.backendInfo()).toThrow(g.StateError);
  });

  it('GRILLY_BACKEND overrides auto', async () => {
    process.env.GRILLY_BACKEND = 'cpu';
    try {
      const info = await g.init();
      expect(info.backend).toBe('cpu');
      expect(g.backendInfo().summary).toBe(info.summary);
    } finally {
      delete process.env.GRILLY_BACKEND;
    }
  });

  it('auto takes webgpu when an adapter exists and reports the adapter', async () => {
    g.shutdown();
    const info = await g.init({ backend: 'auto' });
    expect(info.backend).toBe('webgpu');
    expect(info.summary).toMatch(/^webgpu · (vulkan|metal|d3d12|browser) · \S+/);
    expect(info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(g.backendInfo()).toEqual(info);
    await expect(g.init({ backend: 'tpu' as never })).rejects.toThrow(/backend must be/);
  });

  it('shutdown makes old tensors refuse use, and init starts afresh', async () => {
    const t = g.ones([2]);
    g.shutdown();
    expect(() => t.add(1)).toThrow(/shutdown/);
    await g.init({ backend: 'webgpu' });
    expect(Array.from(await g.ones([2]).data())).toEqual([1, 1]);
    // A read still pending at shutdown fails saying so.
    const pending = g.ones([4]).data();
    g.shutdown();
    await expect(pending).rejects.toThrow('webgpu: the backend was shut down (grilly.shutdown()) while a read of 16 bytes was pending');
    await g.init({ backend: 'webgpu' });
  });

  it('survives repeated shutdown and init with garbage collection in between', async () => {
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    for (let i = 0; i < 10; i++) {
      await g.init({ backend: 'webgpu' });
      expect(await g.ones([3]).sum().item()).toBe(3);
      g.shutdown();
      gc();
      await new Promise((r) => setTimeout(r, 5));
    }
    await g.init({ backend: 'webgpu' });
  });

  it('falls back to cpu with a one-line notice when Dawn cannot load', () => {
    const script = `import * as g from './src/index.ts'; const i = await g.init(); console.log('BACKEND=' + i.backend);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', './test/fixtures/no-dawn.mjs', '--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url).pathname,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('BACKEND=cpu');
    const notice = r.stderr.split('\n').filter((l) => l.startsWith('grilly:'));
    expect(notice).toHaveLength(1);
    expect(notice[0]).toMatch(/could not load.*using the cpu backend/);
  });
});
