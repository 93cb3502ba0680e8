"""The markdown report of tools/bench_peers.py: one section per pyconvinfer ISA path measured, each with the
peers of the same run, its tables and the issues' targets checked on that run's medians."""

from __future__ import annotations

import json
import os
import re
import shlex
import statistics
import sys
from typing import TYPE_CHECKING, Any, Callable

from bench_child import TOLERANCE
from bench_models import LENET_BATCH, MODELS

if TYPE_CHECKING:
    from bench_peers import Bench

Key = Callable[[dict[str, Any]], Any]
FP32_PEERS = ("onnxruntime", "litert", "openvino")  # issue 9's "fastest fp32 peer" (Keras is not one)


def fmt_time(s: float) -> str:
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms" if s < 0.1 else f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.3g} us"


def _fmt_s(s: float) -> str:
    return f"{s:.2f} s"


def _fmt_mb(mb: float) -> str:
    return f"{mb:.0f} MB"


def _fmt_err(e: float) -> str:
    return f"{e:.1e}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _threads(t: int) -> str:
    return f"{t} thread{'s' if t > 1 else ''}"


def _lat(batch: int) -> Key:
    return lambda r: r["latency"][f"b{batch}"]["median_s"]


def table(bench: Bench, model: str, rows: list[str], ours: str | None) -> tuple[str, list[str]]:
    """The model's table: one row per runtime in `rows`, then pyconvinfer (`ours`) / the best peer."""
    a = bench.args
    top = max(a.threads)
    small = MODELS[model]["small"]
    cols: list[tuple[str, Key, int | None, Callable[[float], str], bool]] = []
    for t in a.threads:
        cols.append((f"batch 1, {_threads(t)}", _lat(1), t, fmt_time, True))
    if small:
        for t in a.threads:
            cols.append((f"batch {LENET_BATCH}, {_threads(t)}", _lat(LENET_BATCH), t, fmt_time, True))
    else:
        cols.append((f"peak RSS ({top} threads)", lambda r: r["maxrss_mb"], top, _fmt_mb, True))
        cols.append((f"start to first result ({top} threads)", lambda r: r["startup_s"], top, _fmt_s, True))
    cols.append(("import", lambda r: r["import_s"], None, fmt_time, True))
    cols.append(("max rel. err vs Keras", lambda r: max(r["rel_err"].values()), None, _fmt_err, False))
    lines = ["| runtime | " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * (len(cols) + 1)]
    meds: dict[str, list[float | None]] = {}
    for runtime in rows:
        cells = []
        meds[runtime] = []
        for name, key, t, fmt, _ in cols:
            vals = bench.values(runtime, model, t, key)  # import and error: over every process of this model
            med = max(vals) if name.startswith("max rel") and vals else _median(vals)
            meds[runtime].append(med)
            cells.append(fmt(med) if med is not None else "failed" if bench.failed(runtime, model) else "—")
        lines.append(f"| {runtime} | " + " | ".join(cells) + " |")
    notes = []
    if ours is not None:
        ratio_cells = []
        for i, (_name, _key, _t, _fmt, is_ratio) in enumerate(cols):
            mine = meds[ours][i]
            peers = [(meds[p][i], p) for p in rows if p != ours and meds[p][i] is not None]
            if not is_ratio or mine is None or not peers:
                ratio_cells.append("—")
                continue
            best, who = min(peers)
            ratio_cells.append(f"**{mine / best:.2f}x** ({who})" if best > 0 else "—")
        lines.append(f"| {ours} / best peer | " + " | ".join(ratio_cells) + " |")
        notes.append("ratio < 1: pyconvinfer is faster / smaller than the best peer for that column.")
    return "\n".join(lines), notes


