"""Benchmark pyconvinfer against its peers: ONNX Runtime (CPU), LiteRT / TF Lite (XNNPACK), OpenVINO (CPU,
float32) and Keras 3.

    python -m pip install ".[bench]"        # onnx, onnxruntime, ai-edge-litert, openvino, tf2onnx, psutil, TF
    python tools/bench_peers.py             # full run (tens of minutes): writes docs/BENCHMARKS.md
    python tools/bench_peers.py --quick     # CI smoke test: LeNet-5 only, 1 round, no Keras runtime (< 60 s)
    python tools/bench_peers.py --models lenet5_classic --runtimes pyconvinfer,openvino --rounds 5 --out /tmp/b.md
    python tools/bench_peers.py --isa avx512,avx2   # pyconvinfer on each ISA path, the peers once, one run
    python tools/bench_peers.py --merge             # keep docs/BENCHMARKS.md's sections of other CPUs / paths

Models (tools/bench_models.py builds them, with the same seeded random weights for every runtime): VGG16
(224x224x3), LeNet-5 with relu (the bundled demo's topology) and the classic LeNet-5 (tanh + average pooling),
both 32x32x1, MobileNetV2 and EfficientNetB0 (224x224x3, keras.applications with weights=None, batch
normalization randomised). Keras writes the legacy .h5 file that pyconvinfer converts; LiteRT gets
tf.lite.TFLiteConverter (float32); ONNX Runtime and OpenVINO read the same ONNX file (onnx.helper for the
Sequential models, tf2onnx for MobileNetV2 and EfficientNetB0). The model files are generated once per
--workdir and reused (the .pci file is re-converted on every invocation: the pyconvinfer build may change).

Each measurement runs in a fresh interpreter (subprocess, never fork: OpenMP runtimes do not survive it):
tools/bench_child.py, which imports only json and typing before numpy and the runtime, so that start-up
measures the runtime and not this harness. One process per (round, model, thread count, runtime), the runtimes
alternating within a round and their order rotating between rounds. A process first checks that its output
agrees with Keras (max |y - y_keras| / max |y_keras| <= 1e-4: a runtime that does not agree is not timed),
then takes the median of >= 10 timed runs after warm-up; the table gives the median over rounds. Before the
rounds, each runtime runs each model once (not counted) to warm the file cache and to fail fast. LeNet-5 batch
1 is timed as users run it: one predict / run / invoke call from Python per sample (Keras: predict_on_batch,
its fastest documented call for one batch; model.predict, which adds ~0.1 s of per-call overhead, is reported
beside the table).

ISA: pyconvinfer runs the best path of this CPU unless --isa names paths (each must exist on this CPU: asking
for one it lacks stops the run); with several, pyconvinfer is measured once per path in the same rounds and
the report has one section per path, each with the peers of the same run. The report names the CPU (lscpu's
model name, family and model) and the path that each pyconvinfer process reported running (Model.isa).

Metrics: latency at batch 1 with 1 and N threads (N = the cores this process may use), LeNet-5 batch 64
latency, peak RSS of the 224x224 models' processes (ru_maxrss, after its runs), the time from process start
(the parent, just before it starts the child) to the first result, and the import time of the runtime's module
(numpy already imported). Threads: pyconvinfer load(num_threads=T); ONNX Runtime intra_op_num_threads=T,
inter_op_num_threads=1; LiteRT num_threads=T; OpenVINO INFERENCE_NUM_THREADS=T, one stream, latency hint;
Keras/TF intra-op threads T, inter-op 1, OMP_NUM_THREADS=T.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

TOOLS = Path(__file__).resolve().parent
if str(TOOLS) not in sys.path:  # bench_models.py sits beside this file
    sys.path.insert(0, str(TOOLS))

import bench_report  # noqa: E402
from bench_child import TOLERANCE  # noqa: E402
from bench_models import MODELS, have  # noqa: E402

REPO = TOOLS.parent
RUNTIMES = ("pyconvinfer", "onnxruntime", "litert", "openvino", "keras")
ISAS = ("auto", "avx512", "avx2", "neon", "generic")
DIST_NAMES = {"numpy": "numpy", "onnxruntime": "onnxruntime", "onnx": "onnx", "ai-edge-litert": "ai-edge-litert",
              "openvino": "openvino", "tf2onnx": "tf2onnx", "tensorflow": "tensorflow",
              "tensorflow-cpu": "tensorflow-cpu", "keras": "keras", "tf-keras": "tf-keras", "h5py": "h5py",
              "psutil": "psutil", "pyconvinfer": "pyconvinfer"}


# ----------------------------------------------------------------------------------------------------------------
# Parent: orchestration
# ----------------------------------------------------------------------------------------------------------------

def _child_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["KERAS_BACKEND"] = "tensorflow"
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    env.pop("TF_USE_LEGACY_KERAS", None)  # Keras 3
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def _cpu_busy_s() -> float | None:
    """Busy CPU seconds of the whole machine so far (every process, summed over cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _spawn(flag: str, spec: dict[str, Any], log: Path, timeout: float,
           threads: int | None = None) -> tuple[dict[str, Any] | None, float, str]:
    """Run a fresh interpreter: a measurement (flag "--_child": bench_child.py, which imports next to nothing
    before the runtime) or a model generation ("--_generate": bench_models.py); return (result, parent
    start time, error).
    The result gets `other_load`: the cores that other processes kept busy meanwhile (a noise indicator)."""
    result_path = log.with_suffix(".json")
    if result_path.exists():
        result_path.unlink()
    spec = {**spec, "result": str(result_path)}
    if flag == "--_child":
        cmd = [sys.executable, str(TOOLS / "bench_child.py"), json.dumps(spec)]
    else:
        cmd = [sys.executable, str(TOOLS / "bench_models.py"), flag, json.dumps(spec)]
    busy0, mine0 = _cpu_busy_s(), _children_cpu_s() + time.process_time()
    with open(log, "w") as err:
        t_start = time.time()
        try:
            proc = subprocess.run(cmd, stdout=err, stderr=subprocess.STDOUT, env=_child_env(threads),
                                  timeout=timeout, cwd=str(log.parent))
            code: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            code = f"timeout after {timeout:.0f} s"
        wall = time.time() - t_start
    busy1, mine1 = _cpu_busy_s(), _children_cpu_s() + time.process_time()
    if code == 0 and result_path.exists():
        res = json.loads(result_path.read_text())
        if busy0 is not None and busy1 is not None and wall > 0:
            res["other_load"] = max(0.0, ((busy1 - busy0) - (mine1 - mine0)) / wall)
        return res, t_start, ""
    tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    reason = next((ln for ln in reversed(tail) if "Error" in ln or "error" in ln), tail[-1] if tail else "")
    return None, t_start, f"exit {code}: {reason.strip()[:300]} (log: {log})"


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for key, dist in DIST_NAMES.items():
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _machine() -> dict[str, Any]:
    model_name = platform.processor() or "?"
    details: list[str] = []
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model_name = line.split(":", 1)[1].strip()
            elif line.startswith(("CPU family:", "Model:", "Stepping:", "Hypervisor vendor:")):
                key, val = (v.strip() for v in line.split(":", 1))
                details.append(f"{key.lower()} {val}")
    except (OSError, subprocess.CalledProcessError):
        pass
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 2**20
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gcc = ""
    try:
        gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        pass
    if details:
        model_name += f" ({', '.join(details)})"
    simd = [f for f in ("sse4_2", "avx", "avx2", "fma", "f16c") if f in flags]
    simd += sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("asimd", "sve", "sve2"))
    return {"cpu": model_name, "cpus": cpus, "cpu_count": os.cpu_count(), "simd": simd, "mem_gb": mem_gb,
            "python": platform.python_version(), "platform": platform.platform(), "gcc": gcc}


