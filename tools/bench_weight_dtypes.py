"""Every VGG16 layer with a kernel, timed per stored weight precision (float32,
float16, bfloat16, int8) on random weights: the conv2d algorithms VGG16's file
uses (`pyconvinfer bench --per-layer`), fc1/fc2/predictions as batch-1 GEMVs.
Each layer's dtypes run interleaved; the best of --repeat runs is reported,
and the sum over the layers (no pooling, no Python overhead).

    python tools/bench_weight_dtypes.py --threads 2 [--isa avx2] [--repeat 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pyconvinfer import _kernels, packing, quantize
from pyconvinfer.ops import REGISTRY

DTYPES = ("float32", "float16", "bfloat16", "int8")
# (height = width, in channels, out channels, algorithm) of VGG16's 13 convolutions
CONVS = [(224, 3, 64, "direct"), (224, 64, 64, "winograd4"), (112, 64, 128, "winograd4"),
         (112, 128, 128, "winograd4"), (56, 128, 256, "winograd4"), (56, 256, 256, "winograd4"),
         (56, 256, 256, "winograd4"), (28, 256, 512, "winograd2"), (28, 512, 512, "winograd2"),
         (28, 512, 512, "winograd2"), (14, 512, 512, "direct"), (14, 512, 512, "direct"), (14, 512, 512, "direct")]
DENSES = [(25088, 4096), (4096, 4096), (4096, 1000)]


def _plan(op: str, x: np.ndarray, y: np.ndarray, data: np.ndarray, scale: np.ndarray | None, dtype: str,
          ints: list[int], algo: int = 0, scratch: np.ndarray | None = None) -> _kernels.Plan:
    arrays = [a for a in (x, y, data, scale, scratch) if a is not None]
    plan = _kernels.Plan(arrays, [a is y or a is scratch for a in arrays])
    plan.add(_kernels.OP_IDS[op], [x.reshape(-1)], y.reshape(-1), weights=[data, None, scale], ints=ints,
             algo=algo, scratch=scratch, weight_dtypes=[_kernels.DTYPE_IDS[dtype], 0, 0])
    return plan


def _best(plans: dict, threads: int, isa: str | None, repeat: int) -> dict:
    best = dict.fromkeys(plans, float("inf"))
    for p in plans.values():
        p.run(threads, isa)  # warm-up
    for _ in range(repeat):
        for d, p in plans.items():
            t = time.perf_counter()
            p.run(threads, isa)
            best[d] = min(best[d], time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--isa", default=None)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    total = dict.fromkeys(DTYPES, 0.0)
    print(f"{'layer':36s}" + "".join(f"{d:>10s}" for d in DTYPES) + "   (ms, best of runs)")
    for hw, c, oc, algo in CONVS:
        attrs = {"kernel_size": [3, 3], "strides": [1, 1], "dilation": [1, 1], "padding": "same", "groups": 1,
                 "in_channels": c, "filters": oc, "algorithm": algo}
        k = rng.standard_normal((3, 3, c, oc), dtype=np.float32) * 0.05
        m = 0 if algo == "direct" else int(algo[-1])
        packed = packing.pack_winograd(k, m) if m else packing.pack_conv2d(k, 1)
        segs = REGISTRY["conv2d"].channels(attrs, packed.size)
        x = rng.standard_normal((1, hw, hw, c), dtype=np.float32)
        y = np.empty((1, hw, hw, oc), dtype=np.float32)
        st = REGISTRY["conv2d"].step(attrs, [(hw, hw, c)], (hw, hw, oc), 1)
        scratch = np.zeros(st.scratch_floats * args.threads, dtype=np.float32) if st.algo else None
        plans = {d: _plan("conv2d", x, y, *quantize.store(packed, d, segs), d, list(st.ints), st.algo, scratch)
                 for d in DTYPES}
        best = _best(plans, args.threads, args.isa, args.repeat)
        print(f"{f'conv {hw}x{hw} {c}->{oc} {algo}':36s}" + "".join(f"{best[d] * 1e3:10.2f}" for d in DTYPES),
              flush=True)
        for d in DTYPES:
            total[d] += best[d]
    for k_in, n in DENSES:
        packed = packing.pack_dense(rng.standard_normal((k_in, n), dtype=np.float32) * 0.01)
        segs = REGISTRY["dense"].channels({"in_features": k_in, "units": n}, packed.size)
        x = rng.standard_normal((1, k_in), dtype=np.float32)
        y = np.empty((1, n), dtype=np.float32)
        plans = {d: _plan("dense", x, y, *quantize.store(packed, d, segs), d, [1, k_in, n]) for d in DTYPES}
        best = _best(plans, args.threads, args.isa, args.repeat)
        print(f"{f'dense {k_in}->{n}':36s}" + "".join(f"{best[d] * 1e3:10.2f}" for d in DTYPES), flush=True)
        for d in DTYPES:
            total[d] += best[d]
    isa = _kernels.effective_isa(args.isa) if args.isa else _kernels.cpu_isa()
    print(f"{f'sum ({args.threads} threads, {isa})':36s}" + "".join(f"{total[d] * 1e3:10.1f}" for d in DTYPES))


if __name__ == "__main__":
    main()
