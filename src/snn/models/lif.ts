import type { NeuronModel } from './model.js';

/** Leaky integrate-and-fire, decayInput false: H = V − (V − Vr)/τ + X (the seed's default). */
export const LIF: NeuronModel = { name: 'lif', charge: 'v - (v - vr) / tau + x', dHdV: '1 - 1 / tau', dHdX: '1' };

/** Leaky integrate-and-fire, decayInput true: H = V + (X − (V − Vr))/τ (SpikingJelly's default). */
export const LIFDecayInput: NeuronModel = { name: 'lif_di', charge: 'v + (x - (v - vr)) / tau', dHdV: '1 - 1 / tau', dHdX: '1 / tau' };
