"""`pyconvinfer run MODEL INPUT...`: a .npy array, or images (files,
directories, glob patterns) read, sized and preprocessed by images.py; the
outputs as a table, CSV, JSON or .npy, with class names from --labels."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from typing import Any

import numpy as np

from .errors import PyconvinferError
from .units import format_time

READ_CHUNK = 32  # images read and predicted at a time: memory stays bounded for a big folder
PROGRESS_FROM = 5  # more images than this: a progress bar on a terminal


# --int8-compute: how convolutions with int8 kernels compute (load(int8_compute=...))
INT8_COMPUTE = {"auto": None, "on": True, "off": False}


def add_int8_compute_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--int8-compute", choices=list(INT8_COMPUTE), default="auto",
                   help="int8 kernels (convert --weights int8): compute in int8 where the CPU has int8 dot products "
                        "(auto, default), always (on: portable C without them), or in float32 (off)")


def add_arguments(r: argparse.ArgumentParser) -> None:
    from .images import CROPS, PREPROCESS

    r.add_argument("model")
    r.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="a .npy array (N, H, W, C) or one sample (H, W, C); or images: files, directories, "
                        "glob patterns (JPEG, PNG, BMP, WebP; needs Pillow)")
    r.add_argument("-o", "--output", metavar="FILE",
                   help="save results: .npy (raw outputs; .npz for several), .csv or .json (top-k table)")
    r.add_argument("--format", choices=["table", "csv", "json"], default="table", help="what to print (table)")
    r.add_argument("--labels", metavar="FILE", help="class names, one per line, in class index order")
    r.add_argument("--top-k", type=int, default=5, metavar="K", help="classes shown per sample (5)")
    r.add_argument("--preprocess", choices=PREPROCESS, default="none",
                   help="images: as keras.applications defines them (default none: pixels 0..255)")
    r.add_argument("--scale", type=_number, help="images with --preprocess none: multiply pixels by this (e.g. 1/255)")
    r.add_argument("--mean", type=_floats, metavar="M[,M,M]", help="images: then subtract (per channel)")
    r.add_argument("--std", type=_floats, metavar="S[,S,S]", help="images: then divide (per channel)")
    r.add_argument("--crop", choices=CROPS, default="none",
                   help="images: 'center' cuts the centred region of the model's aspect ratio before resizing")
    r.add_argument("--batch-size", type=int, default=None, metavar="N", help="samples per run (automatic)")
    r.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help=f"progress bar on stderr (default: on a terminal with more than {PROGRESS_FROM} images)")
    r.add_argument("--threads", type=int, default=None)
    add_int8_compute_argument(r)


def _number(text: str) -> float:
    """A float, or a fraction such as 1/255."""
    try:
        num, _, den = text.partition("/")
        return float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number such as 0.5 or 1/255, got {text!r}") from None


def _floats(text: str) -> list[float]:
    try:
        return [_number(v) for v in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


class _Bar:
    """A one-line progress bar on stderr: redrawn at most every 0.1 s, ended with a newline."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.t0, self.last = total, enabled, time.monotonic(), 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.1 and done < self.total):
            return
        self.last = now
        width = 30
        fill = width * done // max(self.total, 1)
        rate = done / max(now - self.t0, 1e-9)
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{self.total} images, {rate:.1f}/s")
        if done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def read_labels(path: str | None, classes: int) -> list[str] | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            labels = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise PyconvinferError(f"cannot read labels file {path}: {e.strerror}") from None
    if len(labels) != classes:
        raise PyconvinferError(f"{path}: {len(labels)} labels, but the model has {classes} classes")
    return labels


def top_k(out: np.ndarray, k: int, labels: list[str] | None) -> list[list[dict[str, Any]]]:
    """Per sample: the k highest scores as {class, label, score}, best first."""
    rows = []
    for row in out.reshape(len(out), -1):
        order = np.argsort(-row, kind="stable")[:k]
        rows.append([{"class": int(c), "label": labels[c] if labels else str(int(c)), "score": float(row[c])}
                     for c in order])
    return rows


