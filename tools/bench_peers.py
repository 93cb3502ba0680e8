"""Benchmark pyconvinfer against its peers: ONNX Runtime (CPU), LiteRT / TF Lite (XNNPACK) and Keras 3.

    python -m pip install ".[bench]"        # onnx, onnxruntime, ai-edge-litert, psutil, tensorflow-cpu, tf-keras
    python tools/bench_peers.py             # full run (several minutes): writes docs/BENCHMARKS.md
    python tools/bench_peers.py --quick     # CI smoke test: LeNet-5 only, 1 round, no Keras runtime (< 60 s)
    python tools/bench_peers.py --models lenet5 --runtimes pyconvinfer,onnxruntime --rounds 5 --out /tmp/b.md

Every runtime runs the same model with the same seeded random weights (He-scaled, so the outputs are not
degenerate): VGG16 (224x224x3, keras.applications.VGG16(weights=None)) and LeNet-5 (32x32x1). Keras writes
the legacy .h5 file that pyconvinfer converts; LiteRT gets tf.lite.TFLiteConverter.from_keras_model (float32);
ONNX Runtime gets a graph written with onnx.helper from the Keras weights (NHWC->NCHW Transpose, Conv, Relu,
MaxPool / AveragePool, Transpose back before Flatten, Gemm, Softmax). The model files are generated once per
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

Metrics: latency at batch 1 with 1 and N threads (N = the cores this process may use), LeNet-5 batch 64
latency, peak RSS of the VGG16 process (ru_maxrss, after its runs), the time from process start (the parent,
just before it starts the child) to the first VGG16 result, and the import time of the runtime's module
(numpy already imported). Threads: pyconvinfer load(num_threads=T); ONNX Runtime intra_op_num_threads=T,
inter_op_num_threads=1; LiteRT num_threads=T; Keras/TF intra-op threads T, inter-op 1, OMP_NUM_THREADS=T.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
RUNTIMES = ("pyconvinfer", "onnxruntime", "litert", "keras")
MODELS = ("vgg16", "lenet5")
GEN_VERSION = 1  # bump when the generated models / inputs change
SEED = 20240601
TOLERANCE = 1e-4  # the same bound as bench_child.TOLERANCE, which decides
LENET_BATCH = 64
DIST_NAMES = {"numpy": "numpy", "onnxruntime": "onnxruntime", "onnx": "onnx", "ai-edge-litert": "ai-edge-litert",
              "tensorflow": "tensorflow", "tensorflow-cpu": "tensorflow-cpu", "keras": "keras", "tf-keras": "tf-keras",
              "h5py": "h5py", "psutil": "psutil", "pyconvinfer": "pyconvinfer"}


# ----------------------------------------------------------------------------------------------------------------
# Model generation (runs in its own process: imports TensorFlow only when the cached files are missing)
# ----------------------------------------------------------------------------------------------------------------

def _model_dir(workdir: Path, model: str) -> Path:
    return workdir / model


def _files(workdir: Path, model: str) -> dict[str, str]:
    d = _model_dir(workdir, model)
    return {"h5": str(d / f"{model}.h5"), "pci": str(d / f"{model}.pci"), "onnx": str(d / f"{model}.onnx"),
            "tflite": str(d / f"{model}.tflite"), "x": str(d / "x.npy"), "ref": str(d / "ref.npy"),
            "manifest": str(d / "manifest.json")}


def _build_keras_model(name: str) -> Any:
    import keras

    if name == "vgg16":
        return keras.applications.VGG16(weights=None)
    if name == "lenet5":
        layers = keras.layers
        return keras.Sequential([
            keras.Input((32, 32, 1)),
            layers.Conv2D(6, 5, activation="relu"),
            layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation="relu"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="relu"),
            layers.Dense(84, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ], name="lenet5")
    raise ValueError(f"unknown model {name!r}")


def _set_random_weights(model: Any, seed: int) -> None:
    """Seeded He-scaled weights (gain 1 before a softmax) and small random biases."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kernel, bias = weights
        fan_in = int(np.prod(kernel.shape[:-1]))
        activation = layer.get_config().get("activation")
        gain = 2.0 if activation == "relu" else 1.0
        kernel = (rng.standard_normal(kernel.shape, dtype=np.float32) * np.float32(np.sqrt(gain / fan_in)))
        bias = rng.uniform(-0.1, 0.1, bias.shape).astype(np.float32)
        layer.set_weights([kernel, bias])


