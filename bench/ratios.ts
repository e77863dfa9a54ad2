// Joins grilly's and SpikingJelly's results from one device run into the ratio table of issue 7.
// Usage: tsx bench/ratios.ts grilly.json sj.json [grilly-fp16.json [grilly-fp16x3.json]] [--rows LABEL=file.json]…
//        [--out ratios.json] [--md]
// --rows adds a file's rows under precision LABEL (say fp16x3-TN: a label that starts with 'fp16x3' is held to the
// fp32 targets, one that starts with 'fp16' otherwise to the fp16 target).
import { readFileSync, writeFileSync } from 'node:fs';

interface GRow { workload: string; size: string; ms: number; peakBytes: number }
interface SRow { workload: string; size: string; backend: string; ms: number | null; peak_bytes: number | null; error: string | null }

const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args.splice(outAt, 2)[1] : undefined;
const md = args.includes('--md');
const labelled: [string, string][] = [];
for (let at = args.indexOf('--rows'); at >= 0; at = args.indexOf('--rows')) {
  const spec = args.splice(at, 2)[1] ?? '';
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`ratios: --rows wants LABEL=file.json, got ${JSON.stringify(spec)}`);
  labelled.push([spec.slice(0, eq), spec.slice(eq + 1)]);
}
const files = args.filter((a) => !a.startsWith('--'));
const grilly = JSON.parse(readFileSync(files[0]!, 'utf8')) as { rows: GRow[]; commit?: string };
const sj = JSON.parse(readFileSync(files[1]!, 'utf8')) as { rows: SRow[] };
const fp16 = files[2] ? (JSON.parse(readFileSync(files[2], 'utf8')) as { rows: GRow[] }) : null;
const fp16x3 = files[3] ? (JSON.parse(readFileSync(files[3], 'utf8')) as { rows: GRow[] }) : null;

// Targets: ratio to SpikingJelly's best backend, or an absolute time. 'fp16x3' rows (fp32 accuracy
// from three f16 products) are held to the fp32 targets.
const target = (w: string, size: string, fp: boolean): { ratio?: number; ms?: number } => {
  if (fp) return size === 'n=16384' ? { ratio: 0.4 } : {};
  if (w === 'lif') return size === 'T=128' ? { ms: 1.0 } : { ratio: 0.5 };
  if (w === 'onb') return { ratio: 1.0 };
  if (w === 'mlp') return { ratio: 0.25 };
  if (w === 'csnn') return { ratio: 0.8 };
  return {};
};

interface Line { workload: string; size: string; precision: string; grillyMs: number; sjBest: string; sjMs: number; ratio: number; target: string; met: boolean; grillyPeak: number; sjPeak: number | null; sj: Record<string, number | string> }
const lines: Line[] = [];
const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
const emit = (r: GRow, precision: string) => {
  const cands = sj.rows.filter((s) => s.workload === r.workload && norm(s.size) === norm(r.size));
  const ok = cands.filter((s) => s.ms != null);
  const sjAll: Record<string, number | string> = {};
  for (const c of cands) sjAll[c.backend] = c.ms ?? `error: ${c.error ?? 'n/a'}`;
  if (!ok.length) {
    console.log(`(no SpikingJelly figure for ${r.workload} ${r.size})`);
    return;
  }
  const best = ok.reduce((a, b) => (a.ms! <= b.ms! ? a : b));
  const peaks = ok.map((s) => s.peak_bytes).filter((p): p is number => p != null);
  const ratio = r.ms / best.ms!;
  const t = target(r.workload, r.size, precision.startsWith('fp16') && !precision.startsWith('fp16x3'));
  const met = (t.ratio === undefined || ratio <= t.ratio) && (t.ms === undefined || r.ms <= t.ms);
  const tgt = [t.ratio !== undefined ? `ratio ≤ ${t.ratio}` : '', t.ms !== undefined ? `≤ ${t.ms} ms` : ''].filter(Boolean).join(', ') || '—';
  lines.push({ workload: r.workload, size: r.size, precision, grillyMs: r.ms, sjBest: best.backend, sjMs: best.ms!, ratio, target: tgt, met: tgt === '—' ? true : met, grillyPeak: r.peakBytes, sjPeak: peaks.length ? Math.min(...peaks) : null, sj: sjAll });
};
for (const r of grilly.rows) emit(r, 'fp32');
for (const r of fp16?.rows ?? []) emit(r, 'fp16');
for (const r of fp16x3?.rows ?? []) emit(r, 'fp16x3');
for (const [label, file] of labelled) for (const r of (JSON.parse(readFileSync(file, 'utf8')) as { rows: GRow[] }).rows) emit(r, label);

const mib = (b: number | null) => (b == null ? '—' : (b / 2 ** 20).toFixed(0));
const header = ['workload', 'size', 'precision', 'grilly ms', 'SJ best', 'SJ ms', 'ratio', 'target', 'met', 'grilly peak MiB', 'SJ peak MiB', 'mem ratio'];
const cells = lines.map((l) => [l.workload, l.size, l.precision, l.grillyMs.toFixed(3), l.sjBest, l.sjMs.toFixed(3), l.ratio.toFixed(3), l.target, l.met ? 'yes' : 'NO', mib(l.grillyPeak), mib(l.sjPeak), l.sjPeak ? (l.grillyPeak / l.sjPeak).toFixed(3) : '—']);
if (md) {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const c of cells) console.log(`| ${c.join(' | ')} |`);
} else {
  const w = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  console.log(header.map((h, i) => h.padEnd(w[i]!)).join('  '));
  for (const c of cells) console.log(c.map((x, i) => x.padEnd(w[i]!)).join('  '));
}
if (out) writeFileSync(out, JSON.stringify({ grillyCommit: grilly.commit ?? null, lines }, null, 2));
