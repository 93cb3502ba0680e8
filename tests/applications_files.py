"""keras.applications model files for tests, rebuilt without TensorFlow.

The files Keras writes for MobileNetV3Small, EfficientNetB0, Xception, NASNetMobile,
ConvNeXtTiny and MobileNetV2 are too big to commit (ConvNeXtTiny: 114 MB each). As for
VGG16 (``vgg16_files.py``, whose layout format and writer this module reuses), their
*structure* is committed instead, gzipped, under ``tests/fixtures/applications/<model>/``:
one layout per file kind (every HDF5 group, dataset and attribute, in creation order,
with exact types; the ``.keras`` zip members; and, for weights-only kinds, the
``model.to_json()`` text the converter needs beside them). Beside them,
``<generation>_output.npy`` holds what Keras computed for the seeded weights below
and the seeded input ``model_input``; ``tools/capture_applications.py`` made all of it
(with TensorFlow) and checked that Keras, loading each rebuilt file, gives that output.

Weights are a pure function of (seed, layer name and class, weight index, name, shape):
``seeded_weight``. Both the capture tool and the tests call it, so a test's file holds
exactly the weights Keras saw. Typical use::

    spec = MODELS["EfficientNetB0"]
    path, config = write_app_file(spec, "keras2_weights.h5", tmp_path)   # config: to_json() file or None
    x = model_input(spec)
    want = expected_output(spec, "keras2")

Kinds (``KINDS``): ``keras3_full.h5`` (Keras 3 ``model.save("x.h5")``), ``keras3.keras``,
``keras3.weights.h5`` (+ config), ``keras2_full.h5`` (tf.keras ``model.save``) and
``keras2_weights.h5`` (tf.keras ``save_weights`` + config).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from vgg16_files import _h5_layouts, layout_weight_map, load_layout, write_keras_file

__all__ = [
    "APPS_DIR",
    "KINDS",
    "MODELS",
    "AppSpec",
    "expected_output",
    "generation",
    "layer_weights",
    "layout_file",
    "model_input",
    "seeded_weight",
    "weight_source",
    "write_app_file",
]

APPS_DIR = Path(__file__).resolve().parent / "fixtures" / "applications"
#: Every file kind, in the order the tests run them (full-model files first).
KINDS: tuple[str, ...] = ("keras3_full.h5", "keras3.keras", "keras3.weights.h5", "keras2_full.h5",
                          "keras2_weights.h5")
#: Weight seed shared by every model (a model's weights also depend on its layer names).
WEIGHT_SEED = 20261130
INPUT_SEED = 7
BATCH = 2


@dataclass(frozen=True)
class AppSpec:
    """One keras.applications model as the fixtures build it."""

    name: str            # keras.applications attribute, also the fixture directory name
    size: int            # square input side (the smallest sensible one, to keep tests fast)
    input_range: tuple[float, float]  # what the model's own preprocessing expects

    @property
    def builder(self) -> str:
        return (f"keras.applications.{self.name}(weights=None, input_shape=({self.size}, {self.size}, 3), "
                "classifier_activation=None)")


#: 96x96 works for all of them (Xception needs >= 71); classifier_activation=None gives
#: logits, so the comparison is not swamped by a near-uniform 1000-way softmax.
MODELS: dict[str, AppSpec] = {spec.name: spec for spec in (
    AppSpec("MobileNetV3Small", 96, (0.0, 255.0)),   # Rescaling(1/127.5, -1) inside
    AppSpec("EfficientNetB0", 96, (0.0, 255.0)),     # Rescaling(1/255) + Normalization inside
    AppSpec("Xception", 96, (-1.0, 1.0)),
    AppSpec("NASNetMobile", 96, (-1.0, 1.0)),
    AppSpec("ConvNeXtTiny", 96, (0.0, 255.0)),       # Normalization(ImageNet mean/var) inside
    AppSpec("MobileNetV2", 96, (-1.0, 1.0)),
)}


def generation(kind: str) -> str:
    """``"keras3"`` or ``"keras2"``: which Keras wrote a file kind."""
    return kind.split("_", 1)[0].split(".", 1)[0]


def layout_file(spec: AppSpec, kind: str) -> Path:
    return APPS_DIR / spec.name / f"{kind}.json.gz"


def model_input(spec: AppSpec, batch: int = BATCH) -> np.ndarray:
    """The fixed float32 NHWC input the stored outputs belong to."""
    lo, hi = spec.input_range
    rng = np.random.default_rng(INPUT_SEED)
    return rng.uniform(lo, hi, (batch, spec.size, spec.size, 3)).astype(np.float32)


def expected_output(spec: AppSpec, gen: str) -> np.ndarray:
    """Keras's output (float32) for ``model_input(spec)`` and the seeded weights of generation ``gen``."""
    return np.load(APPS_DIR / spec.name / f"{gen}_output.npy")


# --------------------------------------------------------------------------------------
# Seeded weights
# --------------------------------------------------------------------------------------