def raw_rounds(bench: Bench, model: str, rows: list[str]) -> str:
    lines = []
    for runtime in rows:
        for t in bench.args.threads:
            rs = sorted((r for r in bench.results if r["runtime"] == runtime and r["model"] == model
                         and r["threads"] == t), key=lambda r: r["round"])
            if not rs:
                continue
            parts = []
            for key in rs[0].get("latency", {}):
                parts.append(f"{key}: " + ", ".join(fmt_time(r["latency"][key]["median_s"]) for r in rs))
            parts.append("first result: " + ", ".join(f"{r['startup_s']:.2f} s" for r in rs))
            parts.append("RSS: " + ", ".join(f"{r['maxrss_mb']:.0f} MB" for r in rs))
            if all("other_load" in r for r in rs):
                parts.append("other load: " + ", ".join(f"{r['other_load']:.1f}" for r in rs) + " cores")
            lines.append(f"- {runtime}, {_threads(t)}: " + "; ".join(parts))
    return "\n".join(lines)


def targets(bench: Bench, ours: str, peers: list[str]) -> list[str]:
    """Issues 4, 8 and 9's targets for pyconvinfer entry `ours`, each checked on this run's medians (only those
    whose runtimes and models ran)."""
    a = bench.args
    top = max(a.threads)
    fp32 = [p for p in peers if p in FP32_PEERS]

    def med(rt: str, model: str, threads: int | None, key: Key) -> float | None:
        return _median(bench.values(rt, model, threads, key))

    rows: list[tuple[str, str, str, str, bool]] = []

    def versus(issue: str, what: str, model: str, threads: int, batch: int, against: list[str],
               factor: float = 1.0) -> None:
        if model not in a.models or threads not in a.threads:
            return
        mine = med(ours, model, threads, _lat(batch))
        theirs = {rt: v for rt in against if (v := med(rt, model, threads, _lat(batch))) is not None}
        if mine is None or not theirs:
            return
        best = min(theirs, key=theirs.__getitem__)
        limit = f"<= {factor:g} x {best} {fmt_time(theirs[best])}" if factor != 1.0 else \
            f"<= {best} {fmt_time(theirs[best])}"
        rows.append((issue, what, f"{fmt_time(mine)} ({mine / theirs[best]:.2f}x)", limit,
                     mine <= factor * theirs[best]))

    # issue 4: VGG16 and the relu LeNet-5 against the best peer
    versus("4", f"VGG16, batch 1, {_threads(top)}", "vgg16", top, 1, peers)
    if "vgg16" in a.models and 1 in a.threads and top > 1:
        versus("4", "VGG16, batch 1, 1 thread", "vgg16", 1, 1, [p for p in peers if p == "onnxruntime"])
        one, many = med(ours, "vgg16", 1, _lat(1)), med(ours, "vgg16", top, _lat(1))
        if one and many:
            rows.append(("4", f"VGG16, 1 -> {top} threads speed-up", f"{one / many:.2f}x", ">= 1.8x",
                         one / many >= 1.8))
    if "vgg16" in a.models:
        rss = med(ours, "vgg16", top, lambda r: r["maxrss_mb"])
        params = bench.gen.get("vgg16", {}).get("manifest", {}).get("params")
        if rss is not None and params:
            limit_mb = params * 4 / 2**20 + 128
            rows.append(("4", f"VGG16 peak RSS ({top} threads)", _fmt_mb(rss),
                         f"<= weights + 128 MB = {_fmt_mb(limit_mb)}", rss <= limit_mb))
        start = med(ours, "vgg16", top, lambda r: r["startup_s"])
        if start is not None:
            rows.append(("4", "VGG16, process start to first result", _fmt_s(start), "<= 0.50 s", start <= 0.5))
    for t in a.threads:
        versus("4", f"LeNet-5 (relu), batch 1, {_threads(t)}", "lenet5", t, 1, peers)
        versus("4", f"LeNet-5 (relu), batch {LENET_BATCH}, {_threads(t)}", "lenet5", t, LENET_BATCH,
               [p for p in peers if p == "litert"])
    imp = med(ours, a.models[0], None, lambda r: r["import_s"])
    if imp is not None:
        h5 = any(v for m in a.models for v in bench.values(ours, m, None, lambda r: r["h5py_imported"]))
        rows.append(("4", "`import pyconvinfer` (numpy already imported)", f"{imp * 1e3:.0f} ms"
                     + (", imported h5py" if h5 else ", h5py not imported"), "<= 150 ms, no h5py",
                     imp <= 0.15 and not h5))
    # issue 8: the mobile models against the fastest fp32 peer
    versus("8", f"MobileNetV2, batch 1, {_threads(top)}", "mobilenetv2", top, 1, fp32)
    versus("8", f"EfficientNetB0, batch 1, {_threads(top)}", "efficientnetb0", top, 1, fp32)
    # issue 9 (stated for an AVX2 machine): against the fastest fp32 peer
    versus("9", f"VGG16, batch 1, {_threads(top)}", "vgg16", top, 1, fp32, 0.8)
    if top > 1:
        versus("9", "VGG16, batch 1, 1 thread", "vgg16", 1, 1, fp32, 0.8)
    versus("9", "Classic LeNet-5, batch 1, 1 thread", "lenet5_classic", 1, 1, fp32)
    versus("9", f"Classic LeNet-5, batch {LENET_BATCH}, {_threads(top)}", "lenet5_classic", top, LENET_BATCH,
           fp32, 0.8)
    versus("9", f"MobileNetV2, batch 1, {_threads(top)}", "mobilenetv2", top, 1, fp32)
    if not rows:
        return []
    met = sum(ok for *_, ok in rows)
    out = [f"### Targets for {ours}, checked on this run's medians", "",
           f"{met} of {len(rows)} met. Issue 9's ratios are stated for an AVX2 machine: where the CPU has "
           "AVX-512 the peers use it, so the avx2 path's VGG16 ratio is reported there, not required.", "",
           "| issue | target | pyconvinfer | limit | met |", "|---|---|---|---|---|"]
    out += [f"| {issue} | {what} | {mine} | {limit} | {'yes' if ok else '**no**'} |"
            for issue, what, mine, limit, ok in rows]
    return out + [""]


