#!/usr/bin/env python3
"""SpikingJelly (master) GPU benchmark, the reference numbers grilly is compared against.

Run from the repository root (SpikingJelly master lives in vendor/spikingjelly):

    PYTHONPATH=vendor python3 bench/sj/bench_sj.py --out result.json [--quick]

Workloads (fp32, CUDA, multi-step mode 'm', TF32 off); only the LIF neuron backend changes:
  lif   one LIFNode over x_seq (T, 2**20), forward + backward, T in 8/32/128
  onb   Open Neuromorphic benchmark: Linear(n, n) + LIFNode(tau=5), T=500, batch 16,
        forward + out.sum().backward(), n in 4096/8192/16384
  mlp   training step, 784-256-10 LIF MLP, T=16, batch 256, Poisson input, MSE, AdamW
  csnn  training step, 2x [Conv-BN-LIF-MaxPool] + Linear + LIF, T=4, batch 128, MSE, AdamW

Time per iteration = median of CUDA-event timings (synchronised before and after each
iteration) after warm-up; peak memory = torch.cuda.max_memory_allocated() over one extra
iteration after torch.cuda.reset_peak_memory_stats() (so it includes what is already
resident: parameters, inputs, optimizer state; alloc_before_bytes says how much that was).

Every (workload, size, backend) is run inside try/except: a failure is recorded as the
row's "error" and the run goes on. A backend whose library is missing (or whose tiny smoke
test fails) is recorded as unavailable for all of its rows. The JSON file is rewritten
after every row, so a run that is cut short still leaves its partial results.
"""

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import time
import traceback
import warnings

T0 = time.perf_counter()


def log(msg):
    print("[%7.1fs] %s" % (time.perf_counter() - T0, msg), file=sys.stderr, flush=True)


def err_str(e, limit=2000):
    s = "%s: %s" % (type(e).__name__, e)
    return s if len(s) <= limit else s[:limit] + "...(truncated)"


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- config

FULL_SIZES = {
    "lif": [8, 32, 128],  # T
    "onb": [4096, 8192, 16384],  # n
    "mlp": [(16, 256)],  # (T, B)
    "csnn": [(4, 128)],  # (T, B)
}

# (warmup, iters) per workload; onb at n=16384 is ~165 ms/iter, so fewer iterations there.
FULL_ITERS = {"lif": (5, 20), "onb": (3, 10), "mlp": (5, 20), "csnn": (5, 20)}
QUICK_ITERS = {"lif": (2, 5), "onb": (1, 3), "mlp": (2, 5), "csnn": (2, 5)}

LIF_N = 2 ** 20
ONB_T, ONB_B = 500, 16


def size_label(workload, size):
    if workload == "lif":
        return "T=%d" % size
    if workload == "onb":
        return "n=%d" % size
    return "T=%d,B=%d" % size


# --------------------------------------------------------------------------- workloads
# Each builder returns (step_fn, holder) where holder is a dict owning every big tensor /
# module, so the caller can drop them all between runs.


def build_lif(sj, torch, dev, backend, T):
    neuron, functional, surrogate = sj["neuron"], sj["functional"], sj["surrogate"]
    node = neuron.LIFNode(
        tau=2.0,
        decay_input=True,
        v_reset=0.0,  # hard reset
        surrogate_function=surrogate.ATan(),
        detach_reset=False,
        step_mode="m",
        backend=backend,
    ).to(dev)
    torch.manual_seed(0)
    x_seq = (torch.rand(T, LIF_N, device=dev) * 2.0).requires_grad_(True)
    grad = torch.rand_like(x_seq)
    def clear():
        x_seq.grad = None

    h = {"node": node, "x_seq": x_seq, "grad": grad, "clear": clear}

    def step():
        x_seq.grad = None
        functional.reset_net(node)
        out = node(x_seq)
        out.backward(grad)

    return step, h


def build_onb(sj, torch, dev, backend, n):
    nn = torch.nn
    neuron, layer, functional, surrogate = (
        sj["neuron"], sj["layer"], sj["functional"], sj["surrogate"])
    torch.manual_seed(0)
    model = nn.Sequential(
        layer.Linear(n, n, step_mode="m"),  # bias=True (default)
        neuron.LIFNode(tau=5.0, surrogate_function=surrogate.ATan(), step_mode="m",
                       backend=backend),
    ).to(dev)
    functional.set_step_mode(model, "m")
    x = torch.rand(ONB_T, ONB_B, n, device=dev)  # fixed, no grad
    params = list(model.parameters())

    def clear():
        for p in params:
            p.grad = None

    h = {"model": model, "x": x, "params": params, "clear": clear}

    def step():
        for p in params:
            p.grad = None
        functional.reset_net(model)
        out = model(x)
        out.sum().backward()

    return step, h


