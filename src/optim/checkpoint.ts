// Optimizer state in a safetensors checkpoint: tensors named state.<index>.<key> (as PyTorch's
// state dict nests them), numbers and the parameter groups as JSON in the metadata.
import { ValueError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import type { OptimizerStateDict } from './optimizer.js';

const META_KEY = 'optimizer';

/** Flattens a state dict into named tensors plus one metadata string. */
export function optimizerStateToTensors(sd: OptimizerStateDict, prefix = 'optimizer.'): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const tensors: Record<string, Tensor> = {};
  const scalars: Record<string, Record<string, number>> = {};
  for (const [idx, st] of Object.entries(sd.state)) {
    for (const [k, v] of Object.entries(st)) {
      if (v instanceof Tensor) tensors[`${prefix}state.${idx}.${k}`] = v;
      else (scalars[idx] ??= {})[k] = v;
    }
  }
  return { tensors, metadata: { [`${prefix}${META_KEY}`]: JSON.stringify({ paramGroups: sd.paramGroups, scalars }) } };
}

/** The inverse of optimizerStateToTensors, from a loaded checkpoint. */
export function optimizerStateFromTensors(tensors: Record<string, Tensor>, metadata: Record<string, string>, prefix = 'optimizer.'): OptimizerStateDict {
  const raw = metadata[`${prefix}${META_KEY}`];
  if (raw === undefined) throw new ValueError(`optimizerStateFromTensors: the checkpoint has no "${prefix}${META_KEY}" metadata (was optimizer state saved with it?)`);
  let parsed: { paramGroups: OptimizerStateDict['paramGroups']; scalars: Record<string, Record<string, number>> };
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new ValueError(`optimizerStateFromTensors: "${prefix}${META_KEY}" is not valid JSON: ${(e as Error).message}`);
  }
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(parsed) || !Array.isArray(parsed.paramGroups) || (parsed.scalars !== undefined && !isObj(parsed.scalars))) {
    throw new ValueError(`optimizerStateFromTensors: "${prefix}${META_KEY}" should hold an object with paramGroups (an array) and scalars, got ${raw.length > 80 ? `${raw.slice(0, 80)}…` : raw}`);
  }
  const state: OptimizerStateDict['state'] = {};
  for (const [idx, sc] of Object.entries(parsed.scalars ?? {})) Object.assign((state[Number(idx)] ??= {}), sc);
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}state\\.(\\d+)\\.(.+)$`);
  for (const [name, t] of Object.entries(tensors)) {
    const m = re.exec(name);
    if (m) (state[Number(m[1])] ??= {})[m[2]!] = t;
  }
  return { state, paramGroups: parsed.paramGroups };
}
