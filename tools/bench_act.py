"""Activation throughput: elements/s per kind and instruction-set path, next to
the scalar libm reference (pci_act_scalar in a C loop). One quick run, one
thread, best of --repeat timings of --n float32 inputs drawn from N(0, 3^2).

    python tools/bench_act.py [--n 1048576] [--repeat 5]

Figures from a shared machine are indicative only."""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from pyconvinfer import _kernels, activations, kernels

SPECS = ["relu", "elu", "selu", "celu", "sigmoid", "hard_sigmoid", "tanh", "tanh_shrink", "softplus",
         "log_sigmoid", "softsign", "swish", "gelu", "gelu_tanh", "exponential", "hard_silu", "mish",
         "hard_shrink", "hard_tanh", "soft_shrink", "sparse_plus", "sparse_sigmoid", "squareplus",
         ("relu", {"negative_slope": 0.1, "threshold": 0.5}), ("threshold", {"threshold": 0.0, "default_value": -1.0})]
ROWS = ["softmax", "log_softmax", "glu"]


def _best(fn: Callable[..., object], repeat: int, *args: Any, **kw: Any) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args, **kw)
        best = min(best, time.perf_counter() - t0)
    return best


def _reference(x: np.ndarray, buf: np.ndarray, kind: int, params: tuple[float, float, float]) -> None:
    np.copyto(buf, x)
    _kernels.act_reference_inplace(buf, kind, *params)


def _isas() -> list[str]:
    order = ["generic", "avx2", "avx512"]
    return [i for i in order if _kernels.effective_isa(i) == i]


def _label(spec: activations.ActivationSpec) -> str:
    return spec if isinstance(spec, str) else f"{spec[0]}({', '.join(f'{k}={v}' for k, v in spec[1].items())})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1 << 20)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    x = (np.random.default_rng(0).standard_normal(args.n) * 3).astype(np.float32)
    isas = _isas()
    print(f"# {platform.processor() or platform.machine()}, 1 thread, n={args.n}, best of {args.repeat} "
          "(shared machine: indicative)")
    print("| activation | scalar libm (Melem/s) | " + " | ".join(f"{i} (Melem/s)" for i in isas)
          + f" | {isas[-1]} / scalar |")
    print("|---|---:|" + "---:|" * len(isas) + "---:|")
    for spec in SPECS + ROWS:
        rates = []
        if spec in ROWS:
            ref = None
            xr = x.reshape(-1, 1024)
        else:
            kind, params = activations.encode(spec)
            ref = args.n / _best(_reference, args.repeat, x, x.copy(), kind, params) / 1e6
            xr = x
        for isa in isas:
            t = _best(kernels.activation, args.repeat, xr, spec, num_threads=1, isa=isa)
            rates.append(args.n / t / 1e6)
        ref_s = f"{ref:.0f}" if ref else "-"
        ratio = f"{rates[-1] / ref:.1f}x" if ref else "-"
        print(f"| {_label(spec)} | {ref_s} | " + " | ".join(f"{r:.0f}" for r in rates) + f" | {ratio} |")
    # Fused into a convolution: LeNet-5's first layer (5x5, 1 -> 6 on 32x32), batch 1 and 64.
    rng = np.random.default_rng(1)
    k = rng.standard_normal((5, 5, 1, 6)).astype(np.float32)
    print("\n| LeNet-5 conv1 (5x5, 1 -> 6, 32x32), 1 thread | " + " | ".join(f"{i} (us)" for i in isas) + " |")
    print("|---|" + "---:|" * len(isas))
    for batch in (1, 64):
        xb = rng.standard_normal((batch, 32, 32, 1)).astype(np.float32)
        for act in ("linear", "relu", "tanh", "sigmoid", "gelu"):
            times = [_best(kernels.conv2d, args.repeat * 20, xb, k, activation=act, num_threads=1, isa=isa) * 1e6
                     for isa in isas]
            print(f"| batch {batch}, {act} | " + " | ".join(f"{t:.1f}" for t in times) + " |")

if __name__ == "__main__":
    main()
