# cuBLAS fp32 (TF32 off) and float64 on the operands bench/sgmat/x3.ts --dump wrote: the same error
# measures as x3.ts prints, so the three-f16-product GEMM can be set against PyTorch's fp32 matmul.
# Usage: python3 bench/sgmat/x3_torch.py DIR
import json, sys
import numpy as np
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
d = sys.argv[1]
for label in ['xWt', 'gtx']:
    p = json.load(open(f'{d}/{label}.json'))
    M, N, K = p['M'], p['N'], p['K']
    a = np.fromfile(f'{d}/{label}.a.f32', dtype='<f4').reshape((K, M) if p['transA'] else (M, K))
    b = np.fromfile(f'{d}/{label}.b.f32', dtype='<f4').reshape((N, K) if p['transB'] else (K, N))
    ref = np.fromfile(f'{d}/{label}.ref.f64', dtype='<f8').reshape(M, N)
    A = torch.from_numpy(a).cuda(); B = torch.from_numpy(b).cuda()
    op = lambda x, y: (x.T if p['transA'] else x) @ (y.T if p['transB'] else y)
    c64 = op(A.double(), B.double()).cpu().numpy()
    rms = np.sqrt(np.mean(ref ** 2))
    for name, c in [('cuBLAS fp32', op(A, B).cpu().numpy().astype(np.float64)), ('torch float64', c64)]:
        e = c - ref
        print(f'{label} {M}x{N}x{K} {name:14s} error/rms(C): max {np.abs(e).max() / rms:.2e} rms {np.sqrt(np.mean(e ** 2)) / rms:.2e} mean toward |C| {np.mean(e * np.sign(ref)) / rms:.2e}')