def _render(fmt: str, names: list[str], tops: list[list[dict[str, Any]]]) -> str:
    if fmt == "json":
        return json.dumps([{"input": n, "top": t} for n, t in zip(names, tops)], indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["input", "rank", "class", "label", "score"])
        for n, t in zip(names, tops):
            for rank, e in enumerate(t, 1):
                w.writerow([n, rank, e["class"], e["label"], f"{e['score']:.6g}"])
        return buf.getvalue().rstrip("\n")
    width = max(len(n) for n in names)
    return "\n".join(f"{n:<{width}}  " + ", ".join(f"{e['label']} {e['score']:.4f}" for e in t)
                     for n, t in zip(names, tops))


def _save(path: str, model: Any, outs: list[np.ndarray], names: list[str], tops: list | None) -> None:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".npy", ".npz"):
        if len(outs) == 1 and ext == ".npy":
            np.save(path, outs[0])
        else:
            np.savez(path, **dict(zip(model.output_names, outs)))
    elif ext in (".csv", ".json"):
        if tops is None:
            raise PyconvinferError(f"{path}: a top-k table needs one output of class scores; save as .npy instead")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_render(ext[1:], names, tops) + "\n")
    else:
        raise PyconvinferError(f"{path}: unknown output type; use .npy, .npz, .csv or .json")


def _predict_images(model: Any, files: list[str], args: argparse.Namespace) -> list[np.ndarray]:
    from . import images

    h, w, c = images.input_size(model)
    bar = _Bar(len(files), args.progress if args.progress is not None
               else len(files) > PROGRESS_FROM and sys.stderr.isatty())
    opts = {"scale": args.scale, "mean": args.mean, "std": args.std}
    results: list[list[np.ndarray]] = []
    step = 1 if h is None or w is None else READ_CHUNK  # unknown size: each image at its own size
    for start in range(0, len(files), step):
        part = files[start:start + step]
        x = images.preprocess(np.stack([images.read(f, (h, w), c, args.crop) for f in part]),
                              args.preprocess, **opts)
        y = model.predict(x, batch_size=args.batch_size)
        results.append(y if isinstance(y, list) else [y])
        bar(start + len(part))
    return [np.concatenate(parts) for parts in zip(*results)]


def cmd_run(args: argparse.Namespace) -> int:
    from . import images
    from .runtime import load

    if args.top_k < 1:
        raise PyconvinferError("--top-k must be >= 1")
    model = load(args.model, num_threads=args.threads, int8_compute=INT8_COMPUTE[args.int8_compute])
    npys = [p for p in args.inputs if p.lower().endswith(".npy")]
    if npys and len(args.inputs) > 1:
        raise PyconvinferError(f"a .npy input ({npys[0]}) must be the only input; images may be several")
    is_npy = bool(npys)
    t0 = time.perf_counter()
    if is_npy:
        try:
            x = np.load(args.inputs[0], allow_pickle=False, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise PyconvinferError(f"cannot read {args.inputs[0]} as a .npy array: {e}") from None
        y = model.predict(x, batch_size=args.batch_size)
        outs = y if isinstance(y, list) else [y]
        single = outs[0].ndim == len(model.output_shapes[0]) - 1
        if single:
            outs = [o[None] for o in outs]
        names = [f"sample {i}" for i in range(len(outs[0]))]
    else:
        files = images.expand(args.inputs)
        outs = _predict_images(model, files, args)
        names = files
    dt = time.perf_counter() - t0
    scores = outs[0]
    tops = None
    if len(outs) == 1 and scores.ndim == 2:
        tops = top_k(scores, args.top_k, read_labels(args.labels, scores.shape[1]))
    elif args.labels:
        raise PyconvinferError(f"--labels needs one output of class scores; the model's outputs are "
                               f"{model.output_shapes}")
    if tops is not None:
        print(_render(args.format, names, tops))
    else:
        for name, out in zip(model.output_names, outs):
            print(f"{name}: shape {out.shape}")
    if args.format == "table":
        n = len(names)
        print(f"{n} {'sample' if is_npy else 'image'}{'s' if n != 1 else ''} in {format_time(dt)}"
              + (f" ({n / dt:.1f}/s)" if n > 1 and dt > 0 else ""), file=sys.stderr)
    if args.output:
        _save(args.output, model, outs if not (is_npy and single) else [o[0] for o in outs], names, tops)
        print(f"saved {args.output}", file=sys.stderr)
    return 0
