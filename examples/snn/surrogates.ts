// Seed page, "Surrogate Gradients": the spike is a step forward; backward uses a smooth g′.
//   atan = nn.ATan(alpha=2.0); sig = nn.Sigmoid(alpha=4.0); fast = nn.FastSigmoid(alpha=2.0)
import * as nn from '../../src/nn/index.js';

const atan = new nn.ATan({ alpha: 2.0 });
const sig = new nn.surrogate.Sigmoid({ alpha: 4.0 }); // nn.Sigmoid is the activation layer, as in PyTorch
const fast = new nn.FastSigmoid({ alpha: 2.0 });
const others = [new nn.PiecewiseQuadratic(), new nn.Erf(), new nn.SuperSpike()];
const xs = [-2, -1, -0.5, 0, 0.5, 1, 2];
console.log(`x        ${xs.map((x) => x.toFixed(2).padStart(7)).join('')}`);
for (const s of [atan, sig, fast, ...others]) {
  console.log(`${s.constructor.name.padEnd(19)} g′ ${Array.from(s.gradient(xs), (v) => v.toFixed(4).padStart(7)).join('')}`);
}
console.log(`ATan primitive at 0: ${atan.primitive(0)} (the step's midpoint); g′(0) = α/2 = ${atan.gradient(0)}`);
