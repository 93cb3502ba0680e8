"""The models of tools/bench_peers.py: each built once with seeded weights and written for every runtime.

    python tools/bench_models.py --_generate SPEC_JSON     # run by bench_peers.py in a fresh process

Every model is a Keras 3 model with seeded random weights. Keras writes the legacy .h5 file that pyconvinfer
converts (and that the Keras runtime loads); LiteRT gets tf.lite.TFLiteConverter (float32); ONNX Runtime and
OpenVINO get one ONNX file:
- the Sequential models (VGG16, both LeNet-5s) as a graph written directly with onnx.helper from the Keras
  weights (NHWC->NCHW Transpose, Conv, Relu / Tanh, MaxPool / AveragePool, Transpose back before Flatten,
  Gemm, Softmax): tf2onnx is not needed for them (and may die silently on VGG16-sized Keras 3 models);
- MobileNetV2 and EfficientNetB0 through tf2onnx, from the model's inference function with its variables
  frozen to constants (tf2onnx.convert.from_function on a Keras 3 model leaves the Normalization layer's
  mean and variance as extra graph inputs; the frozen graph has none).
The files are generated once per workdir and reused while their key (GEN_VERSION, seed, model) matches;
the .pci file is re-converted on every invocation (the pyconvinfer build may change).
TensorFlow is imported only when files are missing; without it, `lenet5` alone can come from the package's
bundled Keras LeNet-5 (the CI smoke of pyconvinfer alone).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

GEN_VERSION = 1  # bump when the generated models / inputs change (every model's files are then rebuilt)
SEED = 20240601
LENET_BATCH = 64

# name -> what the harness needs to know: title, input batch of the check/measure input, how ONNX is written,
# whether it is a small model timed per Python call (LeNet-5) or a large one (RSS and start-up reported).
MODELS: dict[str, dict[str, Any]] = {
    "vgg16": {"title": "VGG16, 224x224x3 input, 138.4 M parameters", "batch": 1, "onnx": "helper",
              "small": False},
    "lenet5": {"title": "LeNet-5 (relu), 32x32x1 input (Conv 6@5x5 relu, AvgPool, Conv 16@5x5 relu, AvgPool, "
                        "Dense 120/84 relu, 10 softmax)", "batch": LENET_BATCH, "onnx": "helper", "small": True},
    "lenet5_classic": {"title": "Classic LeNet-5 (tanh), 32x32x1 input (Conv 6@5x5 tanh, AvgPool, Conv 16@5x5 "
                                "tanh, AvgPool, Dense 120/84 tanh, 10 softmax)", "batch": LENET_BATCH,
                       "onnx": "helper", "small": True},
    "mobilenetv2": {"title": "MobileNetV2 (alpha 1.0), 224x224x3 input, 3.5 M parameters", "batch": 1,
                    "onnx": "tf2onnx", "small": False},
    "efficientnetb0": {"title": "EfficientNetB0, 224x224x3 input (Rescaling and Normalization inside), "
                                "5.3 M parameters", "batch": 1, "onnx": "tf2onnx", "small": False},
}


def model_dir(workdir: Path, model: str) -> Path:
    return workdir / model


def model_files(workdir: Path, model: str) -> dict[str, str]:
    d = model_dir(workdir, model)
    return {"h5": str(d / f"{model}.h5"), "pci": str(d / f"{model}.pci"), "onnx": str(d / f"{model}.onnx"),
            "tflite": str(d / f"{model}.tflite"), "x": str(d / "x.npy"), "ref": str(d / "ref.npy"),
            "manifest": str(d / "manifest.json")}


def _lenet(keras: Any, name: str, act: str) -> Any:
    layers = keras.layers
    return keras.Sequential([
        keras.Input((32, 32, 1)),
        layers.Conv2D(6, 5, activation=act),
        layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation=act),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation=act),
        layers.Dense(84, activation=act),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def build_keras_model(name: str) -> Any:
    import keras

    if name == "vgg16":
        return keras.applications.VGG16(weights=None)
    if name == "lenet5":
        return _lenet(keras, "lenet5", "relu")
    if name == "lenet5_classic":
        return _lenet(keras, "lenet5_classic", "tanh")
    if name == "mobilenetv2":
        return keras.applications.MobileNetV2(weights=None)
    if name == "efficientnetb0":
        return keras.applications.EfficientNetB0(weights=None)
    raise ValueError(f"unknown model {name!r}: choose from {', '.join(MODELS)}")


def set_random_weights(model: Any, seed: int) -> None:
    """Sequential models (Conv2D / Dense with kernel and bias): seeded He-scaled kernels (gain 2 before relu,
    1 otherwise) and small random biases."""
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


def _var_name(v: Any) -> str:
    return str(getattr(v, "path", None) or v.name).split("/")[-1].split(":")[0]


def set_random_weights_bn(model: Any, seed: int, x: Any) -> None:
    """keras.applications models with BatchNormalization: seeded He-scaled kernels (depthwise: fan-in kh*kw),
    batch normalization far from the identity (so a wrong fold or a swapped channel shows), and the last
    Dense layer scaled by scale_logits."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ranges = {"gamma": (0.6, 1.4), "beta": (-0.2, 0.2), "moving_mean": (-0.2, 0.2), "moving_variance": (0.5, 1.5),
              "bias": (-0.1, 0.1)}
    dense = [la for la in model.layers if type(la).__name__ == "Dense"]
    for layer in model.layers:
        kind = type(layer).__name__
        if not layer.weights:
            continue
        new = []
        for v in layer.weights:
            vname, shape = _var_name(v), tuple(v.shape)
            if kind == "Normalization" and vname == "mean":  # ImageNet statistics' scale (pixels / 255)
                val = rng.uniform(0.40, 0.50, shape)
            elif kind == "Normalization" and vname == "variance":
                val = rng.uniform(0.04, 0.07, shape)
            elif kind == "Normalization":  # its sample count
                val = np.asarray(v)
            elif vname in ranges:
                val = rng.uniform(*ranges[vname], shape)
            elif len(shape) >= 2:  # a kernel
                fan_in = int(np.prod(shape[:2])) if kind == "DepthwiseConv2D" else int(np.prod(shape[:-1]))
                gain = 1.0 if layer is dense[-1] else 2.0
                val = rng.standard_normal(shape) * np.sqrt(gain / fan_in)
            else:
                raise ValueError(f"{layer.name}: weight {vname!r} {shape} has no random rule")
            val = np.asarray(val)
            new.append(val.astype(np.float32) if val.dtype.kind == "f" else val)  # Normalization's count
        layer.set_weights(new)
        if kind == "Normalization":  # Keras 3 computes with statistics taken from its variables only here
            layer.finalize_state()
    scale_logits(model, x)


