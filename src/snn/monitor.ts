// Monitor: records what chosen layers of a network output (spikes) and, for spiking neurons, their
// membrane potential, at every forward call, without changing Module. It wraps each watched
// module instance's own `forward` property (the one Module's constructor installs) and puts it
// back on remove(). Records stay on the device — each is an alias of the layer's output sharing
// its memory, detached from the graph and outside tidy() scopes — until they are read.
import { ValueError } from '../errors.js';
import { noGrad } from '../runtime.js';
import type { Backend } from '../backend/types.js';
import { Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { float } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { stack } from '../ops/view.js';
import { BaseNode } from './node.js';

/** What a Monitor records: a layer's output ('spikes') and/or a neuron's membrane potential ('v'). */
export type MonitorField = 'spikes' | 'v';

export interface MonitorOptions {
  /** The modules to watch (each must be inside net), or 'spiking' (default): every IF/LIF/PLIF neuron layer. */
  layers?: readonly Module[] | 'spiking';
  /** What to record at each call; default ['spikes']. 'v' needs spiking neurons. */
  record?: readonly MonitorField[];
}

type Fn = (...args: unknown[]) => unknown;

interface Hook {
  readonly name: string;
  readonly module: Module;
  /** The own `forward` property before this monitor wrapped it. */
  readonly prev: PropertyDescriptor | undefined;
  wrapper: Fn | null;
  /** False once removed; a removed wrapper that another monitor wrapped in turn just passes through. */
  live: boolean;
  readonly spikes: Tensor[];
  readonly v: Tensor[];
}

/**
 * Records, per watched layer and per forward call, the layer's output and (with record: ['v'])
 * the neuron's membrane potential: node.v after the call, or node.vSeq (T, N, …) for a multi-step
 * call with storeVSeq. Layer names are the dotted names of net.namedModules() ('' for net itself).
 *
 *     const mon = new Monitor(net, { layers: 'spiking', record: ['spikes', 'v'] });
 *     net.forward(x);
 *     await mon.firingRates();      // Map { '1' => 0.12, '3' => 0.05 }
 *     mon.records('1');             // the spike tensors of layer '1', one per call
 *     mon.remove();
 *
 * Setting `enabled = false` pauses recording (the hook then costs one boolean check per call).
 */
export class Monitor {
  /** Whether forward calls are recorded. */
  enabled = true;
  /** The watched layers' names, in the network's module order. */
  readonly layerNames: readonly string[];
  readonly fields: readonly MonitorField[];
  private readonly hooks = new Map<string, Hook>();
  private removed = false;

  constructor(net: Module, opts: MonitorOptions = {}) {
    if (!(net instanceof Module)) throw new ValueError('Monitor: expected a Module to watch');
    const fields = [...(opts.record ?? ['spikes'])];
    if (fields.length === 0) throw new ValueError("Monitor: record must list at least one of 'spikes', 'v'");
    for (const f of fields) if (f !== 'spikes' && f !== 'v') throw new ValueError(`Monitor: record entries must be 'spikes' or 'v', got ${JSON.stringify(f)}`);
    this.fields = [...new Set(fields)];

    // The first dotted name of each module, in namedModules() order.
    const names = new Map<Module, string>();
    for (const [name, m] of net.namedModules()) if (!names.has(m)) names.set(m, name);

    const which = opts.layers ?? 'spiking';
    let chosen: Module[];
    if (which === 'spiking') {
      chosen = [...names.keys()].filter((m) => m instanceof BaseNode);
      if (chosen.length === 0) throw new ValueError(`Monitor: ${net.constructor.name} has no spiking neuron layers (IFNode, LIFNode, ParametricLIFNode) to watch`);
    } else if (Array.isArray(which)) {
      if (which.length === 0) throw new ValueError("Monitor: layers is empty; list modules of the network or pass 'spiking'");
      which.forEach((m, i) => {
        if (!(m instanceof Module)) throw new ValueError(`Monitor: layers[${i}] is not a Module`);
        if (!names.has(m)) throw new ValueError(`Monitor: layers[${i}] (${m.constructor.name}) is not part of the network`);
      });
      const set = new Set(which);
      chosen = [...names.keys()].filter((m) => set.has(m));
    } else {
      throw new ValueError(`Monitor: layers must be an array of modules or 'spiking', got ${JSON.stringify(which)}`);
    }
    if (this.fields.includes('v')) {
      for (const m of chosen) {
        if (!(m instanceof BaseNode)) throw new ValueError(`Monitor: 'v' can only be recorded from spiking neurons; layer '${names.get(m)}' is a ${m.constructor.name}`);
      }
    }
    const wantSpikes = this.fields.includes('spikes');
    const wantV = this.fields.includes('v');
    for (const m of chosen) {
      const name = names.get(m)!;
      const prev = Object.getOwnPropertyDescriptor(m, 'forward');
      const inner = m.forward as unknown as Fn;
      const hook: Hook = { name, module: m, prev, wrapper: null, live: true, spikes: [], v: [] };
      const wrapper: Fn = (...args: unknown[]) => {
        const out = inner.apply(m, args);
        if (this.enabled && hook.live) {
          if (wantSpikes && out instanceof Tensor) hook.spikes.push(out.alias());
          if (wantV) {
            const node = m as BaseNode;
            const v = node.stepMode === 'm' && node.vSeq ? node.vSeq : node.v;
            if (v) hook.v.push(v.alias());
          }
        }
        return out;
      };
      hook.wrapper = wrapper;
      Object.defineProperty(m, 'forward', { value: wrapper, enumerable: false, writable: true, configurable: true });
      this.hooks.set(name, hook);
    }
    this.layerNames = [...this.hooks.keys()];
  }

  private hook(layer: string, op: string): Hook {
    const h = this.hooks.get(layer);
    if (!h) throw new ValueError(`Monitor.${op}: no watched layer named ${JSON.stringify(layer)}; watched: ${this.layerNames.map((n) => JSON.stringify(n)).join(', ')}`);
    return h;
  }

  /**
   * The tensors recorded from one layer, one per forward call, oldest first: its outputs
   * ('spikes', the default) or membrane potentials ('v'). They share memory with what the layer
   * produced, carry no gradient, and stay valid after clear() (which only forgets them).
   */
  records(layer: string, field: MonitorField = 'spikes'): Tensor[] {
    const h = this.hook(layer, 'records');
    if (!this.fields.includes(field)) throw new ValueError(`Monitor.records: '${field}' is not recorded; construct the Monitor with record: [${[...this.fields, field].map((f) => `'${f}'`).join(', ')}]`);
    return field === 'v' ? [...h.v] : [...h.spikes];
  }

  /** Σ over every recorded output element, per layer (NaN-free data assumed). One readback in all. */
  private async totals(op: string): Promise<Map<string, { total: number; count: number }>> {
    if (!this.fields.includes('spikes')) throw new ValueError(`Monitor.${op}: spikes are not recorded; construct the Monitor with record including 'spikes'`);
    // One scalar sum per record, stacked per backend and read once; added up in float64 on the host,
    // so counts stay exact past float32's 2^24.
    const groups = new Map<Backend, { layer: string; s: Tensor }[]>();
    const res = new Map<string, { total: number; count: number }>();
    noGrad(() => {
      for (const h of this.hooks.values()) {
        let count = 0;
        for (const r of h.spikes) {
          count += r.size;
          if (r.size === 0) continue;
          const s = sum(r.dtype === 'float32' ? r : float(r));
          let g = groups.get(r.backend);
          if (!g) groups.set(r.backend, (g = []));
          g.push({ layer: h.name, s });
        }
        res.set(h.name, { total: 0, count });
      }
    });
    for (const g of groups.values()) {
      const all = noGrad(() => stack(g.map((e) => e.s)));
      const vals = await all.data();
      all.dispose();
      g.forEach((e, i) => {
        res.get(e.layer)!.total += vals[i]!;
        e.s.dispose();
      });
    }
    return res;
  }

  /** Spikes (sum of the recorded outputs) per layer, over every call recorded. */
  async spikeCounts(): Promise<Map<string, number>> {
    const t = await this.totals('spikeCounts');
    return new Map([...t].map(([k, v]) => [k, v.total]));
  }

  /** Mean of the recorded outputs per layer (spikes per neuron per step); NaN for a layer with no records. */
  async firingRates(): Promise<Map<string, number>> {
    const t = await this.totals('firingRates');
    return new Map([...t].map(([k, v]) => [k, v.count ? v.total / v.count : NaN]));
  }

  /** Forgets every record (tensors handed out by records() remain usable). */
  clear(): void {
    for (const h of this.hooks.values()) {
      h.spikes.length = 0;
      h.v.length = 0;
    }
  }

  /**
   * Stops watching: puts back each module's `forward` as it was. Records are kept (read or
   * clear() them). Idempotent. If another wrapper was installed over this one since, this one
   * stays in the chain but only passes calls through.
   */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    for (const h of this.hooks.values()) {
      h.live = false;
      const m = h.module as unknown as Record<string, unknown>;
      if (m.forward !== h.wrapper) continue;
      if (h.prev) Object.defineProperty(m, 'forward', h.prev);
      else delete m.forward;
    }
  }

  /** Whether remove() was called. */
  get isRemoved(): boolean {
    return this.removed;
  }
}