SECTION_RE = re.compile(r'<!-- section key="([^"]*)" -->\n(.*?)<!-- end section -->\n', re.S)


def _isa_path(bench: Bench, entry: str | None) -> str:
    if entry is None:
        return "none"
    ran = sorted({v for m in bench.args.models for v in bench.values(entry, m, None, lambda r: r["info"]["isa"])})
    return "/".join(ran) if ran else "?"


def _isa_heading(bench: Bench, entry: str | None, cpu: str, run_line: str) -> list[str]:
    if entry is None:
        return [f"## Peers only (pyconvinfer not measured) on {cpu}", "", run_line, ""]
    path = _isa_path(bench, entry)
    how = f"forced with `--isa {entry[len('pyconvinfer['):-1]}`" if entry.startswith("pyconvinfer[") else \
        "the best path of this CPU: no --isa"
    return [f"## pyconvinfer on the {path} path, {cpu}", "",
            f"CPU: {cpu}. pyconvinfer's kernels: {path} ({how}; `Model.isa` as reported by every measuring "
            "process). The peers run their own kernels for this CPU and are the same processes in every "
            f"section of this run. {run_line}", ""]


def section_key(cpu: str, isa_path: str) -> str:
    return f"{cpu} | {isa_path}".replace('"', "'").replace("--", "- -")


FAILURES_HEADING = "## Failures (latest run)"


def kept_sections(old_report: str, new_keys: set[str]) -> list[str]:
    """What --merge keeps of an earlier report: its sections measured on another CPU or ISA path
    than this run's, then the hand-written notes between its last section and its Failures
    heading (other benchmarks' results, dated reruns), which no run regenerates."""
    kept = [m.group(0) for m in SECTION_RE.finditer(old_report) if m.group(1) not in new_keys]
    ends = [m.end() for m in SECTION_RE.finditer(old_report)]
    if ends:
        tail = old_report[ends[-1]:]
        notes = tail[:tail.find(FAILURES_HEADING)] if FAILURES_HEADING in tail else ""
        if notes.strip():
            kept.append(notes.strip("\n") + "\n\n")
    return kept