def scale_logits(model: Any, x: Any, target_std: float = 3.0) -> None:
    """Scale the last Dense layer's kernel so that its logits on `x` have standard deviation `target_std`
    (neither a one-hot nor a uniform softmax: the 1e-4 comparison with Keras then tests something)."""
    import keras
    import numpy as np

    last = [la for la in model.layers if type(la).__name__ == "Dense"][-1]
    features = keras.Model(model.inputs, last.input)
    f = np.asarray(features.predict(x, batch_size=len(x), verbose=0), dtype=np.float64)
    kernel, bias = last.get_weights()
    std = float((f.reshape(len(x), -1) @ kernel).std())
    if not np.isfinite(std) or std == 0.0:
        raise ValueError(f"{model.name}: the features before {last.name} are degenerate (logit std {std})")
    last.set_weights([kernel * np.float32(target_std / std), bias])


def write_onnx_helper(model: Any, path: str) -> str:
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
        ops = {"relu": ("Relu", {}), "tanh": ("Tanh", {}), "softmax": ("Softmax", {"axis": -1})}
        if act not in ops:
            raise ValueError(f"activation {act!r} not handled")
        op, attrs = ops[act]
        nodes.append(helper.make_node(op, [x], [f"{name}_{act}"], **attrs))
        return f"{name}_{act}"

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
                                   producer_name="pyconvinfer tools/bench_models.py")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, path)
    return f"onnx.helper (onnx {onnx.__version__}), opset 17"


def write_onnx_tf2onnx(model: Any, path: str) -> str:
    """The Keras 3 model through tf2onnx: its inference function, variables frozen to constants, batch
    dimension dynamic."""
    import onnx
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="input")
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    onnx_model, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(), input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs], opset=17)
    extra = [i.name for i in onnx_model.graph.input][1:]
    if extra:  # an unfrozen variable would otherwise surface as a missing feed at run time
        raise RuntimeError(f"tf2onnx left extra graph inputs {extra}")
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, path)
    return f"tf2onnx {tf2onnx.__version__} (frozen inference function), opset 17"


