// Sanity check on a real GPU: WebGPU results against the cpu backend for GEMM shapes and a few
// ops, then the script simply ends (it must exit by itself). Usage: tsx bench/check-gpu.ts
import * as g from '../src/index.js';
import { mapTuning } from '../src/ops/elementwise.js';

const cpu = await g.init({ backend: 'cpu' });
const gpu = await g.init({ backend: 'webgpu' });
console.log(`check-gpu: ${gpu.summary} (driver: ${gpu.driver}); features: ${gpu.features.join(', ')}`);
console.log(`limits: ${JSON.stringify(gpu.limits)}`);
void cpu;

async function compare(name: string, f: () => g.Tensor): Promise<void> {
  g.manualSeed(7);
  await g.init({ backend: 'cpu' });
  const c = await f().data();
  g.manualSeed(7);
  await g.init({ backend: 'webgpu' });
  const w = await f().data();
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < c.length; i++) {
    worst = Math.max(worst, Math.abs(c[i]! - w[i]!));
    scale = Math.max(scale, Math.abs(c[i]!));
  }
  const ok = worst <= 1e-4 * Math.max(1, scale);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: max |cpu-gpu| ${worst.toExponential(2)} (scale ${scale.toFixed(2)})`);
  if (!ok) process.exitCode = 1;
}

const shapes: [number, number, number][] = [[3, 5, 7], [64, 64, 64], [130, 70, 260], [256, 784, 256], [1000, 1000, 10], [513, 257, 129]];
for (const [M, K, N] of shapes) {
  await compare(`matmul ${M}x${K} @ ${K}x${N}`, () => g.matmul(g.randn([M, K]), g.randn([K, N])));
  await compare(`matmul grads ${M}x${K}x${N}`, () => {
    const a = g.randn([M, K], { requiresGrad: true });
    const b = g.randn([K, N], { requiresGrad: true });
    g.matmul(a, b).sum().backward();
    return g.cat([a.grad!.flatten(), b.grad!.flatten()]);
  });
}
await compare('batched matmul [4,33,17]@[17,9]', () => g.matmul(g.randn([4, 33, 17]), g.randn([17, 9])));
await compare('sum of 2^22', () => g.sum(g.rand([1 << 22])).reshape([1]));
await compare('softmax rows', () => g.softmax(g.randn([300, 1000]).mul(10), 1));
await compare('argmax', () => g.argmax(g.randn([300, 1000]), 1).float());
// Large contiguous maps may run several elements per invocation: check every setting.
for (const u of [1, 2, 4, 8]) {
  mapTuning.unroll = u;
  await compare(`add of 2^22 + 3 elements, ${u} per invocation`, () => g.rand([(1 << 22) + 3]).add(g.rand([(1 << 22) + 3])));
  await compare(`add of 2^22 elements (vec4), ${u} per invocation`, () => g.rand([1 << 22]).mul(g.rand([1 << 22])));
}
mapTuning.unroll = 4;
console.log('check-gpu: done; the process should now exit on its own');
