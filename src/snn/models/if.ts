import type { NeuronModel } from './model.js';

/** Integrate-and-fire: H = V + X. */
export const IF: NeuronModel = { name: 'if', charge: 'v + x', dHdV: '1', dHdX: '1' };
