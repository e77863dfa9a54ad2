// Command-line parsing: `--name value`, `--name=value` and boolean `--flag`, checked against each
// command's option list so a typo is an error, not a silent default.
import { GrillyError } from '../errors.js';

/** An error the CLI prints as one line (no stack trace unless --verbose). */
export class CliError extends GrillyError {}

export interface OptionSpec {
  /** 'flag' takes no value. */
  kind: 'string' | 'number' | 'int' | 'flag';
  help: string;
}

export type Parsed = Record<string, string | number | boolean>;

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>, command: string): Parsed {
  const out: Parsed = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' && spec.help) {
      out.help = true;
      continue;
    }
    if (!a.startsWith('--')) throw new CliError(`grilly ${command}: unexpected argument "${a}" (options start with --; see grilly ${command} --help)`);
    let [name, value] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const s = spec[name];
    if (!s) {
      const near = Object.keys(spec).filter((k) => k.startsWith(name.slice(0, 3)));
      throw new CliError(`grilly ${command}: unknown option --${name}${near.length ? ` (did you mean --${near[0]}?)` : ''}`);
    }
    if (s.kind === 'flag') {
      if (value !== undefined) throw new CliError(`grilly ${command}: --${name} takes no value`);
      out[name] = true;
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new CliError(`grilly ${command}: --${name} needs a value`);
    }
    if (s.kind === 'string') out[name] = value;
    else {
      const n = Number(value);
      if (!Number.isFinite(n) || (s.kind === 'int' && !Number.isInteger(n))) {
        throw new CliError(`grilly ${command}: --${name} must be ${s.kind === 'int' ? 'an integer' : 'a number'}, got "${value}"`);
      }
      out[name] = n;
    }
  }
  return out;
}

export function helpText(command: string, summary: string, spec: Record<string, OptionSpec>): string {
  const w = Math.max(...Object.keys(spec).map((k) => k.length)) + 2;
  return `grilly ${command} — ${summary}\n\n` + Object.entries(spec).map(([k, s]) => `  --${k.padEnd(w)}${s.help}`).join('\n');
}

/** --backend's value, checked (a usage error, exit 2, like every other bad option). */
export function backendOption(v: string | number | boolean | undefined, command: string): 'auto' | 'webgpu' | 'cpu' {
  if (v === undefined) return 'auto';
  if (v === 'auto' || v === 'webgpu' || v === 'cpu') return v;
  throw new CliError(`grilly ${command}: unknown --backend "${String(v)}"; use auto, webgpu or cpu`);
}