def write_tflite(model: Any, path: str) -> str:
    import tensorflow as tf

    try:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        data = converter.convert()
        how = "TFLiteConverter.from_keras_model"
    except Exception as first:  # Keras 3 fallback: through a SavedModel export
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            try:
                model.export(tmp)
                data = tf.lite.TFLiteConverter.from_saved_model(tmp).convert()
                how = "TFLiteConverter.from_saved_model (Keras export)"
            except Exception as second:
                raise RuntimeError(f"TFLite conversion failed: {first!r}; via SavedModel: {second!r}") from second
    Path(path).write_bytes(data)
    return f"{how}, TensorFlow {tf.__version__}, float32"


def have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _summary(ref: Any) -> dict[str, float]:
    import numpy as np

    return {"ref_max_prob": float(ref.max()), "ref_min_max_prob": float(ref.max(axis=1).min()),
            "ref_entropy_nats": float(-(ref * np.log(np.maximum(ref, 1e-30))).sum(axis=1).mean())}


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
            "params": 61706, "input_shape": list(x.shape), **_summary(ref), "seconds": 0.0, "bundled": True}


def _input(name: str, shape: tuple[int, ...], seed: int) -> Any:
    import numpy as np

    rng = np.random.default_rng(seed)
    if name == "efficientnetb0":  # it rescales pixels itself: give it pixels
        return rng.uniform(0.0, 255.0, shape).astype(np.float32)
    return rng.standard_normal(shape, dtype=np.float32)


def _generate_files(name: str, files: dict[str, str], key: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    t0 = time.perf_counter()
    os.makedirs(Path(files["h5"]).parent, exist_ok=True)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    model = build_keras_model(name)
    x = _input(name, (MODELS[name]["batch"],) + tuple(model.input_shape[1:]), SEED + 2)
    if MODELS[name]["onnx"] == "tf2onnx":
        set_random_weights_bn(model, SEED + 1, x)
    else:
        set_random_weights(model, SEED + 1)
        if name == "lenet5_classic":  # tanh layers with gain 1 leave a near-uniform softmax
            scale_logits(model, x)
    ref = np.asarray(model.predict(x, batch_size=len(x), verbose=0), dtype=np.float32)
    model.save(files["h5"])  # legacy HDF5 (the .h5 suffix selects it)
    # the file must compute what the model in memory computed (the reference of every runtime)
    again = keras.models.load_model(files["h5"], compile=False).predict(x, batch_size=len(x), verbose=0)
    if not np.allclose(again, ref, rtol=0, atol=1e-6 * float(np.abs(ref).max())):
        raise RuntimeError(f"{name}: Keras reloading {files['h5']} computes other outputs than the model saved "
                           f"(max abs diff {float(np.abs(again - ref).max()):.3g})")
    writer = write_onnx_tf2onnx if MODELS[name]["onnx"] == "tf2onnx" else write_onnx_helper
    # a peer's file that cannot be written costs that peer (reported), not the run; the next invocation,
    # seeing the file missing, generates again
    vias: dict[str, str] = {}
    for kind, write in (("onnx", writer), ("tflite", write_tflite)):
        try:
            vias[f"{kind}_via"] = write(model, files[kind])
        except Exception as e:
            vias[f"{kind}_error"] = f"{type(e).__name__}: {str(e)[:500]}"
            Path(files[kind]).unlink(missing_ok=True)
    np.save(files["x"], x)
    np.save(files["ref"], ref)
    return {"key": key, "keras": keras.__version__, "tensorflow": tf.__version__,
            "params": int(model.count_params()), "input_shape": list(x.shape), **_summary(ref),
            **vias, "seconds": time.perf_counter() - t0}


def generate_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Make (or reuse) one model's files; convert the .pci file when pyconvinfer is benchmarked."""
    workdir, name = Path(spec["workdir"]), spec["model"]
    files = model_files(workdir, name)
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
        manifest = _generate_files(name, files, key)
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


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--_generate":
        sys.exit("usage: bench_models.py --_generate SPEC_JSON (run by tools/bench_peers.py)")
    spec_in = json.loads(sys.argv[2])
    result = generate_main(spec_in)
    Path(spec_in["result"]).write_text(json.dumps(result, default=str))
