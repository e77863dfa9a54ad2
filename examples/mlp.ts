// A 784-256-10 multilayer perceptron written with grilly's tensor ops and autograd alone (the
// layers in grilly/nn come later). Shared by the training example and the memory soak.
import * as g from '../src/index.js';

export interface Mlp {
  params: g.Tensor[];
  velocity: g.Tensor[];
  forward(x: g.Tensor): g.Tensor;
}

/** PyTorch's default Linear init: U(-1/√in, 1/√in) for weight and bias. */
function linear(inF: number, outF: number): [g.Tensor, g.Tensor] {
  const bound = 1 / Math.sqrt(inF);
  const w = g.rand([inF, outF]).mul(2 * bound).sub(bound).requiresGrad_();
  const b = g.rand([outF]).mul(2 * bound).sub(bound).requiresGrad_();
  return [w, b];
}

export function makeMlp(hidden = 256): Mlp {
  const [w1, b1] = linear(784, hidden);
  const [w2, b2] = linear(hidden, 10);
  const params = [w1, b1, w2, b2];
  return {
    params,
    velocity: params.map((p) => g.zerosLike(p)),
    forward: (x) => g.relu(x.matmul(w1).add(b1)).matmul(w2).add(b2),
  };
}

/** Mean cross-entropy of logits (N, C) against int32 labels (N). */
export function crossEntropy(logits: g.Tensor, labels: g.Tensor): g.Tensor {
  return g.logSoftmax(logits, 1).gather(1, labels.unsqueeze(1)).mean().neg();
}

/** One SGD-with-momentum step; the caller disposes nothing (the point of the memory soak). */
export function trainStep(m: Mlp, x: g.Tensor, y: g.Tensor, lr: number, momentum = 0.9): { loss: g.Tensor; logits: g.Tensor } {
  const logits = m.forward(x);
  const loss = crossEntropy(logits, y);
  loss.backward();
  g.noGrad(() => {
    m.params.forEach((p, i) => {
      const v = m.velocity[i]!;
      v.assign(v.mul(momentum).add(p.grad!));
      p.assign(p.sub(v.mul(lr)));
      p.grad = null;
    });
  });
  return { loss, logits };
}

/** Host-side batch of images and labels by index. */
export function batchOf(images: Float32Array, labels: Int32Array, idx: ArrayLike<number>): { x: g.Tensor; y: g.Tensor } {
  const n = idx.length;
  const xs = new Float32Array(n * 784);
  const ys = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = idx[k]!;
    xs.set(images.subarray(i * 784, (i + 1) * 784), k * 784);
    ys[k] = labels[i]!;
  }
  return { x: g.tensor(xs, [n, 784]), y: g.tensor(ys, [n]) };
}
