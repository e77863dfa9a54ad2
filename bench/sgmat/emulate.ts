// Rewrites a subgroup-matrix WGSL kernel from kernel.ts into plain WGSL (f16 + workgroup memory
// only) so its indexing, staging, edge handling and batching can be checked on any adapter with
// shader-f16 (e.g. lavapipe): every invocation of a "subgroup" holds a whole matrix as
// array<f32, R·C> (row-major) and computes loads, stores and multiply-accumulates redundantly.
// Slow, and it says nothing about the real lowering to cooperative matrices — only that the
// kernel asks the builtins for the right things under the documented semantics:
//   load/store offset and stride count elements of the array's element type (scalar or vector);
//   row-major: entry [r][c] at offset + r·stride + c, column-major: offset + c·stride + r.
// Loop bounds add uniform word 63 (pu(63u), zero in probe.ts) so that the driver's compiler cannot
// unroll 16×16×16 loops into an enormous shader. Used by `tsx bench/sgmat/probe.ts --emulate`.

const SCALARS: Record<string, { per: number; read: (a: string, q: string) => string }> = {
  f32: { per: 1, read: (a, q) => `${a}[${q}]` },
  f16: { per: 1, read: (a, q) => `f32(${a}[${q}])` },
  'vec4<f16>': { per: 4, read: (a, q) => `f32(${a}[${q} / 4u][${q} % 4u])` },
  'vec2<u32>': { per: 4, read: (a, q) => `f32(bitcast<vec2<f16>>(${a}[${q} / 4u][(${q} % 4u) / 2u])[${q} % 2u])` },
  'vec4<u32>': { per: 8, read: (a, q) => `f32(bitcast<vec2<f16>>(${a}[${q} / 8u][(${q} % 8u) / 2u])[${q} % 2u])` },
  u32: { per: 2, read: (a, q) => `f32(bitcast<vec2<f16>>(${a}[${q} / 2u])[${q} % 2u])` },
};

/** Splits `s` at top-level commas. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0, cur = '';
  for (const ch of s) {
    if (ch === '(' || ch === '<' || ch === '[') depth++;
    else if (ch === ')' || ch === '>' || ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}
/** Index just past the bracket that closes the one at `open`. */
function closing(s: string, open: number): number {
  const o = s[open]!, c = o === '(' ? ')' : '>';
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    // `>>` and `->` are not brackets here (the matched spans contain neither).
    if (s[i] === o) depth++;
    else if (s[i] === c && !(c === '>' && s[i - 1] === '-')) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new Error(`emulate: unbalanced ${o} at ${open}`);
}
/** [cols, rows] of a subgroup_matrix_* type. */
function dims(ty: string): [number, number] {
  const m = /^subgroup_matrix_(left|right|result)<\s*\w+\s*,\s*(\d+)\s*,\s*(\d+)\s*>$/.exec(ty.trim());
  if (!m) throw new Error(`emulate: unexpected matrix type ${ty}`);
  return [+m[2]!, +m[3]!];
}

