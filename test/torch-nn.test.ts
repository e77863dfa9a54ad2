// grilly/nn against PyTorch: fixtures made by test/fixtures/torch/make_nn_fixtures.py on the GPU
// machine (the script and its JSON are committed; the inputs travel with the expected values).
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import * as g from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { linear } from '../src/ops/linear.js';
import { BACKENDS, expectClose, useBackend } from './helpers.js';

interface TJ { shape: number[]; data: number[] }
type Case = Record<string, unknown> & { kind: string };
const file = new URL('./fixtures/torch/nn.json', import.meta.url).pathname;
const fixture = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { torch: string; device: string; cases: Case[] }) : null;
const t = (j: TJ, requiresGrad = false) => g.tensor(Float32Array.from(j.data), j.shape, { requiresGrad });
const close = async (a: g.Tensor | null, b: TJ, label: string, atol = 2e-5) => {
  expect(a, label).not.toBeNull();
  expect([...a!.shape], `${label} shape`).toEqual(b.shape);
  expectClose(await a!.data(), b.data, { atol, rtol: 1e-4 }, label);
};

describe.skipIf(!fixture)(`nn against PyTorch fixtures (${fixture?.torch ?? 'absent'} on ${fixture?.device ?? '-'})`, () => {
  describe.each(BACKENDS)('%s', (backend) => {
    useBackend(backend);
    it.each((fixture?.cases ?? []).map((c, i) => [`${i} ${c.kind} ${c.reduction ?? ''}`, c] as const))('%s', async (_name, c) => {
      const J = (k: string) => c[k] as TJ;
      if (c.kind === 'linear') {
        const x = t(J('x'), true), w = t(J('weight'), true), b = t(J('bias'), true);
        const y = linear(x, w, b);
        y.backward(t(J('gy')));
        await close(y, J('y'), 'y');
        await close(x.grad, J('dx'), 'dx');
        await close(w.grad, J('dweight'), 'dweight');
        await close(b.grad, J('dbias'), 'dbias');
      } else if (c.kind === 'batchnorm1d' || c.kind === 'batchnorm2d') {
        const x = t(J('x'), true);
        const C = J('x').shape[1]!;
        const bn = c.kind === 'batchnorm1d' ? new nn.BatchNorm1d(C, { eps: c.eps as number, momentum: c.momentum as number }) : new nn.BatchNorm2d(C, { eps: c.eps as number, momentum: c.momentum as number });
        bn.weight!.assign(t(J('weight')));
        bn.bias!.assign(t(J('bias')));
        const y = bn.forward(x);
        y.backward(t(J('gy')));
        await close(y, J('y'), 'y');
        await close(x.grad, J('dx'), 'dx', 1e-4);
        await close(bn.weight!.grad, J('dweight'), 'dweight', 1e-4);
        await close(bn.bias!.grad, J('dbias'), 'dbias');
        await close(bn.runningMean, J('running_mean'), 'running_mean');
        await close(bn.runningVar, J('running_var'), 'running_var');
        bn.eval();
        await close(bn.forward(t(J('x_eval'))), J('y_eval'), 'y_eval');
      } else if (c.kind === 'cross_entropy') {
        const logits = t(J('logits'), true);
        const tg = g.tensor(Int32Array.from(c.target as number[]), (c.target_shape as number[]) ?? [(c.target as number[]).length]);
        const fn = new nn.CrossEntropyLoss({ reduction: c.reduction as nn.Reduction, ignoreIndex: c.ignore_index as number, labelSmoothing: c.label_smoothing as number });
        const loss = fn.forward(logits, tg);
        loss.backward(t(J('gloss')));
        await close(loss, J('loss'), 'loss');
        await close(logits.grad, J('dlogits'), 'dlogits');
      } else {
        const x = t(J('input'), true);
        const fn = c.kind === 'mse' ? new nn.MSELoss() : new nn.BCEWithLogitsLoss(c.pos_weight ? { posWeight: t(J('pos_weight')) } : {});
        const loss = fn.forward(x, t(J('target')));
        loss.backward();
        await close(loss, J('loss'), 'loss');
        await close(x.grad, J('dinput'), 'dinput');
      }
    });
  });
});
