"""GFLOP/s of one convolution layer per algorithm and thread count (default: VGG16's
56x56x256 -> 256 3x3 'same' layer, batch 1).

    python tools/bench_conv.py                       # 56x56x256 -> 256
    python tools/bench_conv.py --size 224 --cin 64 --cout 64 --repeat 20

GFLOP/s counts the direct convolution's 2 * H * W * Cin * Cout * 9 operations for
every algorithm (so Winograd's figure is "effective"). Medians of wall time; the
machine is shared, so compare figures from one run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from pyconvinfer import build_info, kernels, packing


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=56)
    p.add_argument("--cin", type=int, default=256)
    p.add_argument("--cout", type=int, default=256)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--threads", default="1,2")
    a = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, a.size, a.size, a.cin), dtype=np.float32)
    k = (rng.standard_normal((3, 3, a.cin, a.cout), dtype=np.float32) * 0.05).astype(np.float32)
    flops = 2.0 * a.size * a.size * a.cin * a.cout * 9
    info = build_info()
    print(f"conv 3x3 same {a.size}x{a.size}x{a.cin} -> {a.cout}, batch 1; kernels: {info['kernel_isa']}, "
          f"OpenMP {info['openmp']}")
    packed = {"direct": packing.pack_conv2d(k), "winograd2": packing.pack_winograd(k, 2),
              "winograd4": packing.pack_winograd(k, 4)}
    for threads in (int(t) for t in a.threads.split(",")):
        for algorithm, w in packed.items():
            def run(threads: int = threads, w: np.ndarray = w, algorithm: str = algorithm) -> None:
                kernels.conv2d(x, k, padding="same", num_threads=threads, packed=w, algorithm=algorithm)

            for _ in range(2):
                run()
            times = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                run()
                times.append(time.perf_counter() - t0)
            t = statistics.median(times)
            print(f"  {threads} thread(s) {algorithm:<10} {t * 1e3:8.2f} ms  {flops / t / 1e9:7.1f} GFLOP/s")


if __name__ == "__main__":
    main()