export function emulateSgmatWgsl(code: string, subgroupSize = 32): string {
  const elem = new Map<string, string>();
  for (const m of code.matchAll(/var(?:<[^>]*>)?\s+(\w+)\s*:\s*array<(.+?)(?:,\s*\d+)?>;/g)) elem.set(m[1]!, m[2]!);
  const helpers = new Map<string, string>();
  const helper = (name: string, body: string) => {
    if (!helpers.has(name)) helpers.set(name, body);
    return name;
  };
  let out = '';
  let i = 0;
  const re = /subgroupMatrix(Load|Store|MultiplyAccumulate)\b/g;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    out += code.slice(i, m.index);
    let p = m.index + m[0].length;
    let tmpl: string[] = [];
    if (code[p] === '<') {
      const e = closing(code, p);
      tmpl = splitArgs(code.slice(p + 1, e - 1));
      p = e;
    }
    if (code[p] !== '(') throw new Error(`emulate: expected ( after ${m[0]}`);
    const e = closing(code, p);
    const a = splitArgs(code.slice(p + 1, e - 1));
    i = e;
    re.lastIndex = e;
    if (m[1] === 'MultiplyAccumulate') {
      out += `sgm_mma(${a.join(', ')})`;
      continue;
    }
    const load = m[1] === 'Load';
    const [ptr, off] = a as [string, string];
    const arr = ptr.replace(/^&\(?|\)$/g, '');
    let colMajor: boolean, stride: string, value = '';
    if (load) {
      if (tmpl.length === 2) [colMajor, stride] = [tmpl[1] === 'col_major', a[2]!];
      else [colMajor, stride] = [a[2] === 'true', a[3]!];
    } else {
      value = a[2]!;
      if (tmpl.length === 1) [colMajor, stride] = [tmpl[0] === 'col_major', a[3]!];
      else [colMajor, stride] = [a[3] === 'true', a[4]!];
    }
    const et = elem.get(arr);
    const sc = et && SCALARS[et];
    if (!sc) throw new Error(`emulate: array ${arr} has unsupported element type ${et}`);
    const addr = (r: string, c: string) => `off * ${sc.per}u + ${colMajor ? `${c} * stride * ${sc.per}u + ${r}` : `${r} * stride * ${sc.per}u + ${c}`}`;
    if (load) {
      const [C, R] = dims(tmpl[0]!);
      const name = helper(`sgm_ld_${arr}_${colMajor ? 'c' : 'r'}_${R}x${C}`, `fn NAME(off: u32, stride: u32) -> array<f32, ${R * C}> {
  var m: array<f32, ${R * C}>;
  let z = pu(63u);
  for (var r = 0u; r < ${R}u + z; r++) { for (var c = 0u; c < ${C}u + z; c++) { let q = ${addr('r', 'c')}; m[r * ${C}u + c] = ${sc.read(arr, 'q')}; } }
  return m;
}`);
      out += `${name}(${off}, ${stride})`;
    } else {
      if (sc.per !== 1 || et !== 'f32') throw new Error(`emulate: stores only to array<f32> (${arr} is ${et})`);
      const name = helper(`sgm_st_${arr}_${colMajor ? 'c' : 'r'}`, `fn NAME(off: u32, m: array<f32, 256>, stride: u32) {
  let z = pu(63u);
  for (var r = 0u; r < 16u + z; r++) { for (var c = 0u; c < 16u + z; c++) { ${arr}[${addr('r', 'c')}] = m[r * 16u + c]; } }
}`);
      out += `${name}(${off}, ${value}, ${stride})`;
    }
  }
  out += code.slice(i);
  // Types and constructors: every matrix becomes array<f32, rows·cols> (only 16×16 stores/mma).
  out = out.replace(/subgroup_matrix_(?:left|right|result)<\s*\w+\s*,\s*(\d+)\s*,\s*(\d+)\s*>/g, (_s, c: string, r: string) => `array<f32, ${+c * +r}>`);
  out = out.replace(/enable chromium_experimental_subgroup_matrix;\n/, '');
  // subgroup_id: invocations li/subgroupSize form one emulated subgroup.
  out = out.replace(/,\s*@builtin\(subgroup_id\) sg: u32\)\s*\{/, `) {\n  let sg = li / ${subgroupSize}u;`);
  let hs = '';
  for (const [name, body] of helpers) hs += body.replace('NAME', name) + '\n';
  hs += `fn sgm_mma(a: array<f32, 256>, b: array<f32, 256>, c: array<f32, 256>) -> array<f32, 256> {
  var r = c;
  let z = pu(63u);
  for (var i = 0u; i < 16u + z; i++) { for (var j = 0u; j < 16u + z; j++) {
    var s = r[i * 16u + j];
    for (var k = 0u; k < 16u + z; k++) { s += a[i * 16u + k] * b[k * 16u + j]; }
    r[i * 16u + j] = s;
  } }
  return r;
}
`;
  if (/subgroup_matrix|subgroupMatrix/.test(out)) throw new Error('emulate: matrix syntax left over');
  return out + '\n' + hs;
}
