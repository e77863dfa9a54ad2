// Surrogate gradients: the spike is the exact step S = [x ≥ 0] going forward; backward uses g′(x),
// the derivative of a smooth primitive g. Each surrogate is described once, as expressions in x
// and alpha that compile into the neuron kernels (WGSL and JavaScript); gradient() and
// primitive() evaluate them on the host, for plots and checks.
import { ValueError } from '../errors.js';
import { Expr, compileJs } from './expr.js';

const HALF_PI = Math.PI / 2;

export interface SurrogateOptions {
  alpha?: number;
}

export abstract class SurrogateFunction {
  readonly alpha: number;
  /** g′(x): the gradient used in place of the step's. */
  abstract readonly gradExpr: string;
  /** g(x): the smooth function whose derivative is g′. */
  abstract readonly primitiveExpr: string;
  private cache: { grad: Expr; g: (x: number, alpha: number) => number; p: (x: number, alpha: number) => number } | null = null;

  constructor(opts: SurrogateOptions, defaultAlpha: number) {
    this.alpha = opts.alpha ?? defaultAlpha;
    if (!Number.isFinite(this.alpha) || this.alpha <= 0) throw new ValueError(`${this.constructor.name}: alpha must be a positive number, got ${this.alpha}`);
  }

  private compiled() {
    if (!this.cache) {
      const grad = Expr.parse(this.gradExpr);
      const prim = Expr.parse(this.primitiveExpr);
      this.cache = {
        grad,
        g: compileJs(['x', 'alpha'], `return ${grad.js({}, false)};`),
        p: compileJs(['x', 'alpha'], `return ${prim.js({}, false)};`),
      };
    }
    return this.cache;
  }

  /** The parsed g′, for kernel generation. */
  get gradient_(): Expr {
    return this.compiled().grad;
  }

  /** g′ at x (a number or each of a list), in double precision. */
  gradient(x: number): number;
  gradient(x: ArrayLike<number>): Float64Array;
  gradient(x: number | ArrayLike<number>): number | Float64Array {
    const { g } = this.compiled();
    return typeof x === 'number' ? g(x, this.alpha) : Float64Array.from(x, (v) => g(v, this.alpha));
  }

  /** g at x (a number or each of a list), in double precision. */
  primitive(x: number): number;
  primitive(x: ArrayLike<number>): Float64Array;
  primitive(x: number | ArrayLike<number>): number | Float64Array {
    const { p } = this.compiled();
    return typeof x === 'number' ? p(x, this.alpha) : Float64Array.from(x, (v) => p(v, this.alpha));
  }

  /** Kernel cache key. */
  get key(): string {
    return `${this.constructor.name}(${this.alpha})`;
  }

  toString(): string {
    return `${this.constructor.name}(alpha=${this.alpha})`;
  }
}

/** g = arctan(π/2·α·x)/π + 1/2; g′ = (α/2) / (1 + (π/2·α·x)²). The default, α = 2. */
export class ATan extends SurrogateFunction {
  readonly gradExpr = `alpha / 2 / (1 + (${HALF_PI} * alpha * x) * (${HALF_PI} * alpha * x))`;
  readonly primitiveExpr = `atan(${HALF_PI} * alpha * x) / ${Math.PI} + 0.5`;
  constructor(opts: SurrogateOptions = {}) {
    super(opts, 2);
  }
}

/** g = σ(αx); g′ = α·σ(αx)·(1 − σ(αx)). α = 4. */
export class Sigmoid extends SurrogateFunction {
  readonly gradExpr = 'alpha * (1 / (1 + exp(-(alpha * x)))) * (1 - 1 / (1 + exp(-(alpha * x))))';
  readonly primitiveExpr = '1 / (1 + exp(-(alpha * x)))';
  constructor(opts: SurrogateOptions = {}) {
    super(opts, 4);
  }
}

/** g = (αx/(1 + α|x|) + 1)/2; g′ = α / (2·(1 + α|x|)²). α = 2. SpikingJelly calls it SoftSign. */
export class FastSigmoid extends SurrogateFunction {
  readonly gradExpr = 'alpha / (2 * (1 + alpha * abs(x)) * (1 + alpha * abs(x)))';
  readonly primitiveExpr = '(alpha * x / (1 + alpha * abs(x)) + 1) / 2';
  constructor(opts: SurrogateOptions = {}) {
    super(opts, 2);
  }
}

/** g′ = α − α²|x| for |x| ≤ 1/α, else 0; g is the matching piecewise quadratic (0 … 1). α = 1. */
export class PiecewiseQuadratic extends SurrogateFunction {
  readonly gradExpr = 'max(0, alpha - alpha * alpha * abs(x))';
  // with u = clamp(x, −1/α, 1/α): g = −α²/2·u|u| + αu + 1/2
  readonly primitiveExpr =
    '0 - alpha * alpha / 2 * min(max(x, -1 / alpha), 1 / alpha) * abs(min(max(x, -1 / alpha), 1 / alpha)) + alpha * min(max(x, -1 / alpha), 1 / alpha) + 0.5';
  constructor(opts: SurrogateOptions = {}) {
    super(opts, 1);
  }
}

/** g = (1 + erf(αx))/2; g′ = α/√π·e^(−α²x²). α = 2. */
export class Erf extends SurrogateFunction {
  readonly gradExpr = `alpha / ${Math.sqrt(Math.PI)} * exp(-(alpha * alpha * x * x))`;
  readonly primitiveExpr = '(1 + erf(alpha * x)) / 2';
  constructor(opts: SurrogateOptions = {}) {
    super(opts, 2);
  }
}

/** SuperSpike (Zenke & Ganguli), as SpikingJelly defines it: g′ = α / (1 + |x|)²; g = αx/(1 + |x|). α = 1. */
export class SuperSpike extends SurrogateFunction {
  readonly gradExpr = 'alpha / ((1 + abs(x)) * (1 + abs(x)))';
  readonly primitiveExpr = 'alpha * x / (1 + abs(x))';
  constructor(opts: SurrogateOptions = {}) {
    super(opts, 1);
  }
}
