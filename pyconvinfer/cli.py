"""pyconvinfer command line: convert | info | run | bench | demo.

Exit status: 0 success, 2 usage error (argparse), 1 any other error, printed
as one line (a traceback only with --debug)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import resources

import numpy as np

from .errors import PyconvinferError


def _shape(text: str) -> tuple:
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W,C (e.g. 224,224,3), got {text!r}") from None
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes H,W,C, got {text!r}")
    return dims


def _progress_printer(stream) -> object:
    state = {"last": 0.0}

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if total >= 32 << 20 and (now - state["last"] > 0.5 or done == total):
            state["last"] = now
            stream.write(f"\rwriting weights: {done / 2**20:7.1f} / {total / 2**20:.1f} MiB")
            if done == total:
                stream.write("\n")
            stream.flush()
    return report


def cmd_convert(args: argparse.Namespace) -> int:
    from .keras.convert import convert

    t0 = time.perf_counter()
    out = convert(args.input, args.output, config=args.config, arch=args.arch, input_shape=args.input_shape,
                  winograd=args.winograd, progress=_progress_printer(sys.stderr))
    size = os.path.getsize(out)
    print(f"wrote {out} ({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.2f} s")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .runtime import load

    model = load(args.model, num_threads=1)
    model.summary()
    rows = model.layer_table()
    macs = [r["macs"] for r in rows]
    print(f"Inputs:  {', '.join(f'{n} {s}' for n, s in zip(model.input_names, model.input_shapes))}")
    print(f"Outputs: {', '.join(f'{n} {s}' for n, s in zip(model.output_names, model.output_shapes))}")
    if all(m is not None for m in macs):
        print(f"MACs per sample: {sum(macs):,} ({2 * sum(macs) / 1e9:.3f} GFLOP)")
    else:
        print("MACs per sample: depends on the input height/width (unknown until predict)")
    arena = model.arena_bytes(1)
    print(f"File size: {model.file.file_size / 1e6:.2f} MB; activation arena (batch 1): "
          + ("unknown until the input size is known" if arena is None else f"{arena / 1e6:.2f} MB"))
    src = model.metadata.get("source", {})
    if src:
        print(f"Converted from: {src.get('file')} ({src.get('format')}, Keras {src.get('keras_version') or '?'})")
    return 0


def _top5(probs: np.ndarray) -> list[str]:
    lines = []
    for i, row in enumerate(probs.reshape(-1, probs.shape[-1])):
        top = np.argsort(row)[::-1][:5]
        lines.append(f"sample {i}: " + ", ".join(f"{c}: {row[c]:.4f}" for c in top))
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    from .runtime import load

    model = load(args.model, num_threads=args.threads)
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise PyconvinferError(f"cannot read {args.input} as a .npy array: {e}") from None
    t0 = time.perf_counter()
    y = model.predict(x)
    dt = time.perf_counter() - t0
    outs = y if isinstance(y, list) else [y]
    for name, out in zip(model.output_names, outs):
        print(f"{name}: shape {out.shape}")
        is_classifier = out.shape[-1] > 1 and np.all(out >= 0) and np.allclose(out.sum(-1), 1, atol=1e-3)
        if is_classifier:
            print("\n".join("  " + line for line in _top5(out)))
    print(f"inference: {dt * 1e3:.2f} ms")
    if args.output:
        if len(outs) == 1:
            np.save(args.output, outs[0])
        else:
            np.savez(args.output, **dict(zip(model.output_names, outs)))
        print(f"saved {args.output}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_model

    print(bench_model(args.model, batch=args.batch, threads=args.threads, repeat=args.repeat,
                      per_layer=args.per_layer, isa=args.isa))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .bench import median_time
    from .keras.convert import convert
    from .runtime import load

    data = resources.files("pyconvinfer") / "data"
    meta = json.loads((data / "lenet5_digits.json").read_text())
    with resources.as_file(data / "lenet5_digits.h5") as h5, tempfile.TemporaryDirectory() as tmp:
        out = convert(str(h5), os.path.join(tmp, "lenet5_digits.pci"))
        with resources.as_file(data / "digits_test_x.npy") as fx, resources.as_file(data / "digits_test_y.npy") as fy:
            x, y = np.load(fx), np.load(fy)
        model = load(out, num_threads=args.threads)
        print(f"LeNet-5 trained on scikit-learn digits (32x32), converted from Keras {meta['keras_version']}: "
              f"{os.path.getsize(out) / 1e3:.0f} kB, {model.num_threads} thread(s)")
        probs = model.predict(x)
        correct = int((probs.argmax(-1) == y).sum())
        acc = correct / len(y)
        per_image = median_time(lambda: model.predict(x[0]), repeat=200, warmup=20)
        batch = median_time(lambda: model.predict(x), repeat=10)
    print(f"held-out images: {len(y)}")
    print(f"Keras accuracy:       {meta['keras_accuracy']:.4f} ({meta['keras_correct']}/{meta['n_test']})")
    print(f"pyconvinfer accuracy: {acc:.4f} ({correct}/{len(y)})")
    print(f"latency: {per_image * 1e6:.1f} us per image (batch 1, median); "
          f"{batch / len(y) * 1e6:.2f} us per image in one batch of {len(y)}")
    if correct != meta["keras_correct"]:
        print("MISMATCH: pyconvinfer's accuracy differs from Keras's", file=sys.stderr)
        return 1
    print("matches Keras")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyconvinfer", description="Run Keras CNNs without TensorFlow.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="convert a Keras .h5/.keras file to a .pci model file")
    c.add_argument("input", help="Keras file: full model .h5/.keras, or weights-only .h5 with --config/--arch")
    c.add_argument("-o", "--output", help="output .pci file (default: the input's name with .pci)")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--config", metavar="ARCH.json", help="architecture from model.to_json(), for weights-only files")
    g.add_argument("--arch", choices=["vgg16", "lenet5"], help="built-in architecture for weights-only files")
    c.add_argument("--input-shape", type=_shape, metavar="H,W,C", help="fix the input size (e.g. 224,224,3)")
    c.add_argument("--winograd", choices=["auto", "off", "winograd2", "winograd4"], default="auto",
                   help="3x3 stride-1 convolutions: Winograd where it pays (auto, default) or never (off)")
    c.set_defaults(fn=cmd_convert)

    i = sub.add_parser("info", help="describe a .pci model: layers, shapes, parameters, MACs, sizes")
    i.add_argument("model")
    i.set_defaults(fn=cmd_info)

    r = sub.add_parser("run", help="run a model on a .npy input; prints top-5 classes for classifiers")
    r.add_argument("model")
    r.add_argument("input", help=".npy array (N, H, W, C) or one sample (H, W, C)")
    r.add_argument("-o", "--output", help="save the output(s) as .npy (.npz for several outputs)")
    r.add_argument("--threads", type=int, default=None)
    r.set_defaults(fn=cmd_run)

    b = sub.add_parser("bench", help="latency of a model (median), optionally per layer")
    b.add_argument("model")
    b.add_argument("--batch", type=int, default=1)
    b.add_argument("--threads", type=int, default=None)
    b.add_argument("--repeat", type=int, default=20)
    b.add_argument("--per-layer", action="store_true", help="time, MACs and GFLOP/s of each layer")
    b.add_argument("--isa", default=None, help="kernel path to force (avx2, avx512, neon, generic); "
                   "default: the best this CPU has")
    b.set_defaults(fn=cmd_bench)

    d = sub.add_parser("demo", help="convert the bundled LeNet-5, run the held-out digits, compare with Keras")
    d.add_argument("--threads", type=int, default=None)
    d.set_defaults(fn=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except (PyconvinferError, ValueError, TypeError, OSError) as e:
        if args.debug:
            raise
        msg = "; ".join(line.strip() for line in str(e).strip().splitlines())  # one line
        print(f"pyconvinfer {args.command}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