def report(bench: Bench, mach: dict[str, Any], vers: dict[str, str], git_state: str, started: str,
           elapsed: float, load_before: tuple, load_after: tuple, old_report: str | None = None) -> str:
    """The markdown report; with `old_report` (--merge), that report's sections for other (CPU, ISA path)
    pairs follow this run's."""
    a = bench.args
    ours_entries = [e for e in a.entries if e.startswith("pyconvinfer")]
    peers = [e for e in a.entries if not e.startswith("pyconvinfer")]
    peer_names = ", ".join(peers) if peers else "no peers"
    out = [f"# Benchmarks: pyconvinfer vs {peer_names}", "",
           "Generated by `tools/bench_peers.py` (see its docstring for the method). Latencies are medians: per "
           f"process, the median of >= {a.runs or 10} timed runs after warm-up; then the median over "
           f"{a.rounds} round(s), each runtime in a fresh process per (round, model, thread count), runtimes "
           "alternating. LeNet-5 batch 1 is one Python call per sample (`predict`, `sess.run`, "
           "`set_tensor`+`invoke`+`get_tensor`, OpenVINO `InferRequest.infer`, Keras `model.predict_on_batch`). "
           "Same seeded random weights everywhere; every runtime's output is checked against Keras (max abs "
           f"diff / max |y| <= {TOLERANCE:g}) before it is timed; OpenVINO runs with "
           "INFERENCE_PRECISION_HINT f32. Import time: `import <runtime>` in a fresh process with numpy already "
           "imported (Keras: `import keras`, which imports TensorFlow). Compare ratios measured in the same "
           "run, not absolute numbers across machines.", "",
           "One section per CPU and pyconvinfer ISA path, each with the peers measured in the same run "
           "(`--merge` keeps the sections of earlier runs on other CPUs or paths; Failures and Setup describe "
           "the latest run).", ""]
    loads = [r["other_load"] for r in bench.results if "other_load" in r]
    if loads and statistics.median(loads) > 0.3:
        out += [f"**Warning: other processes kept {statistics.median(loads):.1f} of {mach['cpus']} cores busy "
                "(median over the measuring processes): these figures describe a loaded machine, not the "
                "runtimes.**", ""]
    run_line = f"Run: {started}, git {git_state}, `{shlex.join(['tools/bench_peers.py', *sys.argv[1:]])}`."
    keys = set()
    for ours in ours_entries or [None]:
        rows = ([ours] if ours else []) + peers
        key = section_key(mach["cpu"], _isa_path(bench, ours))
        keys.add(key)
        out += [f'<!-- section key="{key}" -->']
        out += _isa_heading(bench, ours, mach["cpu"], run_line)
        for model in a.models:
            tbl, notes = table(bench, model, rows, ours)
            m = bench.gen[model]["manifest"]
            out += [f"### {MODELS[model]['title']}", "", tbl, "", *notes]
            slow = []
            for t in a.threads:
                for key in ("b1", f"b{LENET_BATCH}"):
                    vals = bench.values("keras", model, t, lambda r, k=key: r["predict_latency"][k]["median_s"])
                    if vals:
                        slow.append(f"batch {key[1:]}, {_threads(t)}: {fmt_time(statistics.median(vals))}")
            if slow:
                out += ["", "Keras rows time `model.predict_on_batch(x)`; `model.predict(x)` takes "
                        + "; ".join(slow) + " per call."]
            out += ["", f"Keras output on the check input: max probability {m['ref_max_prob']:.3f}, mean entropy "
                        f"{m['ref_entropy_nats']:.2f} nats (not degenerate).", ""]
            raw = raw_rounds(bench, model, rows)
            if raw:
                out += ["<details><summary>Per round</summary>", "", raw, "", "</details>", ""]
        if ours:
            out += targets(bench, ours, peers)
        out += ["<!-- end section -->", ""]
    if old_report:
        out += [sec.rstrip("\n") + "\n" for sec in kept_sections(old_report, keys)]
    out += [FAILURES_HEADING, ""]
    if bench.failures:
        out += [f"- {f['runtime']}, {f['model']}, threads {f['threads']}, {f['stage']}: {f['reason']}"
                for f in bench.failures]
    else:
        out += ["None: every runtime ran every model and agreed with Keras."]
    out += ["", *_setup(bench, mach, vers, git_state, started, elapsed, load_before, load_after)]
    return "\n".join(out) + "\n"



