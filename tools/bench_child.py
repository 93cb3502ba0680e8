"""One measurement of tools/bench_peers.py, run in a fresh interpreter: `python bench_child.py SPEC_JSON`.

Kept apart from bench_peers.py so that the process imports nothing before numpy and the runtime but what
it needs to read its spec and time: the start-to-first-result figure then measures the runtime, not the
harness (argparse, subprocess, statistics and pathlib cost ~60 ms of interpreter start-up here).
The spec (written by bench_peers.py) names the runtime, model, thread count, forced ISA (pyconvinfer's `isa`,
None for the CPU's best), model files and run counts;
the result (a JSON dict) goes to spec["result"].
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable  # numpy imports typing anyway

if TYPE_CHECKING:
    import numpy as np

Predict = Callable[["np.ndarray"], Any]
TOLERANCE = 1e-4  # max |y - y_keras| / max |y_keras|; bench_peers.py reports it


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])




def _import_runtime(runtime: str) -> dict[str, Any]:
    """Import the runtime's module (the timed import); return what the loader needs."""
    if runtime == "pyconvinfer":
        import pyconvinfer

        return {"module": pyconvinfer}
    if runtime == "onnxruntime":
        import onnxruntime

        return {"module": onnxruntime}
    if runtime == "litert":
        try:
            from ai_edge_litert.interpreter import Interpreter

            return {"Interpreter": Interpreter, "which": "ai_edge_litert.interpreter"}
        except ImportError:
            import tensorflow as tf

            return {"Interpreter": tf.lite.Interpreter, "which": "tf.lite.Interpreter"}
    if runtime == "openvino":
        import openvino

        return {"module": openvino}
    if runtime == "keras":
        import keras

        return {"module": keras}
    raise ValueError(f"unknown runtime {runtime!r}")


def _load_runtime(runtime: str, mod: dict[str, Any], files: dict[str, str], threads: int,
                  info: dict[str, Any], isa: str | None = None) -> Callable[[int], Predict]:
    """Load the model; return make(batch) -> predict(x), the tightest user-style call for that batch size."""
    if runtime == "pyconvinfer":
        pci = mod["module"]
        int8_compute = {"auto": None, "on": True, "off": False}[files.get("int8_compute", "auto")]
        # a forced ISA the CPU lacks raises
        m = pci.load(files["pci"], num_threads=threads, isa=isa, int8_compute=int8_compute)
        ext = pci._kernels.__file__
        built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.stat(ext).st_mtime))
        info.update(version=pci.__version__, file=pci.__file__, build_info=pci.build_info(), isa=m.isa,
                    num_threads=m.num_threads, extension=ext, built=built)
        return lambda batch: m.predict
    if runtime == "onnxruntime":
        ort = mod["module"]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(files["onnx"], sess_options=so, providers=["CPUExecutionProvider"])
        in_name = sess.get_inputs()[0].name
        info.update(version=ort.__version__, providers=sess.get_providers())

        def make_ort(batch: int) -> Predict:
            run = sess.run
            return lambda x: run(None, {in_name: x})[0]
        return make_ort
    if runtime == "litert":
        interp_cls = mod["Interpreter"]
        interps: dict[int, Any] = {}
        from importlib import metadata

        try:
            version = metadata.version("ai-edge-litert")
        except metadata.PackageNotFoundError:
            version = "tensorflow " + metadata.version("tensorflow")
        info.update(version=version, interpreter=mod["which"])

        def make_litert(batch: int) -> Predict:
            it = interp_cls(model_path=files["tflite"], num_threads=threads)
            in_idx = it.get_input_details()[0]["index"]
            out_idx = it.get_output_details()[0]["index"]
            if batch != 1:
                it.resize_tensor_input(in_idx, [batch, *it.get_input_details()[0]["shape"][1:]])
            it.allocate_tensors()
            interps[batch] = it
            set_tensor, invoke, get_tensor = it.set_tensor, it.invoke, it.get_tensor

            def predict(x: np.ndarray) -> np.ndarray:
                set_tensor(in_idx, x)
                invoke()
                return get_tensor(out_idx)
            return predict
        return make_litert
    if runtime == "openvino":
        return _load_openvino(mod["module"], files["onnx"], threads, info)
    if runtime == "keras":
        keras = mod["module"]
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        model = keras.models.load_model(files["h5"], compile=False)
        info.update(version=keras.__version__, tensorflow=tf.__version__, backend=keras.backend.backend())

        def make_keras(batch: int) -> Predict:
            # predict_on_batch: Keras's fastest documented call for one batch (model.predict costs ~100 ms of
            # per-call overhead here: it is timed separately, see child_main)
            return model.predict_on_batch
        info["predict"] = lambda x: model.predict(x, batch_size=len(x), verbose=0)
        return make_keras
    raise ValueError(f"unknown runtime {runtime!r}")


