// Every code block of the seed's "Spiking Neural Networks" page, as a runnable example that
// prints something checkable; each must run and exit by itself (on webgpu where there is an
// adapter, as in CI on lavapipe).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
function run(file: string, args: string[] = []): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { cwd: root, encoding: 'utf8', timeout: 180_000 });
  expect(r.error, `${file} did not exit in time`).toBeUndefined();
  expect(r.status, `${file}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('seed page examples', () => {
  it('IFNode integrates and fires', () => {
    const out = run('examples/snn/if-node.ts');
    expect(out).toContain('t=0 spikes=[0,0,1] v=[0.3,0.6,0]');
    expect(out).toContain('t=3 spikes=[1,1,1] v=[0,0,0]');
  });
  it('LIFNode leaks toward τ·X', () => {
    const out = run('examples/snn/lif-node.ts');
    expect(out).toContain('t=2 spikes=[0,1,1] v=[0.7,0,0]');
    expect(out).toContain('t=4 spikes=[0,0,1] v=[0.775,0.9,0]');
  });
  it("ParametricLIFNode's τ learns", () => {
    const out = run('examples/snn/plif-node.ts');
    const taus = [...out.matchAll(/tau ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(taus.length).toBe(6);
    expect(taus[5]!).toBeGreaterThan(taus[0]!);
    expect(out).toMatch(/step 5: firing rate 0\.250/);
  });
  it('surrogates print their gradients', () => {
    const out = run('examples/snn/surrogates.ts');
    expect(out).toMatch(/ATan\s+g′\s+0\.0247 0\.0920 0\.2884 1\.0000/);
    expect(out).toContain('g′(0) = α/2 = 1');
  });
  it('containers keep (T, N, …) shapes', () => {
    const out = run('examples/snn/containers.ts');
    expect(out).toContain('MultiStepContainer(LIFNode): [4,2,8] -> [4,2,8]');
    expect(out).toContain('[4,2,3,16,16] -> [4,2,64,16,16]');
  });
  it('single-step and multi-step mode give the same spikes', () => {
    const out = run('examples/snn/reset-step-mode.ts');
    expect(out).toContain('identical: true');
    expect(out).toMatch(/single-step spikes:\s+[01]*1[01]*/);
  });
  it('the functional lifStep loop', () => {
    const out = run('examples/snn/functional.ts');
    expect(out).toContain('t=1 spike=[0,1,1] v=[0.75,0,0]');
    expect(out).toContain('after resetNet: model.v = null');
  });
  it('encoders: Poisson rates and latency spike times', () => {
    const out = run('examples/snn/encoders.ts');
    expect(out).toContain('latency linear (T=5) spike times for x=[1, 0.75, 0.5, 0.25, 0]: [0, 1, 2, 3, 4]');
    expect(out).toContain('latency log (T=5) spike times for x=[1, 0.75, 0.5, 0.25, 0]: [0, 0, 1, 1, 4]');
    expect(out).toMatch(/poisson spike counts out of 2000 for x=\[0, 0\.1, 0\.5, 0\.9, 1\]: 0 \d+ \d+ \d+ 2000/);
  });
  it('monitor: records match the outputs and remove() restores forward', () => {
    const out = run('examples/snn/monitor.ts');
    expect(out).toContain('records match outputs: true');
    expect(out).toContain("after remove, layer 1's forward is restored: true");
  });
  it('ANN-to-SNN conversion example at reduced size', () => {
    const out = run('examples/ann2snn-mnist.ts', ['--epochs', '1', '--limit', '96', '--Ts', '2,4', '--calib', '32', '--backend', 'cpu']);
    expect(out).toMatch(/ANN test accuracy: [\d.]+%/);
    expect(out).toMatch(/99\.9%\s+[\d.]+%\s+[\d.]+%/);
  });
  it('the complete training example prints loss and firing rate, one fused dispatch per neuron layer each way', () => {
    const out = run('examples/snn/train-snn.ts', ['--epochs', '1', '--limit', '320', '--T', '4']);
    expect(out).toMatch(/Epoch 1: loss=\d\.\d{4} avg_fire_rate=\d\.\d{4}/);
    expect(out).toContain('per step: 2 neuron forward and 2 backward dispatches for 2 neuron layers');
  });
});