def _write_onnx(model: Any, path: str) -> None:
    """The Keras model as an ONNX graph (NCHW inside, NHWC input), written directly with onnx.helper."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    h, w, c = model.input_shape[1:]
    graph_in = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", h, w, c])
    nodes.append(helper.make_node("Transpose", ["input"], ["input_nchw"], perm=[0, 3, 1, 2]))
    cur = "input_nchw"
    n_out = None

    def activation(name: str, act: str, x: str) -> str:
        if act == "linear":
            return x
        if act == "relu":
            nodes.append(helper.make_node("Relu", [x], [f"{name}_relu"]))
            return f"{name}_relu"
        if act == "softmax":
            nodes.append(helper.make_node("Softmax", [x], [f"{name}_softmax"], axis=-1))
            return f"{name}_softmax"
        raise ValueError(f"activation {act!r} not handled")

    for layer in model.layers:
        kind = type(layer).__name__
        cfg = layer.get_config()
        name = layer.name
        if kind == "InputLayer":
            continue
        if kind == "Conv2D":
            kernel, bias = layer.get_weights()
            kh, kw = kernel.shape[:2]
            strides = list(cfg["strides"])
            dil = list(cfg["dilation_rate"])
            if cfg["padding"] == "valid":
                pads = [0, 0, 0, 0]
            elif cfg["padding"] == "same" and strides == [1, 1]:
                th, tw = dil[0] * (kh - 1), dil[1] * (kw - 1)
                pads = [th // 2, tw // 2, th - th // 2, tw - tw // 2]
            else:
                raise ValueError(f"{name}: padding {cfg['padding']!r} with strides {strides} not handled")
            inits += [numpy_helper.from_array(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), f"{name}_W"),
                      numpy_helper.from_array(bias, f"{name}_B")]
            nodes.append(helper.make_node("Conv", [cur, f"{name}_W", f"{name}_B"], [f"{name}_conv"],
                                          kernel_shape=[kh, kw], strides=strides, dilations=dil, pads=pads))
            cur = activation(name, cfg["activation"], f"{name}_conv")
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            if cfg["padding"] != "valid":
                raise ValueError(f"{name}: pooling padding {cfg['padding']!r} not handled")
            op = "MaxPool" if kind == "MaxPooling2D" else "AveragePool"
            nodes.append(helper.make_node(op, [cur], [f"{name}_out"], kernel_shape=list(cfg["pool_size"]),
                                          strides=list(cfg["strides"] or cfg["pool_size"])))
            cur = f"{name}_out"
        elif kind == "Flatten":  # back to NHWC first: Keras flattens in (H, W, C) order
            nodes.append(helper.make_node("Transpose", [cur], [f"{name}_nhwc"], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Flatten", [f"{name}_nhwc"], [f"{name}_out"], axis=1))
            cur = f"{name}_out"
        elif kind == "Dense":
            kernel, bias = layer.get_weights()
            inits += [numpy_helper.from_array(kernel, f"{name}_W"), numpy_helper.from_array(bias, f"{name}_B")]
            nodes.append(helper.make_node("Gemm", [cur, f"{name}_W", f"{name}_B"], [f"{name}_gemm"]))
            cur = activation(name, cfg["activation"], f"{name}_gemm")
            n_out = kernel.shape[1]
        else:
            raise ValueError(f"layer {name} ({kind}) not handled by the ONNX writer")
    nodes.append(helper.make_node("Identity", [cur], ["output"]))
    graph_out = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", n_out])
    graph = helper.make_graph(nodes, model.name, [graph_in], [graph_out], initializer=inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                   producer_name="pyconvinfer tools/bench_peers.py")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, path)


def _write_tflite(model: Any, path: str) -> None:
    import tensorflow as tf

    try:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        data = converter.convert()
    except Exception as first:  # Keras 3 fallback: through a SavedModel export
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            try:
                model.export(tmp)
                data = tf.lite.TFLiteConverter.from_saved_model(tmp).convert()
            except Exception as second:
                raise RuntimeError(f"TFLite conversion failed: {first!r}; via SavedModel: {second!r}") from second
    Path(path).write_bytes(data)


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _bundled_lenet5(files: dict[str, str]) -> dict[str, Any]:
    """Without TensorFlow (CI smoke of pyconvinfer alone): the package's bundled LeNet-5, written by Keras
    with the same topology, its first 64 held-out digits and Keras's stored outputs for them."""
    import shutil

    import numpy as np

    import pyconvinfer

    data = Path(pyconvinfer.__file__).parent / "data"
    os.makedirs(Path(files["h5"]).parent, exist_ok=True)
    shutil.copy(data / "lenet5_digits.h5", files["h5"])
    x = np.load(data / "digits_test_x.npy")[:LENET_BATCH]
    ref = np.load(data / "digits_test_keras_probs.npy")[:LENET_BATCH]
    np.save(files["x"], x)
    np.save(files["ref"], ref)
    meta = json.loads((data / "lenet5_digits.json").read_text())
    return {"key": "bundled", "keras": meta["keras_version"], "tensorflow": meta["tensorflow_version"],
            "params": 61706, "input_shape": list(x.shape), "ref_max_prob": float(ref.max()),
            "ref_min_max_prob": float(ref.max(axis=1).min()),
            "ref_entropy_nats": float(-(ref * np.log(np.maximum(ref, 1e-30))).sum(axis=1).mean()),
            "seconds": 0.0, "bundled": True}


