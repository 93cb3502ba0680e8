"""Stored weight precision on VGG16: file size, peak RSS, batch-1 latency and output
drift per precision, with ONNX Runtime float32 and int8 in the same run (issue 10).

    python tools/bench_precision.py                          # VGG16, 2 threads, 3 rounds
    python tools/bench_precision.py --threads 1,2 --rounds 2 --out /tmp/precision.md
    python tools/bench_precision.py --isa avx2 --variants pyconvinfer-float32,pyconvinfer-int8

Model files come from tools/bench_peers.py's work directory (VGG16 with its seeded
random weights: vgg16.h5, vgg16.onnx, x.npy, ref.npy; run bench_peers.py once to make
them, --workdir to point elsewhere). This script converts vgg16.h5 once per
precision (`pyconvinfer convert --weights ...`, re-done every invocation: the build may
change) and quantizes vgg16.onnx once with onnxruntime.quantization.quantize_static
(QDQ, int8 weights per channel and int8 activations, calibrated on 8 seeded random
inputs) into vgg16-int8.onnx (cached).

Each measurement runs in a fresh interpreter (this file with --child): load, predict
8 seeded inputs (their outputs are compared with pyconvinfer float32's: max absolute
probability difference, argmax agreement), then the median time of batch-1 calls
(tools/bench_child.py's timing: blocks of calls after warm-up), then the process's
peak RSS (VmHWM). Runtimes alternate within a round; the table gives the median
over rounds. The machine's CPU and ISA head the report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

PRECISIONS = ("float32", "float16", "bfloat16", "int8")
# int8: computed in int8 where the CPU has int8 dot products (ranges measured per run);
# int8+calibrated: ranges from `convert --calibrate` on the 8 inputs ONNX Runtime calibrates on;
# int8+float: int8 weights, float32 compute (load(int8_compute=False))
VARIANTS = ([f"pyconvinfer-{p}" for p in PRECISIONS] + ["pyconvinfer-int8+calibrated", "pyconvinfer-int8+float"]
            + ["onnxruntime-float32", "onnxruntime-int8"])
DEFAULT_WORKDIR = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "pyconvinfer-bench"


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    import bench_child as bc
    import numpy as np

    runtime, threads = spec["runtime"], spec["threads"]
    xs = np.load(spec["x8"])
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    make = bc._load_runtime(runtime, bc._import_runtime(runtime), spec["files"], threads, info,
                            spec.get("isa") if runtime == "pyconvinfer" else None)
    load_s = time.perf_counter() - t0
    predict = make(1)
    ys = np.concatenate([np.asarray(predict(np.ascontiguousarray(xs[i:i + 1]))).reshape(1, -1)
                         for i in range(len(xs))])
    np.save(spec["out_y"], ys.astype(np.float32))
    lat = bc._time_runs(predict, [np.ascontiguousarray(xs[i:i + 1]) for i in range(len(xs))], spec["runs"],
                        0.5, 1.0)
    return {"median_s": lat["median_s"], "load_s": load_s, "info": {k: str(v) for k, v in info.items()},
            "maxrss_mib": _peak_rss_mib()}


def _peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss would carry the parent's peak over fork + exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _convert(h5: Path, dst: Path, weights: str, calibrate: Path | None = None) -> None:
    """In a child process: the converter's peak memory must not be the measuring processes' baseline."""
    if dst.exists():
        dst.unlink()
    code = ("import sys, pyconvinfer; pyconvinfer.convert(sys.argv[1], sys.argv[2], weights=sys.argv[3], "
            "calibrate=sys.argv[4] or None)")
    subprocess.run([sys.executable, "-c", code, str(h5), str(dst), weights, str(calibrate or "")], check=True)


def _quantize_onnx(src: Path, dst: Path, x8: Path) -> None:
    """ONNX Runtime's own int8 model: static QDQ quantization, per-channel weights."""
    if dst.exists():
        return
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    xs = np.load(x8)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            import onnx

            self.name = onnx.load(str(src), load_external_data=False).graph.input[0].name
            self.it = iter([{self.name: xs[i:i + 1]} for i in range(len(xs))])

        def get_next(self):
            return next(self.it, None)

    tmp = dst.with_suffix(".tmp.onnx")
    quantize_static(str(src), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QInt8)
    os.replace(tmp, dst)


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        f = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines())}
        return f"{f.get('Model name')} (family {f.get('CPU family')}, model {f.get('Model')})"
    except OSError:
        return "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default=str(DEFAULT_WORKDIR), help="bench_peers.py's work directory")
    p.add_argument("--threads", default="2", help="comma-separated thread counts (default 2)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--runs", type=int, default=10, help="timed blocks per process")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"subset of {','.join(VARIANTS)}")
    p.add_argument("--isa", default=None, help="force pyconvinfer's path (avx2, avx512, ...); the peers use their best")
    p.add_argument("--out", default=None, help="also write the markdown table here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        spec = json.loads(Path(args.child).read_text())
        Path(spec["result"]).write_text(json.dumps(_child(spec)))
        return 0

    import numpy as np

    import pyconvinfer

    d = Path(args.workdir).expanduser() / "vgg16"
    h5, onnx = d / "vgg16.h5", d / "vgg16.onnx"
    if not h5.exists():
        print(f"{h5} not found: run tools/bench_peers.py --models vgg16 once (or give --workdir)", file=sys.stderr)
        return 2
    x8 = d / "x8.npy"
    if not x8.exists():
        np.save(x8, np.random.default_rng(8).standard_normal((8, 224, 224, 3)).astype(np.float32))
    variants = args.variants.split(",")
    files: dict[str, dict[str, str]] = {}
    sizes: dict[str, int] = {}
    for v in variants:
        runtime, prec = v.split("-")
        if runtime == "pyconvinfer":
            weights, _, how = prec.partition("+")
            calibrated = how == "calibrated"
            pci = d / f"vgg16-{weights}{'-calibrated' if calibrated else ''}.pci"
            if how != "float" or not pci.exists():
                t0 = time.perf_counter()
                _convert(h5, pci, weights, x8 if calibrated else None)
                print(f"converted {pci.name} in {time.perf_counter() - t0:.1f} s", flush=True)
            files[v] = {"pci": str(pci), "int8_compute": "off" if how == "float" else "auto"}
            sizes[v] = pci.stat().st_size
        else:
            model = onnx if prec == "float32" else d / "vgg16-int8.onnx"
            if prec == "int8":
                _quantize_onnx(onnx, model, x8)
            files[v], sizes[v] = {"onnx": str(model)}, model.stat().st_size
    threads = [int(t) for t in args.threads.split(",")]
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for t in threads:
                for v in order:
                    runtime = v.split("-")[0]
                    spec = {"runtime": runtime, "threads": t, "files": files[v], "x8": str(x8), "runs": args.runs,
                            "isa": args.isa,
                            "out_y": f"{tmp}/{v}-{t}.npy", "result": f"{tmp}/{v}-{t}.json"}
                    Path(f"{tmp}/spec.json").write_text(json.dumps(spec))
                    env = dict(os.environ, OMP_NUM_THREADS=str(t))
                    proc = subprocess.run([sys.executable, __file__, "--child", f"{tmp}/spec.json"], env=env,
                                          capture_output=True, text=True)
                    if proc.returncode:
                        print(f"{v} ({t} threads) failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                        continue
                    res = json.loads(Path(spec["result"]).read_text())
                    res["y"] = np.load(spec["out_y"])
                    results.setdefault((v, t), []).append(res)
                    print(f"round {r + 1} {v} {t} thr: {res['median_s'] * 1e3:.1f} ms, "
                          f"RSS {res['maxrss_mib']:.0f} MiB", flush=True)
    base_key = next(((v, t) for v in variants for t in threads if v == "pyconvinfer-float32"), None)
    isa = args.isa or pyconvinfer.build_info().get("cpu_isa", "?")
    lines = [f"VGG16 batch 1, {_cpu()}, pyconvinfer ISA {isa}; "
             f"medians over {args.rounds} round(s); drift vs pyconvinfer float32 on 8 seeded inputs", "",
             "| runtime | weights | threads | file MB | peak RSS MiB | latency ms | vs our float32 | "
             "max abs prob diff | argmax agree |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for t in threads:
        base = statistics.median(x["median_s"] for x in results.get(("pyconvinfer-float32", t), [])) \
            if ("pyconvinfer-float32", t) in results else None
        for v in variants:
            rs = results.get((v, t))
            if not rs:
                continue
            ms = statistics.median(x["median_s"] for x in rs)
            rss = statistics.median(x["maxrss_mib"] for x in rs)
            ratio = f"{ms / base:.2f}x" if base else "-"
            drift, agree = "-", "-"
            if base_key and base_key in results:
                ref = results[base_key][0]["y"]
                y = rs[0]["y"]
                drift = f"{np.abs(y - ref).max():.2e}"
                agree = f"{int((y.argmax(1) == ref.argmax(1)).sum())}/{len(ref)}"
            runtime, prec = v.split("-")
            lines.append(f"| {runtime} | {prec} | {t} | {sizes[v] / 1e6:.0f} | {rss:.0f} | {ms * 1e3:.1f} | {ratio} "
                         f"| {drift} | {agree} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
