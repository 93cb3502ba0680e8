"""One layer at a time against LiteRT: MobileNetV2's layer shapes as one-layer Keras
models, converted for both runtimes and timed in turns (each timing in its own process).
Finds which kernels lose to XNNPACK, where a whole-model run only says by how much.

    python tools/bench_layer_shapes.py                    # 1 and 2 threads, every shape
    python tools/bench_layer_shapes.py --threads 2 --shapes exp112,dw112 --rounds 3
    python tools/bench_layer_shapes.py --isa avx2         # pyconvinfer's AVX2 path (LiteRT keeps its own)

Needs TensorFlow and ai-edge-litert (`pip install ".[bench]"`): run it from that
environment with pyconvinfer importable (PYTHONPATH=. after `python setup.py
build_ext --inplace`). Models are cached in --workdir (seeded weights); the table gives
the median over rounds of each runtime's median per run (microseconds) and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

# name: (input shape, layer spec) -- MobileNetV2 at 224x224: the first convolution, and the
# expand (1x1, relu6), depthwise (3x3, relu6) and project (1x1, linear) layers at each resolution
SHAPES = {
    "conv1": ((224, 224, 3), ("conv", 32, 3, 2, "same", True)),
    "dw112": ((112, 112, 32), ("dw", 0, 3, 1, "same", True)),
    "proj112": ((112, 112, 32), ("conv", 16, 1, 1, "valid", False)),
    "exp112": ((112, 112, 16), ("conv", 96, 1, 1, "valid", True)),
    "dw112s2": ((112, 112, 96), ("dw", 0, 3, 2, "same", True)),
    "proj56": ((56, 56, 96), ("conv", 24, 1, 1, "valid", False)),
    "exp56": ((56, 56, 24), ("conv", 144, 1, 1, "valid", True)),
    "dw56": ((56, 56, 144), ("dw", 0, 3, 1, "same", True)),
    "proj56b": ((56, 56, 144), ("conv", 24, 1, 1, "valid", False)),
    "exp14": ((14, 14, 96), ("conv", 576, 1, 1, "valid", True)),
    "dw14": ((14, 14, 576), ("dw", 0, 3, 1, "same", True)),
    "proj14": ((14, 14, 576), ("conv", 96, 1, 1, "valid", False)),
    "exp7": ((7, 7, 160), ("conv", 960, 1, 1, "valid", True)),
    "proj7": ((7, 7, 960), ("conv", 320, 1, 1, "valid", False)),
    "last7": ((7, 7, 320), ("conv", 1280, 1, 1, "valid", True)),
}


def _make(name: str, workdir: Path) -> None:
    """The one-layer model as .h5 (converted with pyconvinfer) and .tflite."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    shape, (kind, filters, k, stride, padding, relu6) = SHAPES[name]
    x = keras.Input(shape)
    layer = (keras.layers.Conv2D(filters, k, strides=stride, padding=padding) if kind == "conv"
             else keras.layers.DepthwiseConv2D(k, strides=stride, padding=padding))
    y = layer(x)
    model = keras.Model(x, keras.layers.ReLU(6.0)(y) if relu6 else y)
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(rng.standard_normal(w.shape).astype("float32") * 0.1)
    model.save(workdir / f"{name}.h5")
    (workdir / f"{name}.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    import pyconvinfer

    pyconvinfer.convert(workdir / f"{name}.h5", workdir / f"{name}.pci")


def _time(runtime: str, path: str, threads: int, isa: str | None = None) -> float:
    """Median seconds of one run (in this process: called with --child)."""
    import time

    import numpy as np

    if runtime == "pyconvinfer":
        import pyconvinfer

        model = pyconvinfer.load(path, num_threads=threads, isa=isa)
        x = np.random.default_rng(0).random((1, *model.input_shape[1:]), dtype=np.float32)
        plan = model.prepared(x).plan

        def run() -> None:
            plan.run(threads, model.isa)
    else:
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=path, num_threads=threads)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        it.set_tensor(d["index"], np.random.default_rng(0).random(d["shape"], dtype=np.float32))
        run = it.invoke
    for _ in range(20):
        run()
    blocks = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(50):
            run()
        blocks.append((time.perf_counter() - t0) / 50)
    return statistics.median(blocks)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default=",".join(SHAPES), help=f"subset of {','.join(SHAPES)}")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--workdir", default=str(Path.home() / ".cache" / "pyconvinfer-bench" / "layers"))
    p.add_argument("--isa", default=None, help="pyconvinfer's kernel path (default: the best of this CPU)")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(_time(a.child[0], a.child[1], int(a.child[2]), a.child[3] if a.child[3] != "-" else None))
        return
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    names = a.shapes.split(",")
    for name in names:
        if name not in SHAPES:
            raise SystemExit(f"unknown shape {name!r}: one of {', '.join(SHAPES)}")
        if not all((workdir / f"{name}.{ext}").exists() for ext in ("pci", "tflite")):
            _make(name, workdir)
    print(f"one-layer models in {workdir}; microseconds per run, medians over {a.rounds} round(s); "
          f"pyconvinfer's path: {a.isa or 'the best of this CPU'}")
    print(f"{'layer':<10}{'threads':>8}{'pyconvinfer':>13}{'litert':>10}{'ratio':>8}")
    for threads in (int(t) for t in a.threads.split(",")):
        for name in names:
            times: dict[str, list[float]] = {"pyconvinfer": [], "litert": []}
            for _ in range(a.rounds):
                for runtime, ext in (("pyconvinfer", "pci"), ("litert", "tflite")):
                    child = [sys.executable, __file__, "--child", runtime, str(workdir / f"{name}.{ext}"),
                             str(threads), a.isa or "-"]
                    out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
                    times[runtime].append(float(out.split()[-1]))
            ours, theirs = (statistics.median(times[r]) * 1e6 for r in ("pyconvinfer", "litert"))
            print(f"{name:<10}{threads:>8}{ours:>13.1f}{theirs:>10.1f}{ours / theirs:>8.2f}")


if __name__ == "__main__":
    main()