def _role(weight_name: str) -> str:
    """Last part of a Keras weight name without ``:0``: ``stem_bn/gamma:0`` -> ``gamma``."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def seeded_weight(layer: str, index: int, weight_name: str, layer_class: str,
                  shape: tuple[int, ...], dtype: np.dtype | str, seed: int = WEIGHT_SEED) -> np.ndarray:
    """Deterministic random value of one Keras weight, scaled so that activations stay O(1).

    Kernels are He-normal over their fan-in (a depthwise kernel's fan-in is its window),
    so ReLU stacks keep their scale; BatchNormalization statistics are perturbed (moving
    variance in [0.5, 1.5]) so that a misread or misordered statistic changes the output;
    biases are N(0, 0.05^2). EfficientNet's Normalization gets ImageNet-like statistics for
    [0, 1] inputs; ConvNeXt's LayerScale gets [0.1, 0.5] (its initial 1e-6 would hide the
    residual branch). An unknown weight is an error, never a silent guess.
    """
    rng = np.random.default_rng([seed, zlib.crc32(layer.encode("utf-8")), index])
    role = _role(weight_name)
    dtype = np.dtype(dtype)
    f32 = np.float32

    def normal(std: float) -> np.ndarray:  # float32 draws: half the time of float64 ones
        value = rng.standard_normal(shape, dtype=f32)
        value *= f32(std)
        return value

    def uniform(lo: float, hi: float) -> np.ndarray:
        value = rng.random(shape, dtype=f32)
        value *= f32(hi - lo)
        value += f32(lo)
        return value

    if layer_class == "LayerScale":
        value = uniform(0.1, 0.5)
    elif role in ("kernel", "depthwise_kernel", "pointwise_kernel"):
        if role == "depthwise_kernel" or layer_class == "DepthwiseConv2D":
            fan_in = math.prod(shape[:2])  # (kh, kw, cin, depth_multiplier): one input channel per output
        else:
            fan_in = math.prod(shape[:-1])  # conv (kh, kw, cin/groups, cout), dense (in, out)
        # He gain 2 for a kernel followed by ReLU; SeparableConv2D's depthwise half feeds the
        # pointwise one directly, so gain 1 there (else Xception's logits reach ~1e6)
        gain = 1.0 if layer_class == "SeparableConv2D" and role == "depthwise_kernel" else 2.0
        value = normal(math.sqrt(gain / fan_in))
    elif role in ("bias", "beta"):
        value = normal(0.05)
    elif role == "gamma":
        value = uniform(0.8, 1.2)
    elif role == "moving_mean":
        value = normal(0.1)
    elif role == "moving_variance":
        value = uniform(0.5, 1.5)
    elif layer_class == "Normalization" and role == "mean":
        value = uniform(0.35, 0.55)
    elif layer_class == "Normalization" and role == "variance":
        value = uniform(0.05, 0.08)
    elif layer_class == "Normalization" and role == "count":
        value = np.full(shape, 1000)
    else:
        raise ValueError(f"no seeded value for weight {weight_name!r} of {layer_class} layer {layer!r}")
    return np.asarray(value, dtype=dtype)


def weight_source(layout: Mapping[str, Any], seed: int = WEIGHT_SEED, cache: dict | None = None,
                  ) -> Callable[[str, int, tuple[int, ...], np.dtype], np.ndarray]:
    """A ``write_keras_file`` weight callable giving ``seeded_weight`` for a layout's datasets.

    With ``cache`` (a dict the caller owns), each value is drawn once and reused by later
    files of the same model: the kinds of one model, and both generations where their
    layer names agree, hold the same weights.
    """
    info: dict[tuple[str, int], tuple[str, str]] = {}
    for layer in layout["model"]["layers"]:
        for index, w in enumerate(layer["weights"]):
            info[(layer["name"], index)] = (w["name"], layer["class_name"])

    def source(layer: str, index: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        if (layer, index) not in info:
            raise KeyError(f"layout has no weight {index} of layer {layer!r}")
        wname, cls = info[(layer, index)]
        key = (layer, index, wname, cls, tuple(shape), np.dtype(dtype).str, seed)
        if cache is None:
            return seeded_weight(*key)
        if key not in cache:
            cache[key] = seeded_weight(*key)
        return cache[key]

    return source


def layer_weights(layout: Mapping[str, Any], seed: int = WEIGHT_SEED) -> dict[str, list[np.ndarray]]:
    """``{layer name: [seeded weights in layer.weights order]}`` (what the capture tool sets in Keras)."""
    source = weight_source(layout, seed)
    out: dict[str, list[np.ndarray]] = {}
    for layer in layout["model"]["layers"]:
        if layer["weights"]:
            out[layer["name"]] = [source(layer["name"], i, tuple(w["shape"]), np.dtype(w.get("dtype", "float32")))
                                  for i, w in enumerate(layer["weights"])]
    return out


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def write_app_file(spec: AppSpec, kind: str, directory: str | Path, seed: int = WEIGHT_SEED,
                   layout: Mapping[str, Any] | None = None, cache: dict | None = None) -> tuple[Path, Path | None]:
    """Rebuild file ``kind`` of a model in ``directory`` with seeded weights.

    Returns ``(file, config)``: ``config`` is the ``model.to_json()`` file written beside a
    weights-only file (None for full-model kinds). Every weight dataset of the layout must
    have a measured (layer, index); a dataset without one would get no value. ``cache``:
    see ``weight_source``.
    """
    layout = load_layout(layout_file(spec, kind)) if layout is None else layout
    directory = Path(directory)
    mapped = set(layout_weight_map(layout))
    unmapped = [n["path"] for h5 in _h5_layouts(layout) for n in h5["nodes"]
                if n["type"] == "dataset" and n["path"] not in mapped]
    if unmapped:
        raise ValueError(f"{spec.name} {kind}: datasets with no known weight: {unmapped[:3]}")
    path = write_keras_file(layout, directory / layout["suggested_filename"], weight_source(layout, seed, cache))
    config = None
    if "architecture_json" in layout:
        config = directory / f"{spec.name}_{generation(kind)}_config.json"
        config.write_text(layout["architecture_json"], encoding="utf-8")
    return path, config