def make_lif_train(sj, backend):
    return sj["neuron"].LIFNode(tau=2.0, surrogate_function=sj["surrogate"].ATan(),
                                detach_reset=True, step_mode="m", backend=backend)


def training_step(sj, torch, dev, model, img, encode):
    """One timed training step: encode() the batch, mean over T, MSE to one-hot labels, AdamW."""
    F, functional = torch.nn.functional, sj["functional"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    labels = torch.randint(0, 10, (img.shape[0],), device=dev)
    onehot = F.one_hot(labels, 10).float()
    h = {"model": model, "opt": opt, "img": img, "onehot": onehot,
         "clear": lambda: opt.zero_grad(set_to_none=True)}

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(encode()).mean(0)
        loss = F.mse_loss(out, onehot)
        loss.backward()
        opt.step()
        functional.reset_net(model)

    return step, h


def build_mlp(sj, torch, dev, backend, size):
    T, B = size
    nn = torch.nn
    layer, functional = sj["layer"], sj["functional"]
    torch.manual_seed(0)
    model = nn.Sequential(
        layer.Linear(784, 256, step_mode="m"),
        make_lif_train(sj, backend),
        layer.Linear(256, 10, step_mode="m"),
        make_lif_train(sj, backend),
    ).to(dev)
    functional.set_step_mode(model, "m")
    img = torch.rand(B, 784, device=dev)  # fixed firing probabilities
    # Poisson encoding inside the timed step (same as encoding.PoissonEncoder,
    # which is rand_like(x).le(x), applied T times)
    return training_step(sj, torch, dev, model, img, lambda: (torch.rand(T, B, 784, device=dev) < img).float())


def build_csnn(sj, torch, dev, backend, size):
    T, B = size
    nn = torch.nn
    layer, functional = sj["layer"], sj["functional"]
    torch.manual_seed(0)
    model = nn.Sequential(
        layer.Conv2d(1, 128, 3, padding=1, bias=False, step_mode="m"),
        layer.BatchNorm2d(128, step_mode="m"),
        make_lif_train(sj, backend),
        layer.MaxPool2d(2, 2, step_mode="m"),
        layer.Conv2d(128, 128, 3, padding=1, bias=False, step_mode="m"),
        layer.BatchNorm2d(128, step_mode="m"),
        make_lif_train(sj, backend),
        layer.MaxPool2d(2, 2, step_mode="m"),
        layer.Flatten(step_mode="m"),
        layer.Linear(128 * 7 * 7, 10, step_mode="m"),
        make_lif_train(sj, backend),
    ).to(dev)
    functional.set_step_mode(model, "m")
    img = torch.rand(B, 1, 28, 28, device=dev)
    return training_step(sj, torch, dev, model, img, lambda: img.unsqueeze(0).repeat(T, 1, 1, 1, 1))  # direct encoding


BUILDERS = {"lif": build_lif, "onb": build_onb, "mlp": build_mlp, "csnn": build_csnn}


# --------------------------------------------------------------------------- measuring


def measure(torch, step, warmup, iters, clear=None):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()

    ev_ms, wall_ms = [], []
    for _ in range(iters):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        t = time.perf_counter()
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        wall_ms.append((time.perf_counter() - t) * 1e3)
        ev_ms.append(start.elapsed_time(end))

    # peak memory over one iteration, starting with no leftover .grad tensors
    if clear is not None:
        clear()
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()

    return {
        "ms": round(statistics.median(ev_ms), 4),
        "ms_min": round(min(ev_ms), 4),
        "ms_max": round(max(ev_ms), 4),
        "wall_ms": round(statistics.median(wall_ms), 4),
        "peak_bytes": int(peak),
        "alloc_before_bytes": int(before),
    }


def free_cuda(torch):
    gc.collect()
    try:
        torch.cuda.synchronize()
    except Exception:
        pass
    torch.cuda.empty_cache()


def check_backend(sj, torch, dev, backend):
    """None if usable, else a string saying why not."""
    try:
        node = sj["neuron"].LIFNode(tau=2.0, surrogate_function=sj["surrogate"].ATan(),
                                    step_mode="m", backend=backend)
    except Exception as e:  # ImportError (lib missing) / NotImplementedError (unsupported)
        return "unavailable: " + err_str(e)
    try:  # tiny smoke test: forward + backward on a few neurons
        node = node.to(dev)
        x = (torch.rand(4, 1024, device=dev) * 2).requires_grad_(True)
        node(x).sum().backward()
        torch.cuda.synchronize()
        sj["functional"].reset_net(node)
    except Exception as e:
        return "unavailable (smoke test failed): " + err_str(e)
    return None


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="sj_result.json", help="JSON output path")
    ap.add_argument("--quick", action="store_true",
                    help="fewer iterations, only the smallest size of each workload")
    ap.add_argument("--backends", default="torch,cupy,triton",
                    help="comma list of LIFNode backends (SJ master also has 'inductor')")
    ap.add_argument("--workloads", default="lif,onb,mlp,csnn", help="comma list")
    args = ap.parse_args()

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]

    result = {
        "started": now_iso(),
        "finished": None,
        "argv": sys.argv,
        "quick": bool(args.quick),
        "python": platform.python_version(),
        "torch": None,
        "cuda": None,
        "gpu": None,
        "cupy": None,
        "triton": None,
        "spikingjelly_path": None,
        "tf32": {"matmul": False, "cudnn": False},
        "dtype": "float32",
        "step_mode": "m",
        "iters": QUICK_ITERS if args.quick else FULL_ITERS,
        "backends": backends,
        "backend_status": {},
        "rows": [],
        "error": None,
    }

    def save():
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=2)
        os.replace(tmp, args.out)

    try:
        import torch
        result["torch"] = torch.__version__
        result["cuda"] = torch.version.cuda
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA is not available")
        dev = torch.device("cuda")
        result["gpu"] = torch.cuda.get_device_name(0)
        with warnings.catch_warnings():  # the legacy flags warn on torch >= 2.9
            warnings.simplefilter("ignore")
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            try:
                result["tf32"] = {"matmul": bool(torch.backends.cuda.matmul.allow_tf32),
                                  "cudnn": bool(torch.backends.cudnn.allow_tf32)}
            except Exception as e:
                result["tf32"]["read_back_error"] = err_str(e, 300)
        import spikingjelly
        from spikingjelly.activation_based import functional, layer, neuron, surrogate
        result["spikingjelly_path"] = os.path.dirname(os.path.abspath(spikingjelly.__file__))
    except Exception as e:
        result["error"] = err_str(e)
        traceback.print_exc()
        result["finished"] = now_iso()
        save()
        log("setup failed: %s" % result["error"])
        return 1

    for mod in ("cupy", "triton"):
        try:
            result[mod] = __import__(mod).__version__
        except Exception as e:
            result[mod] = "not importable: " + err_str(e, 300)

    sj = {"neuron": neuron, "layer": layer, "functional": functional, "surrogate": surrogate}
    log("torch %s, CUDA %s, GPU %s, cupy %s, triton %s" % (
        result["torch"], result["cuda"], result["gpu"], result["cupy"], result["triton"]))

    for b in backends:
        status = check_backend(sj, torch, dev, b)
        result["backend_status"][b] = status or "ok"
        log("backend %-8s %s" % (b, status or "ok"))
        free_cuda(torch)
    save()

    iters_cfg = QUICK_ITERS if args.quick else FULL_ITERS
    for w in workloads:
        if w not in BUILDERS:
            log("unknown workload %r, skipped" % w)
            continue
        sizes = FULL_SIZES[w][:1] if args.quick else FULL_SIZES[w]
        warmup, iters = iters_cfg[w]
        for size in sizes:
            label = size_label(w, size)
            for b in backends:
                row = {"workload": w, "size": label, "backend": b, "ms": None,
                       "peak_bytes": None, "error": None, "warmup": warmup, "iters": iters}
                status = result["backend_status"][b]
                if status != "ok":
                    row["error"] = status
                    result["rows"].append(row)
                    continue
                log("%-5s %-12s %-7s running (%d warm-up + %d timed + 1 memory)" % (
                    w, label, b, warmup, iters))
                step, holder = None, None
                try:
                    step, holder = BUILDERS[w](sj, torch, dev, b, size)
                    row.update(measure(torch, step, warmup, iters, holder.get("clear")))
                    log("%-5s %-12s %-7s %9.3f ms  peak %9.1f MiB" % (
                        w, label, b, row["ms"], row["peak_bytes"] / 2 ** 20))
                except Exception as e:
                    row["error"] = err_str(e)
                    log("%-5s %-12s %-7s FAILED: %s" % (w, label, b, row["error"][:300]))
                    traceback.print_exc()
                finally:
                    del step, holder
                    free_cuda(torch)
                result["rows"].append(row)
                save()

    result["finished"] = now_iso()
    save()

    # readable table on stdout
    hdr = "%-6s %-12s %-8s %11s %11s  %s" % ("work", "size", "backend", "median ms",
                                            "peak MiB", "error")
    print(hdr)
    print("-" * len(hdr))
    for r in result["rows"]:
        ms = "%11.3f" % r["ms"] if r["ms"] is not None else "%11s" % "-"
        pk = "%11.1f" % (r["peak_bytes"] / 2 ** 20) if r["peak_bytes"] is not None \
            else "%11s" % "-"
        e = (r["error"] or "")[:80]
        print("%-6s %-12s %-8s %s %s  %s" % (r["workload"], r["size"], r["backend"], ms, pk, e))
    print("torch %s | GPU %s | TF32 off | wrote %s | %.1f s total" % (
        result["torch"], result["gpu"], args.out, time.perf_counter() - T0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
