"""GFLOP/s of one convolution layer per algorithm and thread count, beside the
register-only FMA-loop peak of the same ISA measured in the same run (default:
VGG16's 56x56x256 -> 256 3x3 'same' layer, batch 1).

    python tools/bench_conv.py                       # 56x56x256 -> 256, fastest ISA
    python tools/bench_conv.py --isa avx2            # the AVX2 path on an AVX-512 CPU
    python tools/bench_conv.py --size 224 --cin 64 --cout 64 --repeat 20
    python tools/bench_conv.py --depthwise --size 56 --cin 144 --kernel 3 --stride 1
    python tools/bench_conv.py --size 28 --cin 192 --cout 64 --kernel 1   # pointwise

GFLOP/s counts the direct convolution's 2 * OH * OW * Cin_per_group * Cout * kh * kw
operations for every algorithm (so Winograd's figure is "effective"); "% peak" divides
it by the FMA-loop peak for the same thread count. Medians of wall time; the machine
may be shared, so compare figures from one run (the peak is re-measured around the
layer timings for that reason).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np

from pyconvinfer import _kernels, build_info, kernels, packing


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    for _ in range(2):
        run()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fma_peak(isa: str, threads: int, seconds: float = 0.05, repeat: int = 7) -> float:
    """Median GFLOP/s of the ISA's register-only multiply-add loop on `threads` threads."""
    iters = 100_000
    while True:  # size one run to ~`seconds`
        t0 = time.perf_counter()
        _kernels.fma_loop(isa, iters, threads)
        if time.perf_counter() - t0 >= seconds / 4 or iters > 1 << 34:
            break
        iters *= 4
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        flops = _kernels.fma_loop(isa, iters, threads)
        rates.append(flops / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=56)
    p.add_argument("--cin", type=int, default=256)
    p.add_argument("--cout", type=int, default=256, help="output channels (ignored with --depthwise)")
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--depthwise", action="store_true", help="groups == cin, depth multiplier 1, relu6")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--isa", default=None, help="kernel path to force (default: the fastest available); one of "
                   + ", ".join(_kernels.available_isas()))
    a = p.parse_args()
    isa = kernels.resolve_isa(a.isa)
    rng = np.random.default_rng(0)
    cout = a.cin if a.depthwise else a.cout
    groups = a.cin if a.depthwise else 1
    x = rng.standard_normal((1, a.size, a.size, a.cin), dtype=np.float32)
    k = (rng.standard_normal((a.kernel, a.kernel, a.cin // groups, cout), dtype=np.float32) * 0.05).astype(np.float32)
    out = -(-a.size // a.stride)
    flops = 2.0 * out * out * (a.cin // groups) * cout * a.kernel * a.kernel
    info = build_info()
    kind = "depthwise " if a.depthwise else ""
    print(f"{kind}conv {a.kernel}x{a.kernel} stride {a.stride} same {a.size}x{a.size}x{a.cin} -> {cout}, batch 1; "
          f"isa {isa} (CPU's best: {_kernels.cpu_isa()}), OpenMP {info['openmp']}")
    packed = {"direct": packing.pack_conv2d(k, groups)}
    if (a.kernel, a.stride, groups) == (3, 1, 1):
        packed.update(winograd2=packing.pack_winograd(k, 2), winograd4=packing.pack_winograd(k, 4))
    act = "relu6" if a.depthwise else None
    for threads in (int(t) for t in a.threads.split(",")):
        before = fma_peak(isa, threads)
        rows = []
        for algorithm, w in packed.items():
            def run(threads: int = threads, w: np.ndarray = w, algorithm: str = algorithm) -> None:
                kernels.conv2d(x, k, strides=a.stride, padding="same", groups=groups, activation=act,
                               num_threads=threads, packed=w, algorithm=algorithm, isa=isa)

            rows.append((algorithm, median_seconds(run, a.repeat)))
        peak = statistics.median([before, fma_peak(isa, threads)])
        print(f"  {threads} thread(s) FMA-loop peak ({isa}): {peak:7.1f} GFLOP/s")
        for algorithm, t in rows:
            rate = flops / t / 1e9
            print(f"  {threads} thread(s) {algorithm:<10} {t * 1e3:8.3f} ms  {rate:7.1f} GFLOP/s  "
                  f"{100 * rate / peak:5.1f}% of peak")


if __name__ == "__main__":
    main()
