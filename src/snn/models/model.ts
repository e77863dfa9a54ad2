// A neuron model is its charge equation H = f(V, X) and the equation's partial derivatives,
// written in the expression language of ../expr.ts. Variables: v (voltage before charging),
// x (input), vr (reset voltage; 0 under soft reset), tau (a fixed time constant) and k (a
// learnable decay, 1/τ = sigmoid(w), where the model has one). Fire and reset are shared by all.
export interface NeuronModel {
  readonly name: string;
  readonly charge: string;
  readonly dHdV: string;
  readonly dHdX: string;
  /** dH/dk, for models with a learnable decay. */
  readonly dHdK?: string;
}