def generate_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Make (or reuse) one model's files; convert the .pci file when pyconvinfer is benchmarked."""
    import numpy as np

    workdir, name = Path(spec["workdir"]), spec["model"]
    files = _files(workdir, name)
    key = {"gen_version": GEN_VERSION, "seed": SEED, "model": name}
    out: dict[str, Any] = {"model": name, "files": files}
    manifest = None
    try:
        manifest = json.loads(Path(files["manifest"]).read_text())
    except (OSError, ValueError):
        pass
    needed = [files[k] for k in ("h5", "onnx", "tflite", "x", "ref")]
    if name == "lenet5" and spec.get("bundled"):
        manifest = _bundled_lenet5(files)
        out["generated"] = True
    elif manifest is None or manifest.get("key") != key or not all(os.path.exists(f) for f in needed):
        t0 = time.perf_counter()
        os.makedirs(_model_dir(workdir, name), exist_ok=True)
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(SEED)
        model = _build_keras_model(name)
        _set_random_weights(model, SEED + 1)
        rng = np.random.default_rng(SEED + 2)
        batch = 1 if name == "vgg16" else LENET_BATCH
        x = rng.standard_normal((batch,) + tuple(model.input_shape[1:]), dtype=np.float32)
        ref = np.asarray(model.predict(x, batch_size=batch, verbose=0), dtype=np.float32)
        model.save(files["h5"])  # legacy HDF5 (the .h5 suffix selects it)
        _write_onnx(model, files["onnx"])
        _write_tflite(model, files["tflite"])
        np.save(files["x"], x)
        np.save(files["ref"], ref)
        manifest = {"key": key, "keras": keras.__version__, "tensorflow": tf.__version__,
                    "params": int(model.count_params()), "input_shape": list(x.shape),
                    "ref_max_prob": float(ref.max()), "ref_min_max_prob": float(ref.max(axis=1).min()),
                    "ref_entropy_nats": float(-(ref * np.log(np.maximum(ref, 1e-30))).sum(axis=1).mean()),
                    "seconds": time.perf_counter() - t0}
        Path(files["manifest"]).write_text(json.dumps(manifest, indent=1))
        out["generated"] = True
    else:
        out["generated"] = False
    out["manifest"] = manifest
    if spec.get("convert_pci"):
        try:
            import pyconvinfer

            t0 = time.perf_counter()
            pyconvinfer.convert(files["h5"], files["pci"])
            out["pci_convert_s"] = time.perf_counter() - t0
        except Exception as e:  # reported, the other runtimes still run
            out["pci_error"] = f"{type(e).__name__}: {e}"
    return out


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
    before the runtime) or a model generation ("--_generate": this file); return (result, parent start
    time, error).
    The result gets `other_load`: the cores that other processes kept busy meanwhile (a noise indicator)."""
    result_path = log.with_suffix(".json")
    if result_path.exists():
        result_path.unlink()
    spec = {**spec, "result": str(result_path)}
    here = Path(__file__).resolve()
    if flag == "--_child":
        cmd = [sys.executable, str(here.with_name("bench_child.py")), json.dumps(spec)]
    else:
        cmd = [sys.executable, str(here), flag, json.dumps(spec)]
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
    return {"cpu": model_name, "cpus": cpus, "cpu_count": os.cpu_count(), "avx512": "avx512f" in flags,
            "avx512_flags": sorted(f for f in flags if f.startswith("avx512")), "mem_gb": mem_gb,
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
            bundled = self.args.runtimes == ["pyconvinfer"] and model == "lenet5" and not _have("tensorflow")
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
                self.fail("pyconvinfer", model, None, "convert", res["pci_error"])
                self.skip.add(("pyconvinfer", model))
            elif "pci_convert_s" in res:
                self.log(f"[gen] {model}: pyconvinfer.convert {res['pci_convert_s']:.2f} s")

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
        lenet = model == "lenet5"
        spec = {"runtime": runtime, "model": model, "threads": threads, "mode": mode, "files": self.files[model],
                "runs": a.runs or (20 if lenet else 10), "block_s": (0.02 if a.quick else 0.05) if lenet else 0.0,
                "warmup_s": (0.1 if a.quick else 0.3) if lenet else 0.0}
        res, t_start, err = _spawn("--_child", spec, self.logdir / f"{tag}_{model}_{runtime}_t{threads}.log",
                                   a.timeout, threads)
        if res is None:
            self.fail(runtime, model, threads, tag, err)
            return None
        res["startup_s"] = res["t_first_result"] - t_start
        res["interpreter_start_s"] = res["t_enter"] - t_start
        self.info.setdefault(runtime, res["info"])
        worst = max(res["rel_err"].values())
        line = (f"  {tag:>7} {model:<7} {runtime:<12} t={threads}: err {worst:.1e}, "
                f"first result {res['startup_s']:.2f} s, import {res['import_s'] * 1e3:.0f} ms, "
                f"RSS {res['maxrss_mb']:.0f} MB")
        for key, lat in res.get("latency", {}).items():
            line += f", {key} {_fmt_time(lat['median_s'])}"
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
            for runtime in a.runtimes:
                if (runtime, model) in self.skip:
                    continue
                if self.run_one(runtime, model, top, "check", "warmup") is None:
                    self.skip.add((runtime, model))
        for r in range(a.rounds):
            self.log(f"[round {r + 1}/{a.rounds}]")
            order = list(a.runtimes[r % len(a.runtimes):]) + list(a.runtimes[:r % len(a.runtimes)])
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

    def table(self, model: str) -> tuple[str, list[str]]:
        a = self.args
        top = max(a.threads)
        cols: list[tuple[str, Callable[[dict[str, Any]], Any], int | None, Callable[[float], str], bool]] = []
        for t in a.threads:
            name = f"batch 1, {t} thread{'s' if t > 1 else ''}"
            cols.append((name, lambda r: r["latency"]["b1"]["median_s"], t, _fmt_time, True))
        if model == "lenet5":
            for t in a.threads:
                name = f"batch {LENET_BATCH}, {t} thread{'s' if t > 1 else ''}"
                cols.append((name, lambda r: r["latency"][f"b{LENET_BATCH}"]["median_s"], t, _fmt_time, True))
        if model == "vgg16":
            cols.append((f"peak RSS ({top} threads)", lambda r: r["maxrss_mb"], top, _fmt_mb, True))
            cols.append((f"start to first result ({top} threads)", lambda r: r["startup_s"], top, _fmt_s, True))
        cols.append(("import", lambda r: r["import_s"], None, _fmt_time, True))
        cols.append(("max rel. err vs Keras", lambda r: max(r["rel_err"].values()), None, _fmt_err, False))
        header = "| runtime | " + " | ".join(c[0] for c in cols) + " |"
        lines = [header, "|" + "---|" * (len(cols) + 1)]
        meds: dict[str, list[float | None]] = {}
        for runtime in a.runtimes:
            row = []
            meds[runtime] = []
            for _name, key, t, fmt, _ in cols:
                # import and error: over every measuring process of this model
                vals = self.values(runtime, model, t, key)
                med = max(vals) if _name.startswith("max rel") and vals else _median(vals)
                meds[runtime].append(med)
                row.append(fmt(med) if med is not None else "failed" if self._failed(runtime, model) else "—")
            lines.append(f"| {runtime} | " + " | ".join(row) + " |")
        notes = []
        if "pyconvinfer" in a.runtimes:
            ratio_cells = []
            for i, (_name, _key, _t, _fmt, is_ratio) in enumerate(cols):
                ours = meds["pyconvinfer"][i]
                peers = [(meds[p][i], p) for p in a.runtimes if p != "pyconvinfer" and meds[p][i] is not None]
                if not is_ratio or ours is None or not peers:
                    ratio_cells.append("—")
                    continue
                best, who = min(peers)
                ratio_cells.append(f"**{ours / best:.2f}x** ({who})" if best > 0 else "—")
            lines.append("| pyconvinfer / best peer | " + " | ".join(ratio_cells) + " |")
            notes.append("ratio < 1: pyconvinfer is faster / smaller than the best peer for that column.")
        return "\n".join(lines), notes

    def _failed(self, runtime: str, model: str) -> bool:
        return any(f["runtime"] == runtime and f["model"] == model for f in self.failures)

    def raw_rounds(self, model: str) -> str:
        lines = []
        for runtime in self.args.runtimes:
            for t in self.args.threads:
                rs = sorted((r for r in self.results if r["runtime"] == runtime and r["model"] == model
                             and r["threads"] == t), key=lambda r: r["round"])
                if not rs:
                    continue
                parts = []
                for key in rs[0].get("latency", {}):
                    per = ", ".join(_fmt_time(r["latency"][key]["median_s"]) for r in rs)
                    parts.append(f"{key}: {per}")
                parts.append("first result: " + ", ".join(f"{r['startup_s']:.2f} s" for r in rs))
                parts.append("RSS: " + ", ".join(f"{r['maxrss_mb']:.0f} MB" for r in rs))
                if all("other_load" in r for r in rs):
                    parts.append("other load: " + ", ".join(f"{r['other_load']:.1f}" for r in rs) + " cores")
                lines.append(f"- {runtime}, {t} thread{'s' if t > 1 else ''}: " + "; ".join(parts))
        return "\n".join(lines)


def _fmt_time(s: float) -> str:
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


def _targets(bench: Bench) -> list[str]:
    """Issue 4's targets, each checked on this run's medians (only those whose runtimes and models ran)."""
    a = bench.args
    top = max(a.threads)
    peers = [rt for rt in a.runtimes if rt != "pyconvinfer"]

    def med(rt: str, model: str, threads: int | None, key: Callable[[dict[str, Any]], Any]) -> float | None:
        return _median(bench.values(rt, model, threads, key))

    def lat(batch: int) -> Callable[[dict[str, Any]], Any]:
        return lambda r: r["latency"][f"b{batch}"]["median_s"]

    rows: list[tuple[str, str, str, bool]] = []

    def versus(what: str, model: str, threads: int, batch: int, against: list[str]) -> None:
        mine = med("pyconvinfer", model, threads, lat(batch))
        theirs = {rt: v for rt in against if (v := med(rt, model, threads, lat(batch))) is not None}
        if mine is None or not theirs:
            return
        best = min(theirs, key=theirs.__getitem__)
        rows.append((what, _fmt_time(mine), f"<= {best} {_fmt_time(theirs[best])}", mine <= theirs[best]))

    if "vgg16" in a.models:
        versus(f"VGG16, batch 1, {top} threads", "vgg16", top, 1, peers)
        if 1 in a.threads and top > 1:
            versus("VGG16, batch 1, 1 thread", "vgg16", 1, 1, [p for p in peers if p == "onnxruntime"])
            one, many = med("pyconvinfer", "vgg16", 1, lat(1)), med("pyconvinfer", "vgg16", top, lat(1))
            if one and many:
                rows.append((f"VGG16, 1 -> {top} threads speed-up", f"{one / many:.2f}x", ">= 1.8x", one / many >= 1.8))
        rss = med("pyconvinfer", "vgg16", top, lambda r: r["maxrss_mb"])
        params = bench.gen.get("vgg16", {}).get("manifest", {}).get("params")
        if rss is not None and params:
            limit = params * 4 / 2**20 + 128
            rows.append((f"VGG16 peak RSS ({top} threads)", _fmt_mb(rss), f"<= weights + 128 MB = {_fmt_mb(limit)}",
                         rss <= limit))
        start = med("pyconvinfer", "vgg16", top, lambda r: r["startup_s"])
        if start is not None:
            rows.append(("VGG16, process start to first result", _fmt_s(start), "<= 0.50 s", start <= 0.5))
    if "lenet5" in a.models:
        for t in a.threads:
            threads = f"{t} thread{'s' if t > 1 else ''}"
            versus(f"LeNet-5, batch 1, {threads}", "lenet5", t, 1, peers)
            versus(f"LeNet-5, batch {LENET_BATCH}, {threads}", "lenet5", t, LENET_BATCH,
                   [p for p in peers if p == "litert"])
    imp = med("pyconvinfer", a.models[0], None, lambda r: r["import_s"])
    if imp is not None:
        h5 = any(v for m in a.models for v in bench.values("pyconvinfer", m, None, lambda r: r["h5py_imported"]))
        rows.append(("`import pyconvinfer` (numpy already imported)", f"{imp * 1e3:.0f} ms"
                     + (", imported h5py" if h5 else ", h5py not imported"), "<= 150 ms, no h5py",
                     imp <= 0.15 and not h5))
    if not rows:
        return []
    met = sum(ok for *_, ok in rows)
    out = ["## Targets (issue 4), checked on this run's medians", "",
           f"{met} of {len(rows)} met.", "", "| target | pyconvinfer | limit | met |", "|---|---|---|---|"]
    out += [f"| {what} | {mine} | {limit} | {'yes' if ok else '**no**'} |" for what, mine, limit, ok in rows]
    return out + [""]


def _report(bench: Bench, started: str, elapsed: float, load_before: tuple, load_after: tuple) -> str:
    a = bench.args
    mach = _machine()
    vers = _versions()
    titles = {"vgg16": "VGG16, 224x224x3 input, 138.4 M parameters",
              "lenet5": "LeNet-5, 32x32x1 input (Conv 6@5x5, AvgPool, Conv 16@5x5, AvgPool, Dense 120/84/10)"}
    out = ["# Benchmarks: pyconvinfer vs ONNX Runtime, LiteRT and Keras", "",
           "Generated by `tools/bench_peers.py` (see its docstring for the method). Latencies are medians: per "
           f"process, the median of >= {a.runs or 10} timed runs after warm-up; then the median over "
           f"{a.rounds} round(s), each runtime in a fresh process per (round, model, thread count), runtimes "
           "alternating. LeNet-5 batch 1 is one Python call per sample (`predict`, `sess.run`, "
           "`set_tensor`+`invoke`+`get_tensor`, Keras `model.predict_on_batch`). Same seeded He-scaled random weights "
           f"everywhere; every runtime's output is checked against Keras (max abs diff / max |y| <= {TOLERANCE:g}) "
           "before it is timed. Import time: `import <runtime>` in a fresh process with numpy already imported "
           "(Keras: `import keras`, which imports TensorFlow). This machine is shared: compare ratios measured "
           "in the same run, not absolute numbers across machines.", ""]
    for model in a.models:
        table, notes = bench.table(model)
        m = bench.gen[model]["manifest"]
        out += [f"## {titles.get(model, model)}", "", table, ""]
        out += [f"{n}" for n in notes]
        slow = []
        for t in a.threads:
            for key in ("b1", f"b{LENET_BATCH}"):
                vals = bench.values("keras", model, t, lambda r, k=key: r["predict_latency"][k]["median_s"])
                if vals:
                    slow.append(f"batch {key[1:]}, {t} thread{'s' if t > 1 else ''}: {_fmt_time(_median(vals))}")
        if slow:
            out += ["", "Keras rows time `model.predict_on_batch(x)`; `model.predict(x)` takes " + "; ".join(slow)
                    + " per call."]
        out += ["", f"Keras output on the check input: max probability {m['ref_max_prob']:.3f}, mean entropy "
                    f"{m['ref_entropy_nats']:.2f} nats (not degenerate).", ""]
        raw = bench.raw_rounds(model)
        if raw:
            out += ["<details><summary>Per round</summary>", "", raw, "", "</details>", ""]
    out += _targets(bench)
    out += ["## Failures", ""]
    if bench.failures:
        out += [f"- {f['runtime']}, {f['model']}, threads {f['threads']}, {f['stage']}: {f['reason']}"
                for f in bench.failures]
    else:
        out += ["None: every runtime ran every model and agreed with Keras."]
    pci = bench.info.get("pyconvinfer", {})
    peer_lines = []
    for rt in a.runtimes:
        inf = bench.info.get(rt, {})
        extra = {k: v for k, v in inf.items() if k in ("providers", "interpreter", "tensorflow", "backend")}
        if rt != "pyconvinfer":
            peer_lines.append(f"- {rt}: {inf.get('version', '?')} {json.dumps(extra) if extra else ''}".rstrip())
    threads_txt = ", ".join(str(t) for t in a.threads)
    loads = [r["other_load"] for r in bench.results if "other_load" in r]
    load_txt = (f"median {statistics.median(loads):.2f}, max {max(loads):.2f} cores (of {mach['cpus']}) over the "
                f"{len(loads)} measuring processes" if loads else "not measured")
    out += ["", "## Setup", "",
            f"- Date: {started} (took {elapsed / 60:.1f} min); load average before {load_before}, "
            f"after {load_after}",
            f"- Command: `{shlex.join([sys.executable, *sys.argv])}` (cwd `{os.getcwd()}`)",
            f"- CPU: {mach['cpu']}; {mach['cpus']} usable core(s) ({mach['cpu_count']} online); AVX-512: "
            f"{'yes' if mach['avx512'] else 'no'} ({' '.join(mach['avx512_flags'])}); RAM "
            + (f"{mach['mem_gb']:.1f} GiB" if mach["mem_gb"] else "?"),
            f"- Threads measured: {threads_txt}",
            f"- CPU used by other processes while a runtime was measured (from /proc/stat): {load_txt}",
            f"- {mach['platform']}; Python {mach['python']}; numpy {vers.get('numpy', '?')}; {mach['gcc']}",
            f"- pyconvinfer {pci.get('version', vers.get('pyconvinfer', '?'))} from `{pci.get('file', '?')}`, "
            f"extension built {pci.get('built', '?')} (repository {REPO} at git {_git_state()} when the report "
            f"was written); build_info: `{json.dumps(pci.get('build_info', {}))}`",
            "- Peers: " + "; ".join(f"{k} {v}" for k, v in vers.items()
                                    if k not in ("numpy", "pyconvinfer", "h5py", "psutil")),
            *peer_lines,
            f"- Model files (cached): `{bench.workdir}`"]
    return "\n".join(out) + "\n"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="CI smoke test: LeNet-5 only, 1 round, few repeats, no Keras runtime (< 60 s)")
    p.add_argument("--models", default=None, help=f"comma-separated subset of {','.join(MODELS)}")
    p.add_argument("--runtimes", default=None, help=f"comma-separated subset of {','.join(RUNTIMES)}")
    p.add_argument("--rounds", type=int, default=None, help="rounds over every runtime (default 3; --quick: 1)")
    p.add_argument("--threads", default=None,
                   help="comma-separated thread counts (default: 1 and every usable core)")
    p.add_argument("--runs", type=int, default=None,
                   help="timed runs per metric and process (default: VGG16 10, LeNet-5 20; --quick: 10)")
    p.add_argument("--out", default=None,
                   help="markdown report to write (default docs/BENCHMARKS.md; --quick: none); '-' for none")
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
    bench.log(f"pyconvinfer peer benchmark: models {args.models}, runtimes {args.runtimes}, threads {args.threads}, "
              f"{args.rounds} round(s); workdir {bench.workdir}")
    bench.generate()
    bench.run()
    load_after = tuple(round(v, 2) for v in os.getloadavg())
    report = _report(bench, started, time.perf_counter() - t0, load_before, load_after)
    (bench.workdir / "results.json").write_text(json.dumps({"results": bench.results, "failures": bench.failures,
                                                            "generate": bench.gen}, indent=1, default=str))
    print()
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
        print(f"wrote {args.out}")
    return 0


def _generate_entry(spec_json: str) -> int:
    spec = json.loads(spec_json)
    result = generate_main(spec)
    Path(spec["result"]).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--_generate":
        sys.exit(_generate_entry(sys.argv[2]))
    sys.exit(main())
