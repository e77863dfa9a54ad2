// Peak subgroup-matrix multiply-accumulate rate through Dawn, per component type: every subgroup
// loads one left and one right matrix once and runs a loop of independent multiply-accumulates on
// them (no memory traffic in the loop), like bench/fma-ceiling.ts for plain FMAs. The ceiling a
// tensor-core GEMM in WGSL could reach on this adapter; i8 is the way to an exact fp32 product
// (integer slices of the mantissas), f16 what setMatmulPrecision('fp16') uses.
// Usage: tsx bench/sgmat/mma-ceiling.ts [--iters 4096]   (exits 0 saying so without the feature)
//        tsx bench/sgmat/mma-ceiling.ts --compile-only    (Dawn's null backend: the WGSL compiles)
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const argv = process.argv.slice(2);
const ITERS = Number(argv[argv.indexOf('--iters') + 1] ?? 0) || 4096;
const keep: object[] = [];
(globalThis as { __mmaKeep?: object[] }).__mmaKeep = keep; // the Dawn instance must outlive its events
const compileOnly = argv.includes('--compile-only');
const gpu = create(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia', ...(compileOnly ? ['backend=null'] : [])]);
keep.push(gpu);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const FEATURE = 'chromium-experimental-subgroup-matrix';
if (!adapter || !adapter.features.has(FEATURE)) {
  console.log(`mma-ceiling: the adapter has no ${FEATURE}; nothing to measure`);
  process.exit(0);
}
type Cfg = { componentType: string; resultComponentType: string; M: number; N: number; K: number };
// (the null backend reports no configs: compile the H200's)
const H200: Cfg[] = [['f16', 'f32', 16, 16, 16], ['f16', 'f32', 16, 8, 16], ['i8', 'i32', 16, 16, 32], ['u8', 'u32', 16, 8, 32]].map(
  ([componentType, resultComponentType, M, N, K]) => ({ componentType, resultComponentType, M, N, K }) as Cfg,
);
const configs = compileOnly ? H200 : ((adapter.info as unknown as { subgroupMatrixConfigs?: Cfg[] }).subgroupMatrixConfigs ?? []).map(
  // (Dawn's objects keep these as getters: a spread copies nothing)
  (c) => ({ componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K }),
);
const want = ['subgroups', 'shader-f16', FEATURE].filter((f) => adapter.features.has(f)) as GPUFeatureName[];
const device = await adapter.requestDevice({ requiredFeatures: want });
keep.push(adapter, device);
console.log(`adapter: ${adapter.info.vendor} ${adapter.info.device} ${adapter.info.description}`);

const ACC = 4; // independent accumulators a subgroup
const WGS = 132 * 32; // workgroups of 4 subgroups
const scalar = (t: string) => (t === 'f16' ? 'f16' : t === 'f32' ? 'f32' : t === 'i8' || t === 'i32' ? 'i32' : 'u32');
const bytes = (t: string) => (t === 'f16' ? 2 : t === 'i8' || t === 'u8' ? 1 : 4);

function wgsl(c: Cfg): string {
  const T = c.componentType, R = c.resultComponentType;
  // the inputs sit in an array<u32>: offsets and strides count u32 words
  const strideL = (c.K * bytes(T)) / 4, strideR = (c.N * bytes(T)) / 4;
  const acc = [...Array(ACC).keys()];
  return `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
@group(0) @binding(0) var<storage, read_write> inp: array<u32>;
@group(0) @binding(1) var<storage, read_write> outp: array<${scalar(R)}>;
@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_id) sid: u32) {
  let l = subgroupMatrixLoad<subgroup_matrix_left<${T}, ${c.K}, ${c.M}>, row_major>(&inp, 0u, ${strideL}u);
  let r = subgroupMatrixLoad<subgroup_matrix_right<${T}, ${c.N}, ${c.K}>, row_major>(&inp, 1024u, ${strideR}u);
  ${acc.map((a) => `var a${a} = subgroup_matrix_result<${R}, ${c.N}, ${c.M}>();`).join('\n  ')}
  for (var i = 0u; i < ${ITERS}u; i++) {
    ${acc.map((a) => `a${a} = subgroupMatrixMultiplyAccumulate(l, r, a${a});`).join('\n    ')}
  }
  let base = (wid.x * 4u + sid) * ${ACC * c.M * c.N}u;
  ${acc.map((a) => `subgroupMatrixStore<row_major>(&outp, base + ${a * c.M * c.N}u, a${a}, ${c.N}u);`).join('\n  ')}
}
`;
}

const inp = device.createBuffer({ size: 16384, usage: GPUBufferUsage.STORAGE });
const rows: { type: string; shape: string; tops: number; ms: number }[] = [];
for (const c of configs) {
  const code = wgsl(c);
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const err = await device.popErrorScope();
  if (err || compileOnly) {
    console.log(`${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}: ${err ? err.message.split('\n').slice(0, 6).join(' | ') : 'compiles'}`);
    continue;
  }
  const outp = device.createBuffer({ size: WGS * 4 * ACC * c.M * c.N * 4, usage: GPUBufferUsage.STORAGE });
  const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: inp } }, { binding: 1, resource: { buffer: outp } }] });
  const run = async () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(WGS);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await run();
  const ts: number[] = [];
  for (let k = 0; k < 5; k++) ts.push(await run());
  ts.sort((a, b) => a - b);
  const ms = ts[2]!;
  const ops = 2 * c.M * c.N * c.K * ACC * ITERS * WGS * 4;
  const tops = ops / (ms * 1e-3) / 1e12;
  rows.push({ type: `${c.componentType}->${c.resultComponentType}`, shape: `${c.M}x${c.N}x${c.K}`, tops, ms });
  console.log(`${`${c.componentType}->${c.resultComponentType}`.padEnd(10)} ${`${c.M}x${c.N}x${c.K}`.padEnd(9)} ${tops.toFixed(1).padStart(7)} T(FL)OP/s  (${ms.toFixed(2)} ms)`);
  outp.destroy();
}
device.destroy();
process.exit(0);
