"""Accuracy per stored weight precision on trained models with real data (the README's table).

    python tools/accuracy_table.py                     # LeNet-5 and the digits CNN
    python tools/accuracy_table.py --vgg16 ~/.cache/pyconvinfer-bench/vgg16/vgg16.h5
    python tools/accuracy_table.py --layer-errors      # one 3x3 layer per algorithm and precision

For each model and each `--weights` precision (int8 files computed in float32, in int8
with ranges measured per run, and in int8 with `--calibrate`d ranges): convert, run the 450 held-out
scikit-learn digits (pyconvinfer/data), and report the accuracy, the change against
float32, the largest probability difference from the float32 model and how many
argmaxes agree. --vgg16 adds VGG16 (seeded random weights, bench_peers.py's file) on 8
seeded inputs: probability difference and argmax agreement against float32 (no labels).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import pyconvinfer
from pyconvinfer.quantize import WEIGHT_DTYPES

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(pyconvinfer.__file__).parent / "data"
MODELS = {"LeNet-5 (bundled)": DATA / "lenet5_digits.h5",
          "digits CNN (BN, depthwise, Winograd 3x3)": ROOT / "tests" / "fixtures" / "precision" / "digits_cnn.keras"}


# (row label, stored weights, int8 compute, calibrated): int8 files run both ways (docs/PRECISION.md);
# int8 compute is forced on, so the rows are the same on every CPU (all paths agree bitwise)
VARIANTS = [(d, d, False, False) for d in WEIGHT_DTYPES if d != "int8"] + [
    ("int8, float32 compute", "int8", False, False), ("int8, int8 compute", "int8", True, False),
    ("int8, int8 compute, calibrated", "int8", True, True)]


def _rows(name: str, src: Path, x: np.ndarray, y: np.ndarray | None, tmp: Path, calibrate: np.ndarray) -> list[str]:
    probs, sizes = {}, {}
    for label, d, int8_compute, calibrated in VARIANTS:
        out = tmp / f"{src.stem}-{d}{'-cal' if calibrated else ''}.pci"
        pyconvinfer.convert(src, out, weights=d, calibrate=calibrate if calibrated else None)
        with pyconvinfer.load(out, int8_compute=int8_compute) as m:
            probs[label] = m.predict(x)
        sizes[label] = out.stat().st_size
    rows = []
    base = probs["float32"]
    for label, *_ in VARIANTS:
        agree = int((probs[label].argmax(1) == base.argmax(1)).sum())
        acc = "-" if y is None else f"{100 * np.mean(probs[label].argmax(1) == y):.2f} %"
        delta = "-" if y is None else \
            f"{100 * (np.mean(probs[label].argmax(1) == y) - np.mean(base.argmax(1) == y)):+.2f}"
        rows.append(f"| {name} | {label} | {sizes[label] / 1e6:.2f} | {acc} | {delta} | "
                    f"{np.abs(probs[label] - base).max():.1e} | {agree}/{len(base)} |")
    return rows


def _conv64(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    n, h, w, _ = x.shape
    y = np.zeros((n, h, w, k.shape[3]))
    for i in range(3):
        for j in range(3):
            y += np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + w], k[i, j].astype(np.float64))
    return y


def layer_errors() -> list[str]:
    """Max error / max |y| of one VGG-like 3x3 layer (28x28x128 -> 128, He-initialised, relu
    input) against float64, per stored precision and algorithm: where Winograd's U comes from
    decides how much it adds to the weights' own rounding."""
    from pyconvinfer import kernels

    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((1, 28, 28, 128)), 0).astype(np.float32)
    k = (rng.standard_normal((3, 3, 128, 128)) * np.sqrt(2 / (9 * 128))).astype(np.float32)
    ref = _conv64(x, k)
    scale = np.abs(ref).max()
    ways = [("direct", "direct", "file"), ("F(2x2), U in the file", "winograd2", "file"),
            ("F(4x4), U in the file", "winograd4", "file"),
            ("F(2x2), float16 U at run time", "winograd2", "runtime_float16"),
            ("F(4x4), float16 U at run time", "winograd4", "runtime_float16"),
            ("F(4x4), float32 U at run time", "winograd4", "runtime_float32")]
    lines = ["| weights | " + " | ".join(w[0] for w in ways) + " |", "|---|" + "---:|" * len(ways)]
    for d in WEIGHT_DTYPES:
        errs = [np.abs(kernels.conv2d(x, k, padding="same", algorithm=a, winograd_weights=u, weights_dtype=d)
                       - ref).max() / scale for _, a, u in ways]
        lines.append(f"| {d} | " + " | ".join(f"{e:.1e}" for e in errs) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vgg16", type=Path, default=None, help="also VGG16 from this .h5 (bench_peers.py's)")
    p.add_argument("--layer-errors", action="store_true", help="per-layer error of each Winograd weights policy")
    args = p.parse_args(argv)
    if args.layer_errors:
        print("\n".join(layer_errors()))
        return 0
    x, y = np.load(DATA / "digits_test_x.npy"), np.load(DATA / "digits_test_y.npy")
    lines = ["| model | weights | file MB | held-out accuracy | vs float32 (points) | max abs prob diff vs float32 "
             "| argmax agree |", "|---|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, src in MODELS.items():  # calibrated on the first 64 held-out digits (no training set ships)
            lines += _rows(name, src, x, y, Path(tmp), x[:64])
        if args.vgg16:  # calibrated on the 8 inputs themselves, as bench_precision.py's ONNX Runtime int8 model
            xv = np.random.default_rng(8).standard_normal((8, 224, 224, 3)).astype(np.float32)
            lines += _rows("VGG16 (random weights, 8 inputs)", args.vgg16, xv, None, Path(tmp), xv)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
