// A small expression language shared by the neuron and surrogate descriptions: numbers,
// variables, + − * /, unary minus, parentheses and a few functions. One expression compiles to
// WGSL (for the GPU kernels) and to JavaScript (for the cpu backend), the JavaScript rounding
// every operation to float32 as the GPU does, so the two backends run the same arithmetic.
import { ValueError } from '../errors.js';

type Node =
  | { k: 'num'; v: number }
  | { k: 'var'; name: string }
  | { k: 'neg'; a: Node }
  | { k: 'bin'; op: '+' | '-' | '*' | '/'; a: Node; b: Node }
  | { k: 'call'; fn: string; args: Node[] };

/** Functions the language knows, with their JavaScript implementation. */
const FUNCS: Record<string, { arity: number; js: string; wgsl: string | null }> = {
  exp: { arity: 1, js: 'Math.exp', wgsl: 'exp' },
  abs: { arity: 1, js: 'Math.abs', wgsl: 'abs' },
  atan: { arity: 1, js: 'Math.atan', wgsl: 'atan' },
  sqrt: { arity: 1, js: 'Math.sqrt', wgsl: 'sqrt' },
  tanh: { arity: 1, js: 'Math.tanh', wgsl: 'tanh' },
  min: { arity: 2, js: 'Math.min', wgsl: 'min' },
  max: { arity: 2, js: 'Math.max', wgsl: 'max' },
  // erf exists only on the host (surrogate primitives, for plots and tests)
  erf: { arity: 1, js: 'ERF', wgsl: null },
  // ge(a, b) = 1 if a ≥ b else 0 (the spike); sel(c, a, b) = a if c ≠ 0 else b
  ge: { arity: 2, js: '', wgsl: '' },
  sel: { arity: 3, js: '', wgsl: '' },
};

export class Expr {
  private constructor(readonly source: string, private readonly root: Node) {}

  static parse(source: string): Expr {
    const toks = source.match(/\s*(\d+\.?\d*(?:e[+-]?\d+)?|\.\d+|[A-Za-z_][A-Za-z0-9_]*|[-+*/(),])/g);
    if (!toks || toks.join('').replace(/\s/g, '') !== source.replace(/\s/g, '')) throw new ValueError(`expression: cannot read "${source}"`);
    const t = toks.map((s) => s.trim());
    let i = 0;
    const peek = () => t[i];
    const eat = (s?: string) => {
      const v = t[i++];
      if (s !== undefined && v !== s) throw new ValueError(`expression "${source}": expected "${s}", got "${v ?? 'end'}"`);
      return v!;
    };
    const primary = (): Node => {
      const v = eat();
      if (v === '(') {
        const e = sum();
        eat(')');
        return e;
      }
      if (v === '-') return { k: 'neg', a: primary() };
      if (/^[\d.]/.test(v)) return { k: 'num', v: Number(v) };
      if (/^[A-Za-z_]/.test(v)) {
        if (peek() !== '(') return { k: 'var', name: v };
        const f = FUNCS[v];
        if (!f) throw new ValueError(`expression "${source}": unknown function ${v}`);
        eat('(');
        const args: Node[] = [sum()];
        while (peek() === ',') {
          eat(',');
          args.push(sum());
        }
        eat(')');
        if (args.length !== f.arity) throw new ValueError(`expression "${source}": ${v} takes ${f.arity} arguments`);
        return { k: 'call', fn: v, args };
      }
      throw new ValueError(`expression "${source}": unexpected "${v}"`);
    };
    const product = (): Node => {
      let a = primary();
      while (peek() === '*' || peek() === '/') {
        const op = eat() as '*' | '/';
        a = { k: 'bin', op, a, b: primary() };
      }
      return a;
    };
    const sum = (): Node => {
      let a = product();
      while (peek() === '+' || peek() === '-') {
        const op = eat() as '+' | '-';
        a = { k: 'bin', op, a, b: product() };
      }
      return a;
    };
    const root = sum();
    if (i !== t.length) throw new ValueError(`expression "${source}": unexpected "${t[i]}"`);
    return new Expr(source, root);
  }