def _load_openvino(ov: Any, onnx_path: str, threads: int, info: dict[str, Any]) -> Callable[[int], Predict]:
    """OpenVINO's CPU plugin from the ONNX file, compiled per batch size with a static shape, float32
    precision forced (its default on CPUs with AVX-512 BF16 or AMX is bf16, which does not agree with Keras
    to 1e-4), one stream, latency hint, `threads` inference threads."""
    core = ov.Core()
    props = ov.properties
    config = {props.hint.inference_precision: ov.Type.f32, props.inference_num_threads: threads,
              props.num_streams: 1, props.hint.performance_mode: props.hint.PerformanceMode.LATENCY}
    info.update(version=ov.get_version(), precision="f32 (INFERENCE_PRECISION_HINT)")

    def make_ov(batch: int) -> Predict:
        model = core.read_model(onnx_path)
        shape = list(model.inputs[0].get_partial_shape())
        model.reshape({model.inputs[0]: ov.PartialShape([batch, *shape[1:]])})
        compiled = core.compile_model(model, "CPU", config)
        precision = compiled.get_property(props.hint.inference_precision)  # an openvino.Type
        got = precision.get_type_name() if hasattr(precision, "get_type_name") else str(precision)
        if got != "f32":
            raise RuntimeError(f"OpenVINO compiled with inference precision {got}, not f32")
        info["compiled_precision"] = got
        info["compiled_threads"] = int(compiled.get_property(props.inference_num_threads))
        request = compiled.create_infer_request()
        infer, out = request.infer, compiled.outputs[0]
        return lambda x: infer({0: x}, share_inputs=True)[out]
    return make_ov


def _time_runs(fn: Predict, samples: list[np.ndarray], runs: int, block_s: float, warmup_s: float) -> dict[str, Any]:
    """Median over `runs` timed blocks of the time per call; a block is k calls (k sized to ~block_s)."""
    n = len(samples)
    calls = 0
    t_start = time.perf_counter()
    while calls < 2 or (time.perf_counter() - t_start < warmup_s and calls < 10000):
        fn(samples[calls % n])
        calls += 1
    per_call = (time.perf_counter() - t_start) / calls
    k = max(1, min(5000, round(block_s / per_call)))
    times = []
    i = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(k):
            fn(samples[i % n])
            i += 1
        times.append((time.perf_counter() - t0) / k)
    return {"median_s": _median(times), "min_s": min(times), "max_s": max(times), "calls_per_run": k,
            "runs": runs, "warmup_calls": calls}


def _rel_err(y: Any, ref: np.ndarray) -> float:
    import numpy as np

    y = np.asarray(y, dtype=np.float32).reshape(ref.shape)
    return float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))


def child_main(spec: dict[str, Any]) -> dict[str, Any]:
    t_enter = time.time()
    t0 = time.perf_counter()
    import numpy as np

    numpy_import_s = time.perf_counter() - t0
    runtime, model, threads = spec["runtime"], spec["model"], spec["threads"]
    files = spec["files"]
    res: dict[str, Any] = {"runtime": runtime, "model": model, "threads": threads, "t_enter": t_enter,
                           "numpy_import_s": numpy_import_s, "ok": False}
    info: dict[str, Any] = {}
    res["info"] = info
    x = np.load(files["x"])
    ref = np.load(files["ref"])
    t0 = time.perf_counter()
    mod = _import_runtime(runtime)
    res["import_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    make = _load_runtime(runtime, mod, files, threads, info, spec.get("isa"))
    res["load_s"] = time.perf_counter() - t0
    x1 = np.ascontiguousarray(x[:1])
    t0 = time.perf_counter()
    predict1 = make(1)
    y1 = predict1(x1)
    res["t_first_result"] = time.time()
    res["first_predict_s"] = time.perf_counter() - t0
    res["h5py_imported"] = "h5py" in sys.modules  # the runtime must not need the converter's dependency
    errs = {"b1": _rel_err(y1, ref[:1])}
    predict_b = None
    if x.shape[0] > 1:
        predict_b = make(x.shape[0])
        errs[f"b{x.shape[0]}"] = _rel_err(predict_b(x), ref)
    res["rel_err"] = errs
    res["ok"] = max(errs.values()) <= TOLERANCE
    if spec["mode"] == "measure" and res["ok"]:
        runs, block_s, warmup_s = spec["runs"], spec["block_s"], spec["warmup_s"]
        samples = [np.ascontiguousarray(x[i:i + 1]) for i in range(x.shape[0])]
        lat = {"b1": _time_runs(predict1, samples, runs, block_s, warmup_s)}
        if predict_b is not None:
            lat[f"b{x.shape[0]}"] = _time_runs(predict_b, [x], runs, block_s, warmup_s)
        res["latency"] = lat
        if "predict" in info:  # Keras: the model.predict call too (not in the tables' main columns)
            slow = info["predict"]
            res["rel_err"]["b1 model.predict"] = _rel_err(slow(x1), ref[:1])
            res["predict_latency"] = {"b1": _time_runs(slow, samples, min(runs, 10), 0.0, 0.0)}
            if predict_b is not None:
                res["predict_latency"][f"b{x.shape[0]}"] = _time_runs(slow, [x], min(runs, 10), 0.0, 0.0)
    info.pop("predict", None)
    import resource

    res["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return res


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    result = child_main(spec)
    with open(spec["result"], "w") as f:
        json.dump(result, f, default=str)