def _setup(bench: Bench, mach: dict[str, Any], vers: dict[str, str], git_state: str, started: str,
           elapsed: float, load_before: tuple, load_after: tuple) -> list[str]:
    a = bench.args
    pci = next((bench.info[e] for e in a.entries if e.startswith("pyconvinfer") and e in bench.info), {})
    peer_lines = []
    for rt in a.entries:
        if rt.startswith("pyconvinfer"):
            continue
        inf = bench.info.get(rt, {})
        extra = {k: v for k, v in inf.items() if k in ("providers", "interpreter", "tensorflow", "backend",
                                                         "compiled_precision", "compiled_threads")}
        peer_lines.append(f"- {rt}: {inf.get('version', '?')} {json.dumps(extra) if extra else ''}".rstrip())
    model_lines = []
    for model in a.models:
        m = bench.gen[model]["manifest"]
        via = "; ".join(f"{k[:-4]}: {m[k]}" for k in ("onnx_via", "tflite_via") if k in m)
        model_lines.append(f"- {model}: {m['params']:,} parameters, input {m['input_shape']}, Keras {m['keras']}"
                           + (" (the package's bundled model)" if m.get("bundled") else "")
                           + (f"; {via}" if via else ""))
    loads = [r["other_load"] for r in bench.results if "other_load" in r]
    load_txt = (f"median {statistics.median(loads):.2f}, max {max(loads):.2f} cores (of {mach['cpus']}) over the "
                f"{len(loads)} measuring processes" if loads else "not measured")
    return ["## Setup (latest run)", "",
            f"- Date: {started} (took {elapsed / 60:.1f} min); load average before {load_before}, "
            f"after {load_after}",
            f"- Command: `{shlex.join([sys.executable, *sys.argv])}` (cwd `{os.getcwd()}`)",
            f"- CPU: {mach['cpu']}; {mach['cpus']} usable core(s) ({mach['cpu_count']} online); SIMD: "
            f"{' '.join(mach['simd']) or 'none found'}; RAM "
            + (f"{mach['mem_gb']:.1f} GiB" if mach["mem_gb"] else "?"),
            f"- Threads measured: {', '.join(str(t) for t in a.threads)}; OpenMP / thread-pool environment "
            "(children also get OMP_NUM_THREADS=T): "
            + (", ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                         if k.startswith(("OMP_", "GOMP_", "KMP_", "OPENBLAS_"))) or "none"),
            f"- CPU used by other processes while a runtime was measured (from /proc/stat): {load_txt}",
            f"- {mach['platform']}; Python {mach['python']}; numpy {vers.get('numpy', '?')}; {mach['gcc']}",
            f"- pyconvinfer {pci.get('version', vers.get('pyconvinfer', '?'))} from `{pci.get('file', '?')}`, "
            f"extension built {pci.get('built', '?')} (repository at git {git_state} when the report was "
            f"written); build_info: `{json.dumps(pci.get('build_info', {}))}`",
            "- Peer packages: " + ("; ".join(f"{k} {v}" for k, v in vers.items()
                                            if k not in ("numpy", "pyconvinfer", "h5py", "psutil")) or "none"),
            *peer_lines,
            "- Models:", *[f"  {line}" for line in model_lines],
            f"- Model files (cached): `{bench.workdir}`"]