def _git_state() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def label(isa: str) -> str:
    """The name of pyconvinfer on one ISA path in the results and tables."""
    return "pyconvinfer" if isa == "auto" else f"pyconvinfer[{isa}]"


def runtime_of(name: str) -> str:
    return "pyconvinfer" if name.startswith("pyconvinfer") else name


def isa_of(name: str) -> str | None:
    """The forced ISA of a pyconvinfer entry (None: the CPU's best, or not pyconvinfer)."""
    return name[len("pyconvinfer["):-1] if name.startswith("pyconvinfer[") else None


def _check_isas(isas: list[str]) -> str | None:
    """An error message if this CPU and pyconvinfer build lack a forced ISA (None when all exist, or when
    pyconvinfer cannot be imported here: the child then says why)."""
    forced = [i for i in isas if i != "auto"]
    if not forced:
        return None
    try:
        from pyconvinfer.kernels import available_isas
    except ImportError:
        return None
    have_isas = available_isas()
    missing = [i for i in forced if i not in have_isas]
    if missing:
        return (f"--isa {','.join(missing)}: not available on this CPU and pyconvinfer build "
                f"(available: {', '.join(have_isas)})")
    return None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(args.workdir).expanduser().resolve()
        self.logdir = self.workdir / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, dict[str, str]] = {}
        self.gen: dict[str, dict[str, Any]] = {}
        self.results: list[dict[str, Any]] = []  # one per measuring process
        self.failures: list[dict[str, Any]] = []
        self.skip: set[tuple[str, str]] = set()  # (runtime, model) that failed the warm-up run
        self.info: dict[str, dict[str, Any]] = {}

    def log(self, msg: str) -> None:
        print(msg, flush=True)

    def generate(self) -> None:
        for model in self.args.models:
            t0 = time.perf_counter()
            # pyconvinfer alone without TensorFlow (the CI smoke): the bundled Keras LeNet-5
            bundled = self.args.runtimes == ["pyconvinfer"] and model == "lenet5" and not have("tensorflow")
            res, _, err = _spawn("--_generate", {"model": model, "workdir": str(self.workdir),
                                                 "convert_pci": "pyconvinfer" in self.args.runtimes,
                                                 "bundled": bundled},
                                 self.logdir / f"generate_{model}.log", self.args.timeout)
            if res is None:
                raise SystemExit(f"generating {model} failed: {err}")
            self.gen[model] = res
            self.files[model] = res["files"]
            m = res["manifest"]
            self.log(f"[gen] {model}: {'generated' if res['generated'] else 'cached'} in {self.workdir / model} "
                     f"({m['params']:,} params, Keras max prob {m['ref_max_prob']:.3f}, "
                     f"entropy {m['ref_entropy_nats']:.2f} nats); {time.perf_counter() - t0:.1f} s")
            if "pci_error" in res:
                for entry in self.args.entries:
                    if runtime_of(entry) == "pyconvinfer":
                        self.fail(entry, model, None, "convert", res["pci_error"])
                        self.skip.add((entry, model))
            elif "pci_convert_s" in res:
                self.log(f"[gen] {model}: pyconvinfer.convert {res['pci_convert_s']:.2f} s")
            for kind, users in (("onnx", ("onnxruntime", "openvino")), ("tflite", ("litert",))):
                if f"{kind}_error" in m:
                    for entry in self.args.entries:
                        if entry in users:
                            self.fail(entry, model, None, f"writing the {kind} file", m[f"{kind}_error"])
                            self.skip.add((entry, model))

    def fail(self, runtime: str, model: str, threads: int | None, stage: str, reason: str) -> None:
        self.failures.append({"runtime": runtime, "model": model, "threads": threads, "stage": stage,
                              "reason": reason})
        self.log(f"  FAILED {runtime} {model} threads={threads} ({stage}): {reason}")

    def wait_idle(self) -> None:
        """Wait (up to --wait-idle seconds) until other processes use less than 0.3 cores."""
        deadline = time.time() + self.args.wait_idle
        while True:
            b0, t0 = _cpu_busy_s(), time.time()
            time.sleep(0.5)
            b1 = _cpu_busy_s()
            if b0 is None or b1 is None or (b1 - b0) / (time.time() - t0) < 0.3 or time.time() >= deadline:
                return

    def run_one(self, runtime: str, model: str, threads: int, mode: str, tag: str) -> dict[str, Any] | None:
        a = self.args
        if a.wait_idle > 0:
            self.wait_idle()
        # LeNet-5 (tens of us per call): blocks of calls, a warm-up; VGG16: one call per run; the mobile
        # models (~10 ms): one call per run after a warm-up
        small, vgg = MODELS[model]["small"], model == "vgg16"
        spec = {"runtime": runtime_of(runtime), "isa": isa_of(runtime), "model": model, "threads": threads,
                "mode": mode, "files": self.files[model], "runs": a.runs or (10 if vgg else 20),
                "block_s": (0.02 if a.quick else 0.05) if small else 0.0,
                "warmup_s": 0.0 if vgg else (0.1 if a.quick else 0.3)}
        tag_rt = runtime.replace("[", "_").replace("]", "")
        res, t_start, err = _spawn("--_child", spec, self.logdir / f"{tag}_{model}_{tag_rt}_t{threads}.log",
                                   a.timeout, threads)
        if res is None:
            self.fail(runtime, model, threads, tag, err)
            return None
        res["runtime"] = runtime  # the entry (pyconvinfer[isa]), not only the runtime
        res["startup_s"] = res["t_first_result"] - t_start
        res["interpreter_start_s"] = res["t_enter"] - t_start
        self.info.setdefault(runtime, res["info"])
        worst = max(res["rel_err"].values())
        line = (f"  {tag:>7} {model:<14} {runtime:<19} t={threads}: err {worst:.1e}, "
                f"first result {res['startup_s']:.2f} s, import {res['import_s'] * 1e3:.0f} ms, "
                f"RSS {res['maxrss_mb']:.0f} MB")
        for key, lat in res.get("latency", {}).items():
            line += f", {key} {bench_report.fmt_time(lat['median_s'])}"
        if "other_load" in res:
            line += f"; other load {res['other_load']:.1f} cores"
        self.log(line)
        if not res["ok"]:
            self.fail(runtime, model, threads, tag, f"output differs from Keras: max rel err {worst:.2e} > "
                                                    f"{TOLERANCE:g} ({res['rel_err']}); not timed")
            return None
        return res

    def run(self) -> None:
        a = self.args
        top = max(a.threads)
        self.log("[warm-up] one run per runtime and model (file cache; not counted)")
        for model in a.models:
            for runtime in a.entries:
                if (runtime, model) in self.skip:
                    continue
                if self.run_one(runtime, model, top, "check", "warmup") is None:
                    self.skip.add((runtime, model))
                    reason = self.failures[-1]["reason"] if self.failures else ""
                    if isa_of(runtime) and "is not available on this CPU" in reason:  # asked for, cannot run
                        raise SystemExit(f"--isa {isa_of(runtime)}: {reason}")
        for r in range(a.rounds):
            self.log(f"[round {r + 1}/{a.rounds}]")
            order = list(a.entries[r % len(a.entries):]) + list(a.entries[:r % len(a.entries)])
            for model in a.models:
                for threads in a.threads:
                    for runtime in order:
                        if (runtime, model) in self.skip:
                            continue
                        res = self.run_one(runtime, model, threads, "measure", f"round{r + 1}")
                        if res is not None:
                            res["round"] = r + 1
                            self.results.append(res)

    # -- aggregation ------------------------------------------------------------------------------------------

    def values(self, runtime: str, model: str, threads: int | None, key: Callable[[dict[str, Any]], Any]) -> list:
        out = []
        for res in self.results:
            if res["runtime"] == runtime and res["model"] == model and (threads is None or res["threads"] == threads):
                try:
                    v = key(res)
                except KeyError:
                    continue
                if v is not None:
                    out.append(v)
        return out

    def failed(self, runtime: str, model: str) -> bool:
        return any(f["runtime"] == runtime and f["model"] == model for f in self.failures)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="CI smoke test: LeNet-5 only, 1 round, few repeats, no Keras runtime (< 60 s)")
    p.add_argument("--models", default=None, help=f"comma-separated subset of {','.join(MODELS)}")
    p.add_argument("--runtimes", default=None, help=f"comma-separated subset of {','.join(RUNTIMES)}")
    p.add_argument("--isa", default="auto",
                   help=f"pyconvinfer's kernel paths, comma-separated from {','.join(ISAS)}; 'auto' (default) is "
                        "the CPU's best; each forced one must exist on this CPU; several: one report section each")
    p.add_argument("--rounds", type=int, default=None, help="rounds over every runtime (default 3; --quick: 1)")
    p.add_argument("--threads", default=None,
                   help="comma-separated thread counts (default: 1 and every usable core)")
    p.add_argument("--runs", type=int, default=None,
                   help="timed runs per metric and process (default: VGG16 10, LeNet-5 20; --quick: 10)")
    p.add_argument("--out", default=None,
                   help="markdown report to write (default docs/BENCHMARKS.md; --quick: none); '-' for none")
    p.add_argument("--merge", action="store_true",
                   help="keep the --out file's sections for other CPUs / ISA paths (one table per ISA measured)")
    p.add_argument("--workdir", default=str(Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
                                            / "pyconvinfer" / "bench"),
                   help="where the model files are generated once and reused (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=1200.0, help="seconds per child process")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each process, wait up to this long for other processes to use < 0.3 cores")
    a = p.parse_args(argv)
    a.models = a.models.split(",") if a.models else (["lenet5"] if a.quick else list(MODELS))
    default_rt = [r for r in RUNTIMES if r != "keras"] if a.quick else list(RUNTIMES)
    a.runtimes = a.runtimes.split(",") if a.runtimes else default_rt
    for m in a.models:
        if m not in MODELS:
            p.error(f"unknown model {m!r}: choose from {', '.join(MODELS)}")
    for r in a.runtimes:
        if r not in RUNTIMES:
            p.error(f"unknown runtime {r!r}: choose from {', '.join(RUNTIMES)}")
    a.isas = list(dict.fromkeys(a.isa.split(",")))
    for i in a.isas:
        if i not in ISAS:
            p.error(f"unknown --isa {i!r}: choose from {', '.join(ISAS)}")
    if "pyconvinfer" in a.runtimes and (err := _check_isas(a.isas)):
        p.error(err)
    # the measured entries: pyconvinfer once per ISA path (where "pyconvinfer" stood), then the peers
    a.entries = [e for r in a.runtimes for e in ([label(i) for i in a.isas] if r == "pyconvinfer" else [r])]
    a.rounds = a.rounds if a.rounds is not None else (1 if a.quick else 3)
    if a.rounds < 1:
        p.error("--rounds must be >= 1")
    if a.runs is None and a.quick:
        a.runs = 10
    if a.runs is not None and a.runs < 1:
        p.error("--runs must be >= 1")
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    a.threads = sorted({int(t) for t in a.threads.split(",")}) if a.threads else sorted({1, ncpu})
    if a.out is None and not a.quick:
        a.out = str(REPO / "docs" / "BENCHMARKS.md")
    if a.out == "-":
        a.out = None
    return a


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()
    load_before = tuple(round(v, 2) for v in os.getloadavg())
    bench = Bench(args)
    bench.log(f"pyconvinfer peer benchmark: models {args.models}, runtimes {args.entries}, threads {args.threads}, "
              f"{args.rounds} round(s); workdir {bench.workdir}")
    bench.generate()
    bench.run()
    load_after = tuple(round(v, 2) for v in os.getloadavg())
    old = None
    if args.merge and args.out and Path(args.out).exists():
        old = Path(args.out).read_text()
    report = bench_report.report(bench, _machine(), _versions(), _git_state(), started, time.perf_counter() - t0,
                                 load_before, load_after, old)
    (bench.workdir / "results.json").write_text(json.dumps({"results": bench.results, "failures": bench.failures,
                                                            "generate": bench.gen}, indent=1, default=str))
    print()
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
