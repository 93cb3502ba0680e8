"""pyconvinfer command line: convert | info | run | bench | verify | demo.

Exit status: 0 success, 2 usage error (argparse), 130 interrupted (Ctrl-C),
1 any other error, printed as one line (a traceback only with --debug, which
may come before or after the subcommand)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import resources

import numpy as np

from .cli_run import INT8_COMPUTE, add_int8_compute_argument, cmd_run
from .cli_run import add_arguments as add_run_arguments
from .errors import PyconvinferError
from .units import format_bytes, format_time


def _shape(text: str) -> tuple:
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W,C (e.g. 224,224,3), got {text!r}") from None
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes H,W,C, got {text!r}")
    return dims


_OPEN_LINE: list = []  # a stream whose progress line is not ended yet


def _end_open_line() -> None:
    """End an unfinished progress line before an error or "interrupted"."""
    while _OPEN_LINE:
        _OPEN_LINE.pop().write("\n")


def _progress_printer(stream) -> Callable[[int, int], None]:
    """Convert's progress line for big models: redrawn every 0.5 s, ended with
    a newline when done reaches total."""
    state = {"last": 0.0}

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if total >= 32 << 20 and (now - state["last"] > 0.5 or done >= total):
            state["last"] = now
            stream.write(f"\rwriting weights: {format_bytes(done)} / {format_bytes(total)}")
            _OPEN_LINE[:] = [stream]
            if done >= total:
                _end_open_line()
            stream.flush()
    return report


def cmd_convert(args: argparse.Namespace) -> int:
    import warnings

    from .errors import ConversionWarning
    from .keras.convert import convert

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ConversionWarning)
        reference = None
        if args.reference:
            reference = tuple(_load_npy(p, "--reference") for p in args.reference)
        out = convert(args.input, args.output, config=args.config, arch=args.arch, input_shape=args.input_shape,
                      winograd=args.winograd, progress=_progress_printer(sys.stderr),
                      verify=not args.no_verify_vectors, verify_shape=args.verify_shape, reference=reference,
                      report=print, weights=args.weights,
                      calibrate=_load_npy(args.calibrate, "--calibrate") if args.calibrate else None)
    for w in seen:
        print(f"pyconvinfer convert: warning: {w.message}", file=sys.stderr)
    size = os.path.getsize(out)
    print(f"wrote {out} ({format_bytes(size)}) in {format_time(time.perf_counter() - t0)}")
    if args.weights == "int8" and not args.calibrate:
        print("note: int8 layers measure their input's range on every run; --calibrate SAMPLES.npy (a few typical "
              "inputs) stores the ranges instead, which is faster (docs/PRECISION.md)")
    return 0


def _load_npy(path: str, what: str):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise PyconvinferError(f"{what}: cannot read {path} as a .npy array: {e}") from None


def cmd_verify(args: argparse.Namespace) -> int:
    from .runtime import load

    with load(args.model, num_threads=args.threads, int8_compute=INT8_COMPUTE[args.int8_compute]) as model:
        result = model.verify(print_fn=print)
    return 0 if result.passed else 1


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
    print(f"File size: {format_bytes(model.file.file_size)}; activation arena (batch 1): "
          + ("unknown until the input size is known" if arena is None else format_bytes(arena)))
    src = model.metadata.get("source", {})
    if src:
        print(f"Converted from: {src.get('file')} ({src.get('format')}, Keras {src.get('keras_version') or '?'})")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_model

    print(bench_model(args.model, batch=args.batch, threads=args.threads, repeat=args.repeat,
                      per_layer=args.per_layer, input_shape=args.input_shape, isa=args.isa,
                      int8_compute=INT8_COMPUTE[args.int8_compute]))
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
              f"{format_bytes(os.path.getsize(out))}, {model.num_threads} thread(s)")
        probs = model.predict(x)
        correct = int((probs.argmax(-1) == y).sum())
        acc = correct / len(y)
        per_image = median_time(lambda: model.predict(x[0]), repeat=200, warmup=20)
        batch = median_time(lambda: model.predict(x), repeat=10)
    print(f"held-out images: {len(y)}")
    print(f"Keras accuracy:       {meta['keras_accuracy']:.4f} ({meta['keras_correct']}/{meta['n_test']})")
    print(f"pyconvinfer accuracy: {acc:.4f} ({correct}/{len(y)})")
    print(f"latency: {format_time(per_image)} per image (batch 1, median); "
          f"{format_time(batch / len(y))} per image in one batch of {len(y)}")
    if correct != meta["keras_correct"]:
        print("MISMATCH: pyconvinfer's accuracy differs from Keras's", file=sys.stderr)
        return 1
    print("matches Keras")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="pyconvinfer", description="Run Keras CNNs without TensorFlow.")
    p.add_argument("--version", action="version", version=f"pyconvinfer {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    common = argparse.ArgumentParser(add_help=False)  # --debug after the subcommand too
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser

    def sub_parser(name: str, **kw: object) -> argparse.ArgumentParser:
        return add(name, parents=[common], **kw)

    c = sub_parser("convert", help="convert a Keras .h5/.keras file to a .pci model file")
    c.add_argument("input", help="Keras file: full model .h5/.keras, or weights-only .h5 with --config/--arch")
    c.add_argument("-o", "--output", help="output .pci file (default: the input's name with .pci)")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--config", metavar="ARCH.json", help="architecture from model.to_json(), for weights-only files")
    g.add_argument("--arch", choices=["vgg16", "lenet5"], help="built-in architecture for weights-only files")
    c.add_argument("--input-shape", type=_shape, metavar="H,W,C", help="fix the input size (e.g. 224,224,3)")
    c.add_argument("--winograd", choices=["auto", "off", "winograd2", "winograd4"], default="auto",
                   help="3x3 stride-1 convolutions: Winograd where it pays (auto, default) or never (off)")
    c.add_argument("--weights", choices=["float32", "float16", "bfloat16", "int8"], default="float32",
                   help="stored precision of convolution and dense kernels (default float32: exact; float16 and "
                        "bfloat16 halve the file, int8 (per-channel) quarters it; computed in float32, and int8 "
                        "convolutions and batch-1 dense layers in int8 where the CPU has int8 dot products)")
    c.add_argument("--calibrate", metavar="SAMPLES.npy",
                   help="with --weights int8: typical inputs (N, H, W, C); each convolution stores its input's range "
                        "over them, so CPUs that compute in int8 quantize with it instead of measuring every run, and "
                        "pass uint8 tensors between int8 layers (faster)")
    c.add_argument("--verify-shape", type=_shape, metavar="H,W,C",
                   help="input size of the stored test vectors when the model's height/width are open (default 64x64)")
    c.add_argument("--reference", nargs=2, metavar=("X.npy", "Y.npy"),
                   help="store your own Keras input/output as the test vectors (and print the error against them)")
    c.add_argument("--no-verify-vectors", action="store_true", help="do not store test vectors in the file")
    c.set_defaults(fn=cmd_convert)

    v = sub_parser("verify", help="rerun the test vectors stored in a .pci file; exit 0 if they pass, 1 if not")
    v.add_argument("model")
    v.add_argument("--threads", type=int, default=None)
    add_int8_compute_argument(v)
    v.set_defaults(fn=cmd_verify)

    i = sub_parser("info", help="describe a .pci model: layers, shapes, parameters, MACs, sizes")
    i.add_argument("model")
    i.set_defaults(fn=cmd_info)

    r = sub_parser("run", help="run a model on images or a .npy array; prints the top classes")
    add_run_arguments(r)
    r.set_defaults(fn=cmd_run)

    b = sub_parser("bench", help="latency of a model (median), optionally per layer")
    b.add_argument("model")
    b.add_argument("--batch", type=int, default=1)
    b.add_argument("--threads", type=int, default=None)
    b.add_argument("--repeat", type=int, default=20)
    b.add_argument("--per-layer", action="store_true", help="time, MACs and GFLOP/s of each layer")
    b.add_argument("--input-shape", type=_shape, metavar="H,W,C",
                   help="input size (required when the model's height and width are unknown)")
    b.add_argument("--isa", default=None, help="kernel path to force (avx2, avx512, neon, generic); "
                   "default: the best this CPU has")
    add_int8_compute_argument(b)
    b.set_defaults(fn=cmd_bench)

    d = sub_parser("demo", help="convert the bundled LeNet-5, run the held-out digits, compare with Keras")
    d.add_argument("--threads", type=int, default=None)
    d.set_defaults(fn=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        _end_open_line()
        print(f"pyconvinfer {args.command}: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as shells report it
    except (PyconvinferError, ValueError, TypeError, OSError) as e:
        _end_open_line()
        if args.debug:
            raise
        msg = "; ".join(line.strip() for line in str(e).strip().splitlines())  # one line
        print(f"pyconvinfer {args.command}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
