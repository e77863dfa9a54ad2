import type { NeuronModel } from './model.js';

/** Parametric LIF, decayInput false: H = V − (V − Vr)·k + X with k = sigmoid(w) learnable. */
export const PLIF: NeuronModel = { name: 'plif', charge: 'v - (v - vr) * k + x', dHdV: '1 - k', dHdX: '1', dHdK: '0 - (v - vr)' };

/** Parametric LIF, decayInput true: H = V + (X − (V − Vr))·k. */
export const PLIFDecayInput: NeuronModel = { name: 'plif_di', charge: 'v + (x - (v - vr)) * k', dHdV: '1 - k', dHdX: 'k', dHdK: 'x - (v - vr)' };
