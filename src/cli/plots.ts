// Small, dependency-free SVG plots for a training run: curves, spike rasters, firing-rate bars.
const W = 640, H = 400, M = { l: 64, r: 150, t: 40, b: 52 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (v: number) => (Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(1) : +v.toFixed(3) + '');

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(12));
  return out;
}

function frame(title: string, xLabel: string, yLabel: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>
<text x="${M.l + (W - M.l - M.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>
<text transform="translate(16 ${M.t + (H - M.t - M.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>
${body}
</svg>
`;
}

function axes(xs: number[], ys: number[], sx: (v: number) => number, sy: (v: number) => number): string {
  let s = `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="black"/><line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="black"/>\n`;
  for (const x of xs) s += `<line x1="${sx(x)}" y1="${H - M.b}" x2="${sx(x)}" y2="${H - M.b + 5}" stroke="black"/><text x="${sx(x)}" y="${H - M.b + 18}" text-anchor="middle">${num(x)}</text>\n`;
  for (const y of ys) s += `<line x1="${M.l - 5}" y1="${sy(y)}" x2="${M.l}" y2="${sy(y)}" stroke="black"/><line x1="${M.l}" y1="${sy(y)}" x2="${W - M.r}" y2="${sy(y)}" stroke="#eee"/><text x="${M.l - 8}" y="${sy(y) + 4}" text-anchor="end">${num(y)}</text>\n`;
  return s;
}

export interface Series {
  name: string;
  points: [number, number][];
}

/** Lines with markers, one per series, and a legend. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  let x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (!pts.length) (x0 = 0, x1 = 1, y0 = 0, y1 = 1);
  if (y0 === y1) (y0 -= 0.5, y1 += 0.5);
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (v: number) => +(M.l + ((v - x0) / (x1 - x0)) * (W - M.l - M.r)).toFixed(2);
  const sy = (v: number) => +(H - M.b - ((v - y0) / (y1 - y0)) * (H - M.t - M.b)).toFixed(2);
  let body = axes(niceTicks(x0, x1), niceTicks(y0, y1), sx, sy);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (p.length > 1) body += `<polyline fill="none" stroke="${c}" stroke-width="2" points="${p.map(([x, y]) => `${sx(x)},${sy(y)}`).join(' ')}"/>\n`;
    for (const [x, y] of p) body += `<circle cx="${sx(x)}" cy="${sy(y)}" r="3.5" fill="${c}"/>\n`;
    body += `<rect x="${W - M.r + 14}" y="${M.t + i * 20 - 9}" width="12" height="12" fill="${c}"/><text x="${W - M.r + 32}" y="${M.t + i * 20 + 1}">${esc(s.name)}</text>\n`;
  });
  return frame(title, xLabel, yLabel, body);
}

/** A spike raster: spikes[t][n] ∈ {0, 1} drawn as ticks at (t, n). */
export function raster(title: string, spikes: ArrayLike<number>, T: number, neurons: number): string {
  const shown = Math.min(neurons, 256);
  const sx = (t: number) => +(M.l + ((t + 0.5) / T) * (W - M.l - M.r)).toFixed(2);
  const sy = (n: number) => +(H - M.b - ((n + 0.5) / shown) * (H - M.t - M.b)).toFixed(2);
  let body = axes(niceTicks(0, T - 1, Math.min(T - 1, 8)).filter(Number.isInteger), niceTicks(0, shown - 1, 5).filter(Number.isInteger), sx, sy);
  const h = Math.max(1, (H - M.t - M.b) / shown - 0.5);
  const w = Math.max(2, Math.min(8, ((W - M.l - M.r) / T) * 0.6));
  let count = 0;
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < shown; n++) {
      if (spikes[t * neurons + n]) {
        body += `<rect x="${(sx(t) - w / 2).toFixed(2)}" y="${(sy(n) - h / 2).toFixed(2)}" width="${w.toFixed(2)}" height="${h.toFixed(2)}" fill="black"/>`;
        count++;
      }
    }
  }
  body += `\n<text x="${W - M.r + 14}" y="${M.t + 4}">${count} spikes</text><text x="${W - M.r + 14}" y="${M.t + 22}">${shown} of ${neurons} neurons</text>\n`;
  return frame(title, 'time step', 'neuron', body);
}

/** Bars with their values on top. */
export function barChart(title: string, yLabel: string, labels: string[], values: number[]): string {
  const y1 = Math.max(1e-9, ...values.filter(Number.isFinite)) * 1.15;
  const sy = (v: number) => +(H - M.b - (v / y1) * (H - M.t - M.b)).toFixed(2);
  const bw = (W - M.l - M.r) / Math.max(1, labels.length);
  let body = axes([], niceTicks(0, y1), () => M.l, sy);
  labels.forEach((l, i) => {
    const x = M.l + i * bw + bw * 0.15;
    const v = Number.isFinite(values[i]!) ? values[i]! : 0;
    body += `<rect x="${x.toFixed(2)}" y="${sy(v)}" width="${(bw * 0.7).toFixed(2)}" height="${(H - M.b - sy(v)).toFixed(2)}" fill="${COLORS[i % COLORS.length]}"/>`;
    body += `<text x="${(x + bw * 0.35).toFixed(2)}" y="${sy(v) - 6}" text-anchor="middle">${num(v)}</text><text x="${(x + bw * 0.35).toFixed(2)}" y="${H - M.b + 18}" text-anchor="middle">${esc(l)}</text>\n`;
  });
  return frame(title, 'layer', yLabel, body);
}
