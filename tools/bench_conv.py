"""GFLOP/s of one convolution layer per algorithm and thread count, beside the
register-only FMA-loop peak of the same ISA measured in the same run (default:
VGG16's 56x56x256 -> 256 3x3 'same' layer, batch 1).

    python tools/bench_conv.py                       # 56x56x256 -> 256, fastest ISA
    python tools/bench_conv.py --isa avx2            # the AVX2 path on an AVX-512 CPU
    python tools/bench_conv.py --size 224 --cin 64 --cout 64 --repeat 20
    python tools/bench_conv.py --depthwise --size 56 --cin 144 --kernel 3 --stride 1
    python tools/bench_conv.py --size 28 --cin 192 --cout 64 --kernel 1   # pointwise

GFLOP/s counts the direct convolution's 2 * OH * OW * Cin_per_group * Cout * kh * kw
operations for every algorithm (so Winograd's figure is "effective"); "% of peak"
divides it by the ISA's register-only FMA-loop rate on as many threads, measured in
turns with the layer (one layer run, one loop run of the same length, repeated) so
that on a shared machine both medians see the same load.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np

from pyconvinfer import _kernels, build_info, kernels, packing


def fma_rate(isa: str, threads: int, iters: int) -> float:
    t0 = time.perf_counter()
    flops = _kernels.fma_loop(isa, iters, threads)
    return flops / (time.perf_counter() - t0) / 1e9


def fma_iterations(isa: str, threads: int, seconds: float) -> int:
    """Iterations of the FMA loop that take about `seconds`."""
    iters = 10_000
    while True:
        t0 = time.perf_counter()
        _kernels.fma_loop(isa, iters, threads)
        took = time.perf_counter() - t0
        if took >= seconds / 8 or iters > 1 << 34:
            return max(1, int(iters * seconds / max(took, 1e-9)))
        iters *= 4


def interleaved(run: Callable[[], object], isa: str, threads: int, repeat: int) -> tuple[float, float]:
    """Median seconds of `run` and median GFLOP/s of the FMA loop, each repetition of
    one followed by a run of the other lasting about as long: on a shared machine both
    medians then sample the same load, so their ratio (the efficiency) holds."""
    for _ in range(2):
        run()
    t0 = time.perf_counter()
    run()
    iters = fma_iterations(isa, threads, time.perf_counter() - t0)
    times, rates = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        rates.append(fma_rate(isa, threads, iters))
    return statistics.median(times), statistics.median(rates)


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
        for algorithm, w in packed.items():
            def run(threads: int = threads, w: np.ndarray = w, algorithm: str = algorithm) -> None:
                kernels.conv2d(x, k, strides=a.stride, padding="same", groups=groups, activation=act,
                               num_threads=threads, packed=w, algorithm=algorithm, isa=isa)

            t, peak = interleaved(run, isa, threads, a.repeat)
            rate = flops / t / 1e9
            print(f"  {threads} thread(s) {algorithm:<10} {t * 1e3:8.3f} ms  {rate:7.1f} GFLOP/s  "
                  f"FMA-loop peak {peak:7.1f}  {100 * rate / peak:5.1f}% of peak")

if __name__ == "__main__":
    main()