  /** Variables the expression reads. */
  vars(): Set<string> {
    const out = new Set<string>();
    const walk = (n: Node): void => {
      if (n.k === 'var') out.add(n.name);
      else if (n.k === 'neg') walk(n.a);
      else if (n.k === 'bin') (walk(n.a), walk(n.b));
      else if (n.k === 'call') n.args.forEach(walk);
    };
    walk(this.root);
    return out;
  }

  /**
   * WGSL over f32 values; `rename` maps variables to WGSL expressions. With `vec4`, variables may
   * be vec4<f32> or f32: comparisons, selects and two-argument functions splat their operands
   * (WGSL mixes vectors and scalars only in arithmetic).
   */
  wgsl(rename: Record<string, string> = {}, vec4 = false): string {
    const V = (s: string) => (vec4 ? `vec4<f32>(${s})` : s);
    const go = (n: Node): string => {
      switch (n.k) {
        case 'num': return Number.isInteger(n.v) ? `${n.v}.0` : String(n.v);
        case 'var': return rename[n.name] ?? n.name;
        case 'neg': return `(-${go(n.a)})`;
        case 'bin': return `(${go(n.a)} ${n.op} ${go(n.b)})`;
        case 'call': {
          if (n.fn === 'ge') return `select(${V('0.0')}, ${V('1.0')}, ${V(go(n.args[0]!))} >= ${V(go(n.args[1]!))})`;
          if (n.fn === 'sel') return `select(${V(go(n.args[2]!))}, ${V(go(n.args[1]!))}, ${V(go(n.args[0]!))} != ${V('0.0')})`;
          const w = FUNCS[n.fn]!.wgsl;
          if (!w) throw new ValueError(`expression "${this.source}": ${n.fn} has no WGSL form`);
          return `${w}(${n.args.map((a) => (n.args.length > 1 ? V(go(a)) : go(a))).join(', ')})`;
        }
      }
    };
    return go(this.root);
  }

  /** JavaScript; with f32, every operation is rounded to float32 (Math.fround as F). */
  js(rename: Record<string, string> = {}, f32 = true): string {
    const r = (s: string) => (f32 ? `F(${s})` : `(${s})`);
    const go = (n: Node): string => {
      switch (n.k) {
        case 'num': return f32 ? String(Math.fround(n.v)) : String(n.v);
        case 'var': return rename[n.name] ?? n.name;
        case 'neg': return `(-${go(n.a)})`;
        case 'bin': return r(`${go(n.a)} ${n.op} ${go(n.b)}`);
        case 'call':
          if (n.fn === 'ge') return `(${go(n.args[0]!)} >= ${go(n.args[1]!)} ? 1 : 0)`;
          if (n.fn === 'sel') return `(${go(n.args[0]!)} !== 0 ? ${go(n.args[1]!)} : ${go(n.args[2]!)})`;
          return r(`${FUNCS[n.fn]!.js}(${n.args.map(go).join(', ')})`);
      }
    };
    return go(this.root);
  }
}

/** The error function, to double precision. */
export function erf(x: number): number {
  return Math.sign(x) * erfAbs(Math.abs(x));
}

// Series for small a, continued fraction for erfc at large a: accurate to double precision.
function erfAbs(a: number): number {
  if (a < 2.5) {
    let sum = a, term = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = e^{−a²}/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …))))
  let f = a;
  for (let n = 60; n >= 1; n--) f = a + n / 2 / f;
  return 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
}

/** Compiles a JavaScript function from generated source; F is Math.fround, ERF is erf. */
export function compileJs<T extends (...args: never[]) => unknown>(params: string[], body: string): T {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const make = new Function('F', 'ERF', `return function (${params.join(', ')}) {\n${body}\n};`) as (F: (x: number) => number, ERF: (x: number) => number) => T;
  return make(Math.fround, erf);
}
