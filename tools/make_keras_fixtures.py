#!/usr/bin/env python
"""Generate the Keras conformance fixtures in ``tests/fixtures/keras/``.

Maintainer tool; not used by the package or its tests at run time.

For every fixture model defined below and for both Keras generations it builds a
small model with TensorFlow/Keras, gives *every* weight a non-trivial random value
(kernels, biases, BatchNormalization gamma/beta/moving_mean/moving_variance, with
positive variances), and writes to ``tests/fixtures/keras/<generation>/<name>/``:

* keras3 (``import keras``, Keras 3.x):
  ``model.h5`` (legacy full-model HDF5), ``model.keras`` (native zip),
  ``arch.json`` (``model.to_json()``) + ``model.weights.h5`` (``save_weights``).
* keras2 (``TF_USE_LEGACY_KERAS=1`` + ``import tf_keras``):
  ``model.h5`` (full model), ``model.keras`` (tf_keras's zip format),
  ``arch.json`` + ``weights.h5`` (classic HDF5 weights-only file).
* ``input_<i>.npy`` (float32, batch of 2, random normal, fixed seed) in model input
  order and ``output_<j>.npy`` (Keras's own ``model(x, training=False)``, float32) in
  model output order. Models with unknown height/width get extra sets at other
  spatial sizes: ``input_<i>_b.npy`` / ``output_<j>_b.npy``.

Each saved file is reloaded with Keras and checked to reproduce the outputs (non-public
layers such as ConvNeXt's LayerScale, and Keras 3 operator layers, are passed to Keras as
custom objects). Where Keras itself reloads a file wrongly, the fixture names the outputs
it skips and why, and the manifest entry records it as ``keras_reload_wrong``.
Then ``tests/fixtures/keras/manifest.json`` is written (one entry per fixture and
generation, listing formats, input/output sets and the coverage tags) and the
coverage is checked against ``tests/conformance_matrix.py`` (REQUIRED_CELLS,
FORMATS, NOT_APPLICABLE); the script fails if a required cell is not covered.

Requirements: a Python environment with ``tensorflow-cpu``, ``tf-keras`` (matching
TensorFlow version), ``keras`` 3 (comes with TensorFlow), ``h5py`` and ``numpy``.
None of these are dependencies of the package.

Usage (from the repository root)::

    /path/to/venv/bin/python tools/make_keras_fixtures.py            # both generations
    /path/to/venv/bin/python tools/make_keras_fixtures.py --generation keras3
    /path/to/venv/bin/python tools/make_keras_fixtures.py --unsupported-only  # see below

``--unsupported-only`` generates only ``tests/fixtures/keras_unsupported/``: small
real Keras files the converter must reject (LSTM, channels_first, bicubic UpSampling2D
and Resizing, two unsupported layers, LayerNormalization over axis 1, an operator
layer outside the supported set (cumsum); plus a synthetic Keras 0.x weights file
written with h5py) and a ``manifest.json`` listing,
per file, substrings the converter's error message must contain. It does not touch
``tests/fixtures/keras/``; the normal run does not touch ``keras_unsupported/``.

Each generation runs in its own subprocess (``--worker keras2|keras3``) so that Keras
2 and Keras 3 never share an interpreter. Random values are seeded per fixture name,
so a rerun gives the same weights, inputs and outputs (and the same ones for a fixture
name in both generations: their outputs agree except for ``hard_sigmoid``, whose
definition differs). ``.npy``, ``.h5`` and ``arch.json`` files come out byte-identical;
``.keras`` files do not (save date, zip timestamps, and Keras 3 writes Python object
ids as ``shared_object_id`` into config.json).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "keras"
MATRIX_PATH = REPO_ROOT / "tests" / "conformance_matrix.py"
GENERATIONS = ("keras2", "keras3")
BASE_SEED = 20240611
BATCH = 2
MAX_FILE_BYTES = 200 * 1024
MAX_TOTAL_BYTES = 16 * 1024 * 1024
SET_SUFFIXES = ("", "_b", "_c")

QUIET_ENV = {
    "CUDA_VISIBLE_DEVICES": "-1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # oneDNN reorders float operations; keep the reference outputs plain.
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONHASHSEED": "0",
}

FORMAT_FILES: dict[str, dict[str, Any]] = {
    "keras3": {
        "h5": "model.h5",
        "keras": "model.keras",
        "json+weights": ["arch.json", "model.weights.h5"],
    },
    "keras2": {
        "h5": "model.h5",
        "keras": "model.keras",
        "json+weights": ["arch.json", "weights.h5"],
    },
}

# Activation names known to each generation (checked by deserializing them).
ACTIVATIONS_BOTH = [
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "sigmoid",
    "hard_sigmoid",
    "tanh",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "gelu",
    "exponential",
    "softmax",
    "mish",
]
ACTIVATIONS_KERAS3_ONLY = ["hard_silu"]


def activation_names(gen: str) -> list[str]:
    extra = ACTIVATIONS_KERAS3_ONLY if gen == "keras3" else []
    return ACTIVATIONS_BOTH + extra


# --------------------------------------------------------------------------------------
# Fixture definitions
# --------------------------------------------------------------------------------------


@dataclass
class Built:
    """A built fixture model plus what it covers."""

    model: Any
    covers: list[str]
    # Input shapes (without batch) per input set; None = take them from model.inputs.
    input_sets: list[list[tuple[int, ...]]] | None = None
    input_scale: float = 1.0
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # format -> {"outputs": [j, ...], "why": ...}: outputs that Keras itself, reloading that
    # file, does not reproduce (the other outputs are still checked; the stored outputs are
    # the original model's).
    keras_reload_wrong: dict[str, dict[str, Any]] = field(default_factory=dict)


Builder = Callable[[Any, str], Built]
FIXTURES: list[tuple[str, Builder]] = []


def fixture(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        FIXTURES.append((name, fn))
        return fn

    return register


@fixture("conv2d_basic")
def _conv2d_basic(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((9, 10, 3)),
            L.Conv2D(4, 3, padding="valid"),
            L.Conv2D(5, 3, padding="same"),
            L.Conv2D(4, 3, strides=2),
            L.Conv2D(3, (2, 3), strides=(1, 2), padding="same"),
            L.Conv2D(3, (3, 1), padding="valid"),
        ]
    )
    return Built(
        model,
        [
            "Conv2D:padding=valid",
            "Conv2D:padding=same",
            "Conv2D:strides",
            "Conv2D:non_square_kernel",
            "Graph:sequential",
            "InputLayer:basic",
        ],
    )


@fixture("conv2d_stride2_same_odd")
def _conv2d_stride2_same_odd(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((7, 9, 3))
    branches = [
        L.Conv2D(4, 3, strides=2, padding="same")(x),
        L.Conv2D(3, 2, strides=2, padding="same")(x),
        L.Conv2D(2, 4, strides=2, padding="same")(x),
        L.Conv2D(2, 1, strides=2, padding="same")(x),
    ]
    out1 = L.Concatenate()(branches)
    out2 = L.Conv2D(3, 5, strides=3, padding="same")(x)
    out3 = L.Conv2D(2, 3, strides=(2, 3), padding="same")(x)
    model = k.Model(x, [out1, out2, out3])
    return Built(
        model,
        [
            "Conv2D:strides=2_same_odd_input",
            "Conv2D:padding=same",
            "Conv2D:strides",
            "Concatenate:basic",
            "Graph:functional",
            "Graph:tensor_reused",
            "Graph:multi_output",
            "InputLayer:basic",
        ],
    )


@fixture("conv2d_dilation_groups")
def _conv2d_dilation_groups(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((12, 11, 4)),
            L.Conv2D(6, 3, dilation_rate=2),
            L.Conv2D(6, 3, dilation_rate=(2, 1), padding="same", groups=2),
            L.Conv2D(6, 3, groups=3),
            L.Conv2D(4, 1, use_bias=False),
            L.Conv2D(4, (1, 3), dilation_rate=(1, 2), padding="same", groups=2, use_bias=False),
        ]
    )
    return Built(
        model,
        [
            "Conv2D:dilation",
            "Conv2D:groups",
            "Conv2D:use_bias=false",
            "Conv2D:padding=valid",
            "Conv2D:padding=same",
            "Conv2D:non_square_kernel",
            "Graph:sequential",
        ],
    )


@fixture("conv2d_activation_arg")
def _conv2d_activation_arg(k: Any, gen: str) -> Built:
    L = k.layers
    names = activation_names(gen)
    x = k.Input((6, 7, 3))
    outs = [L.Conv2D(2, 3, padding="same", activation=a, name=f"conv_{a}")(x) for a in names]
    model = k.Model(x, L.Concatenate()(outs))
    return Built(
        model,
        [
            "Conv2D:activation",
            "Conv2D:padding=same",
            "Concatenate:basic",
            "Graph:functional",
            "Graph:tensor_reused",
            *[f"ActivationArg:{a}" for a in names],
        ],
        notes="Output channels 2*i, 2*i+1 come from activation " + ",".join(names),
        extra={"activation_order": names},
    )


@fixture("dense_basic")
def _dense_basic(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((10,)),
            L.Dense(8),
            L.Dense(6, use_bias=False),
            L.Dense(5, activation="relu"),
            L.Dense(3, activation="softmax"),
        ]
    )
    return Built(
        model,
        ["Dense:basic", "Dense:use_bias=false", "Dense:activation", "Graph:sequential", "InputLayer:basic"],
    )


@fixture("dense_activation_arg")
def _dense_activation_arg(k: Any, gen: str) -> Built:
    L = k.layers
    names = activation_names(gen)
    x = k.Input((12,))
    outs = [L.Dense(3, activation=a, name=f"dense_{a}")(x) for a in names]
    model = k.Model(x, L.Concatenate()(outs))
    return Built(
        model,
        [
            "Dense:activation",
            "Dense:basic",
            "Concatenate:basic",
            "Graph:functional",
            "Graph:tensor_reused",
            *[f"ActivationArg:{a}" for a in names],
        ],
        notes="Output columns 3*i..3*i+2 come from activation " + ",".join(names),
        extra={"activation_order": names},
    )


@fixture("dense_3d_reshape_flatten")
def _dense_3d(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((4, 5, 3)),
            L.Reshape((20, 3)),
            L.Dense(6),
            L.Dense(4, activation="tanh", use_bias=False),
            L.Flatten(),
            L.Dense(10),
            L.Reshape((-1, 2)),
            L.Dense(3),
        ]
    )
    return Built(
        model,
        [
            "Dense:3d_input",
            "Reshape:basic",
            "Flatten:basic",
            "Dense:basic",
            "Dense:use_bias=false",
            "Dense:activation",
            "Graph:sequential",
        ],
    )


@fixture("conv_flatten_dense")
def _conv_flatten_dense(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((8, 7, 3)),
            L.Conv2D(4, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(5, 2, padding="same"),
            L.Flatten(),
            L.Dense(6, activation="relu"),
            L.Dropout(0.5),
            L.Dense(3, activation="softmax"),
        ]
    )
    return Built(
        model,
        [
            "Flatten:basic",
            "Dense:basic",
            "Conv2D:activation",
            "MaxPooling2D:padding=valid",
            "Dropout:basic",
            "Graph:sequential",
        ],
    )


@fixture("conv2d_transpose_basic")
def _conv2d_transpose_basic(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((4, 5, 3)),
            L.Conv2DTranspose(4, 3),
            L.Conv2DTranspose(3, 3, strides=2, padding="same", use_bias=False),
            L.Conv2DTranspose(3, (2, 3), strides=(2, 1), activation="relu"),
            L.Conv2DTranspose(2, 3, strides=2, output_padding=1, activation="sigmoid"),
        ]
    )
    return Built(
        model,
        [
            "Conv2DTranspose:padding=valid",
            "Conv2DTranspose:padding=same",
            "Conv2DTranspose:strides",
            "Conv2DTranspose:use_bias=false",
            "Conv2DTranspose:activation",
            "Conv2DTranspose:output_padding",
            "Graph:sequential",
        ],
    )


def transpose_combos(
    kernel: int,
) -> tuple[list[tuple[str, int, int | None]], list[tuple[str, int, int | None]]]:
    """All (padding, stride, output_padding) combinations Keras accepts for a kernel.

    Returns (runnable, skipped). Skipped: padding='same', even kernel, output_padding=0:
    Keras computes an output size of (n-1)*s, for which TensorFlow's
    conv2d_transpose raises InvalidArgumentError (no forward 'same' conv maps that
    size back to n), in both generations.
    """
    runnable: list[tuple[str, int, int | None]] = []
    skipped: list[tuple[str, int, int | None]] = []
    for padding in ("valid", "same"):
        for stride in (1, 2, 3):
            for op in [None, *range(stride)]:
                combo = (padding, stride, op)
                if padding == "same" and kernel % 2 == 0 and op == 0:
                    skipped.append(combo)
                else:
                    runnable.append(combo)
    return runnable, skipped


def _combo_name(kernel: int, combo: tuple[str, int, int | None]) -> str:
    padding, stride, op = combo
    return f"ct_k{kernel}_{padding}_s{stride}_op{'none' if op is None else op}"


def _make_transpose_combos(kernel: int) -> Builder:
    def build(k: Any, gen: str) -> Built:
        L = k.layers
        runnable, skipped = transpose_combos(kernel)
        # Check that the skipped combinations still fail (so we notice if TF fixes it).
        for combo in skipped:
            padding, stride, op = combo
            probe = L.Conv2DTranspose(1, kernel, strides=stride, padding=padding, output_padding=op)
            try:
                probe(np.zeros((1, 5, 4, 1), np.float32))
            except Exception:  # any TensorFlow error means "not runnable"
                continue
            raise RuntimeError(f"{combo} for kernel {kernel} now runs: add it")
        k.backend.clear_session()
        x = k.Input((5, 4, 3))
        outs = []
        for combo in runnable:
            padding, stride, op = combo
            outs.append(
                L.Conv2DTranspose(
                    2,
                    kernel,
                    strides=stride,
                    padding=padding,
                    output_padding=op,
                    name=_combo_name(kernel, combo),
                )(x)
            )
        model = k.Model(x, outs)
        return Built(
            model,
            [
                "Conv2DTranspose:output_padding",
                "Conv2DTranspose:strides",
                "Conv2DTranspose:padding=valid",
                "Conv2DTranspose:padding=same",
                "Graph:multi_output",
                "Graph:tensor_reused",
                "Graph:functional",
            ],
            notes=(
                "One output per (padding, stride, output_padding), named like the layer. "
                "Not present because TensorFlow cannot run them (InvalidArgumentError): "
                + ", ".join(_combo_name(kernel, c) for c in skipped)
                if skipped
                else "One output per (padding, stride, output_padding)."
            ),
            extra={
                "output_layers": [_combo_name(kernel, c) for c in runnable],
                "skipped_combinations": [_combo_name(kernel, c) for c in skipped],
            },
        )

    return build


for _kernel in (2, 3, 4):
    fixture(f"conv2d_transpose_combos_k{_kernel}")(_make_transpose_combos(_kernel))


@fixture("depthwise_conv")
def _depthwise(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((12, 11, 3)),
            L.DepthwiseConv2D(3, dilation_rate=2),
            L.DepthwiseConv2D(3),
            L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
            L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False),
            L.DepthwiseConv2D((2, 3), depth_multiplier=3, activation="relu"),
        ]
    )
    return Built(
        model,
        [
            "DepthwiseConv2D:basic",
            "DepthwiseConv2D:depth_multiplier",
            "DepthwiseConv2D:padding=same",
            "DepthwiseConv2D:strides",
            "DepthwiseConv2D:dilation",
            "DepthwiseConv2D:use_bias=false",
            "Graph:sequential",
        ],
    )


POOL_CONFIGS: list[tuple[Any, Any, str]] = [
    (2, None, "valid"),
    (2, None, "same"),
    (3, 2, "valid"),
    (3, 2, "same"),
    ((2, 3), (1, 2), "same"),
    ((3, 2), 1, "same"),
]


@fixture("pooling")
def _pooling(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((7, 9, 3))
    outs = []
    for cls in (L.MaxPooling2D, L.AveragePooling2D):
        for pool, strides, padding in POOL_CONFIGS:
            outs.append(cls(pool_size=pool, strides=strides, padding=padding)(x))
    model = k.Model(x, outs)
    desc = [
        f"{c}(pool_size={p}, strides={s}, padding={pad})"
        for c in ("MaxPooling2D", "AveragePooling2D")
        for p, s, pad in POOL_CONFIGS
    ]
    return Built(
        model,
        [
            "MaxPooling2D:padding=valid",
            "MaxPooling2D:padding=same",
            "MaxPooling2D:strides",
            "AveragePooling2D:padding=valid",
            "AveragePooling2D:padding=same",
            "AveragePooling2D:strides",
            "Graph:multi_output",
            "Graph:tensor_reused",
            "Graph:functional",
        ],
        notes="Outputs in order: " + "; ".join(desc),
    )


@fixture("global_pooling")
def _global_pooling(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((5, 6, 4))
    t = L.Conv2D(5, 3, padding="same")(x)
    outs = [
        L.GlobalAveragePooling2D()(t),
        L.GlobalAveragePooling2D(keepdims=True)(t),
        L.GlobalMaxPooling2D()(t),
        L.GlobalMaxPooling2D(keepdims=True)(t),
    ]
    return Built(
        k.Model(x, outs),
        [
            "GlobalAveragePooling2D:basic",
            "GlobalAveragePooling2D:keepdims",
            "GlobalMaxPooling2D:basic",
            "GlobalMaxPooling2D:keepdims",
            "Graph:multi_output",
            "Graph:tensor_reused",
        ],
    )


@fixture("batchnorm_fold")
def _batchnorm_fold(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((8, 8, 3)),
            L.Conv2D(4, 3),
            L.BatchNormalization(),
            L.ReLU(),
            L.DepthwiseConv2D(3, use_bias=False),
            L.BatchNormalization(),
            L.ReLU(max_value=6.0),
            L.Flatten(),
            L.Dense(6),
            L.BatchNormalization(),
            L.Activation("relu"),
            L.Dense(3),
        ]
    )
    return Built(
        model,
        [
            "BatchNormalization:fold_conv",
            "BatchNormalization:fold_depthwise",
            "BatchNormalization:fold_dense",
            "ReLU:basic",
            "ReLU:max_value",
            "Graph:sequential",
        ],
    )


@fixture("batchnorm_standalone")
def _batchnorm_standalone(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((6, 7, 3))
    b0 = L.BatchNormalization(epsilon=0.1)(x)
    t = L.Conv2D(4, 3, padding="same")(b0)
    a = L.BatchNormalization(center=False)(t)
    b = L.Conv2D(4, 1)(t)
    out1 = L.Add()([a, b])
    p = L.MaxPooling2D(2)(t)
    c = L.BatchNormalization(scale=False, epsilon=1e-5)(p)
    out2 = L.BatchNormalization(center=False, scale=False, epsilon=0.5)(c)
    return Built(
        k.Model(x, [out1, out2]),
        [
            "BatchNormalization:standalone",
            "BatchNormalization:center=false",
            "BatchNormalization:scale=false",
            "BatchNormalization:epsilon",
            "Add:basic",
            "Graph:tensor_reused",
            "Graph:multi_output",
            "Graph:functional",
        ],
        notes="BN right after the input, after a conv whose output is used elsewhere, and after pooling.",
    )


@fixture("activation_layers")
def _activation_layers(k: Any, gen: str) -> Built:
    L = k.layers
    names = activation_names(gen)
    x = k.Input((4, 5, 6))
    outs = [L.Activation(a, name=f"act_{a}")(x) for a in names]
    return Built(
        k.Model(x, L.Concatenate()(outs)),
        [f"Activation:{a}" for a in names] + ["Concatenate:basic", "Graph:tensor_reused"],
        input_scale=1.5,
        notes="Output channels 6*i..6*i+5 come from activation " + ",".join(names),
        extra={"activation_order": names},
    )


@fixture("advanced_activations")
def _advanced_activations(k: Any, gen: str) -> Built:
    L = k.layers
    slope_kw = "alpha" if gen == "keras2" else "negative_slope"
    x = k.Input((5, 5, 4))
    layers = [
        L.ReLU(),
        L.ReLU(max_value=1.5),
        L.ReLU(negative_slope=0.1),
        L.ReLU(threshold=0.5),
        L.ReLU(max_value=2.0, negative_slope=0.2, threshold=0.3),
        L.LeakyReLU(),
        L.LeakyReLU(**{slope_kw: 0.15}),
        L.ELU(alpha=0.7),
        L.Softmax(),
    ]
    outs = [layer(x) for layer in layers]
    return Built(
        k.Model(x, L.Concatenate()(outs)),
        [
            "ReLU:basic",
            "ReLU:max_value",
            "ReLU:negative_slope",
            "ReLU:threshold",
            "LeakyReLU:default_slope",
            "LeakyReLU:slope",
            "ELU:alpha",
            "Softmax:basic",
            "Concatenate:basic",
        ],
        input_scale=2.0,
        notes="Output channels 4*i..4*i+3 from: ReLU(), ReLU(max_value=1.5), "
        "ReLU(negative_slope=0.1), ReLU(threshold=0.5), "
        "ReLU(max_value=2, negative_slope=0.2, threshold=0.3), LeakyReLU(), "
        "LeakyReLU(0.15), ELU(alpha=0.7), Softmax()",
    )


@fixture("padding_upsampling")
def _padding_upsampling(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((5, 6, 3)),
            L.ZeroPadding2D(1),
            L.Conv2D(3, 3),
            L.ZeroPadding2D((2, 1)),
            L.ZeroPadding2D(((1, 2), (0, 3))),
            L.UpSampling2D(2),
            L.Conv2D(2, 3),
            L.UpSampling2D((2, 3)),
        ]
    )
    return Built(
        model,
        ["ZeroPadding2D:symmetric", "ZeroPadding2D:asymmetric", "UpSampling2D:nearest", "Graph:sequential"],
    )


@fixture("dropout_noise")
def _dropout_noise(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((6, 6, 3)),
            L.Conv2D(4, 3),
            L.Dropout(0.5),
            L.SpatialDropout2D(0.3),
            L.GaussianNoise(0.5),
            L.GaussianDropout(0.3),
            L.AlphaDropout(0.2),
            L.Flatten(),
            L.Dense(3),
        ]
    )
    return Built(
        model,
        [
            "Dropout:basic",
            "SpatialDropout2D:basic",
            "GaussianNoise:basic",
            "GaussianDropout:basic",
            "AlphaDropout:basic",
            "Graph:sequential",
        ],
    )


@fixture("merge_multi_input")
def _merge_multi_input(k: Any, gen: str) -> Built:
    L = k.layers
    a = k.Input((6, 6, 3), name="img_a")
    b = k.Input((6, 6, 3), name="img_b")
    v = k.Input((4,), name="vec")
    x = L.Conv2D(4, 3, padding="same")(a)
    y = L.Conv2D(4, 3, padding="same")(b)
    z = L.Conv2D(4, 1)(a)
    s = L.Add()([x, y])
    t = L.Add()([x, y, z])
    c = L.Concatenate()([s, t, a])
    h = L.GlobalAveragePooling2D()(L.Conv2D(4, 3)(c))
    h = L.Concatenate()([h, L.Dense(3)(v)])
    out1 = L.Dense(2)(h)
    out2 = L.Concatenate(axis=1)([s, t])
    # Model input order differs from the order the Input tensors were created in.
    model = k.Model([a, v, b], [out1, out2])
    return Built(
        model,
        [
            "Graph:multi_input",
            "Graph:multi_output",
            "Graph:functional",
            "Graph:tensor_reused",
            "Graph:skip_connection",
            "Add:basic",
            "Add:three_inputs",
            "Concatenate:basic",
            "Concatenate:axis",
            "GlobalAveragePooling2D:basic",
            "Dense:basic",
        ],
        notes="Inputs are [img_a, vec, img_b] (not creation order). out2 concatenates along axis 1 (height).",
    )


@fixture("shared_layer")
def _shared_layer(k: Any, gen: str) -> Built:
    L = k.layers
    a = k.Input((6, 6, 3))
    b = k.Input((6, 6, 3))
    conv = L.Conv2D(3, 3, padding="same", name="shared_conv")
    dense = L.Dense(4, name="shared_dense")
    ya = conv(a)
    yb = conv(b)
    yaa = conv(ya)
    gap = L.GlobalAveragePooling2D()
    out1 = L.Concatenate()([ya, yb, yaa])
    out2 = L.Add()([dense(gap(ya)), dense(gap(yb))])
    return Built(
        k.Model([a, b], [out1, out2]),
        [
            "Graph:shared_layer",
            "Graph:multi_input",
            "Graph:multi_output",
            "Graph:functional",
            "Concatenate:basic",
            "Add:basic",
        ],
        notes="shared_conv is called 3 times (on a, b and on its own output); "
        "shared_dense and the GlobalAveragePooling2D layer twice.",
    )


@fixture("unknown_hw")
def _unknown_hw(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((None, None, 3))
    t = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    t = L.Conv2D(5, 3, strides=2)(t)
    t = L.MaxPooling2D(2, padding="same")(t)
    out1 = L.Conv2DTranspose(3, 3, strides=2, padding="same")(t)
    out2 = L.Dense(2)(L.GlobalAveragePooling2D()(t))
    return Built(
        k.Model(x, [out1, out2]),
        [
            "Graph:unknown_hw",
            "Graph:multi_output",
            "Graph:functional",
            "Conv2DTranspose:padding=same",
            "MaxPooling2D:padding=same",
        ],
        input_sets=[[(9, 11, 3)], [(12, 8, 3)]],
    )


@fixture("unet_small")
def _unet(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((16, 16, 3))
    c1 = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    p1 = L.MaxPooling2D(2)(c1)
    c2 = L.Conv2D(8, 3, padding="same", activation="relu")(p1)
    p2 = L.MaxPooling2D(2)(c2)
    bott = L.Conv2D(8, 3, padding="same", activation="relu")(p2)
    u2 = L.Conv2DTranspose(8, 2, strides=2)(bott)
    d2 = L.Conv2D(8, 3, padding="same", activation="relu")(L.Concatenate()([u2, c2]))
    u1 = L.Conv2DTranspose(4, 3, strides=2, padding="same")(d2)
    d1 = L.Conv2D(4, 3, padding="same", activation="relu")(L.Concatenate()([u1, c1]))
    out = L.Conv2D(2, 1, activation="sigmoid")(d1)
    return Built(
        k.Model(x, out),
        [
            "Model:unet",
            "Graph:skip_connection",
            "Graph:functional",
            "Concatenate:basic",
            "Conv2DTranspose:strides",
        ],
    )


@fixture("residual_bn")
def _residual_bn(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((8, 8, 6))
    # identity block (the skip comes straight from the input)
    y = L.ReLU()(L.BatchNormalization()(L.Conv2D(6, 3, padding="same")(x)))
    y = L.BatchNormalization()(L.Conv2D(6, 3, padding="same")(y))
    h = L.ReLU()(L.Add()([x, y]))
    # projection block with stride 2
    sc = L.BatchNormalization()(L.Conv2D(10, 1, strides=2)(h))
    y = L.ReLU()(L.BatchNormalization()(L.Conv2D(10, 3, strides=2, padding="same")(h)))
    y = L.BatchNormalization()(L.Conv2D(10, 3, padding="same", use_bias=False)(y))
    h = L.ReLU()(L.Add()([sc, y]))
    out = L.Dense(5, activation="softmax")(L.GlobalAveragePooling2D()(h))
    return Built(
        k.Model(x, out),
        [
            "Model:residual_bn",
            "Graph:skip_connection",
            "BatchNormalization:fold_conv",
            "Add:basic",
            "Graph:functional",
        ],
    )


@fixture("two_outputs")
def _two_outputs(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((8, 8, 3))
    t = L.Conv2D(6, 3, padding="same", activation="relu")(x)
    t = L.MaxPooling2D(2)(t)
    head1 = L.Dense(4, activation="softmax", name="cls")(L.GlobalAveragePooling2D()(t))
    head2 = L.Conv2D(1, 1, activation="sigmoid", name="seg")(t)
    return Built(
        k.Model(x, [head1, head2]),
        ["Model:two_outputs", "Graph:multi_output", "Graph:functional"],
    )


@fixture("sequential_custom_names")
def _sequential_custom_names(k: Any, gen: str) -> Built:
    L = k.layers
    # Same-shape layers whose names do not match their class/position numbering:
    # in a Keras 3 .keras file "c1" sits at layers/conv2d, "conv2d_2" at
    # layers/conv2d_1 and "conv2d" at layers/conv2d_2; likewise for the Dense layers.
    model = k.Sequential(
        [
            k.Input((6, 6, 4)),
            L.Conv2D(4, 3, padding="same", name="c1"),
            L.Conv2D(4, 3, padding="same", name="conv2d_2"),
            L.Conv2D(4, 3, padding="same", name="conv2d"),
            L.BatchNormalization(name="bn"),
            L.Flatten(name="flat"),
            L.Dense(5, name="dense_1"),
            L.Dense(5, name="dense"),
            L.Dense(5, name="a_dense"),
        ],
        name="my_seq",
    )
    return Built(
        model,
        [
            "Graph:custom_names",
            "Graph:sequential",
            "Conv2D:padding=same",
            "BatchNormalization:fold_conv",
            "Dense:basic",
        ],
        notes="Layer names chosen to collide with Keras's automatic per-class names.",
    )


@fixture("sequential_implicit_input")
def _sequential_implicit_input(k: Any, gen: str) -> Built:
    L = k.layers
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras 3 warns about input_shape=
        model = k.Sequential(
            [
                L.Conv2D(4, 3, input_shape=(7, 6, 3), activation="relu"),
                L.MaxPooling2D(2),
                L.Flatten(),
                L.Dense(3, activation="softmax"),
            ]
        )
    return Built(
        model,
        [
            "InputLayer:implicit",
            "Graph:sequential",
            "Conv2D:activation",
            "MaxPooling2D:padding=valid",
            "Flatten:basic",
        ],
        notes="No Input/InputLayer given: input_shape= on the first layer.",
    )


@fixture("nested_model")
def _nested_model(k: Any, gen: str) -> Built:
    L = k.layers
    inner = k.Sequential(
        [
            k.Input((6, 6, 3)),
            L.Conv2D(4, 3, padding="same"),
            L.BatchNormalization(),
            L.ReLU(),
        ],
        name="inner_block",
    )
    x = k.Input((6, 6, 3))
    h = inner(x)
    h = L.Conv2D(3, 3)(h)
    out = L.Dense(2)(L.Flatten()(h))
    return Built(
        k.Model(x, out),
        ["Graph:nested_model", "Graph:functional"],
        notes="A Sequential model used as a layer inside a Functional model.",
    )


# --------------------------------------------------------------------------------------
# Issue 8: broadcasting merges, preprocessing layers, SeparableConv2D, cropping and
# resizing, PReLU, LayerNormalization, LayerScale, BatchNormalization on other axes, the
# newer activations, Permute, 1-D layers, and operator layers (Keras 3 keras.src.ops.*,
# tf.keras TFOpLambda / SlicingOpLambda).
# --------------------------------------------------------------------------------------

# Keras 3 activations added after the first set (checked: Activation(name) and
# Conv2D(activation=name) build, save and reload). tf_keras 2.21 knows only log_softmax.
NEW_ACTIVATIONS_KERAS3 = [
    "celu",
    "glu",
    "hard_shrink",
    "hard_tanh",
    "log_sigmoid",
    "log_softmax",
    "soft_shrink",
    "sparse_plus",
    "squareplus",
    "tanh_shrink",
    "hard_swish",
    "sparse_sigmoid",
    "sparsemax",
]
NEW_ACTIVATIONS_KERAS2 = ["log_softmax"]


def new_activation_names(gen: str) -> list[str]:
    return NEW_ACTIVATIONS_KERAS3 if gen == "keras3" else NEW_ACTIVATIONS_KERAS2


def _adapt_data(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Data for Normalization.adapt(): per-position means and spreads far from 0 and 1."""
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(shape[1:]) * 2.0
    spread = rng.uniform(0.3, 3.0, shape[1:])
    return (rng.standard_normal(shape) * spread + mean).astype(np.float32)


@fixture("merge_elementwise")
def _merge_elementwise(k: Any, gen: str) -> Built:
    L = k.layers
    a = k.Input((4, 5, 3), name="a")
    b = k.Input((4, 5, 3), name="b")
    c = k.Input((1, 1, 3), name="c")
    d = k.Input((4, 5, 1), name="d")
    outs = [
        L.Multiply(name="mul")([a, b]),
        L.Multiply(name="mul3")([a, b, d]),
        L.Multiply(name="mul_bc_c")([a, c]),
        L.Multiply(name="mul_bc_hw")([d, a]),
        L.Subtract(name="sub")([a, b]),
        L.Subtract(name="sub_bc")([c, a]),
        L.Maximum(name="max")([a, b]),
        L.Maximum(name="max3_bc")([a, b, c]),
        L.Minimum(name="min")([a, b]),
        L.Minimum(name="min3_bc")([b, a, d]),
        L.Average(name="avg")([a, b]),
        L.Average(name="avg3_bc")([a, b, c]),
        L.Add(name="add_bc")([a, c]),
    ]
    # squeeze-and-excite as in MobileNetV3 / EfficientNet: (N,H,W,C) * (N,1,1,C)
    t = L.Conv2D(4, 3, padding="same", name="se_conv")(a)
    s = L.GlobalAveragePooling2D(keepdims=True, name="se_pool")(t)
    s = L.Conv2D(2, 1, activation="relu", name="se_reduce")(s)
    s = L.Conv2D(4, 1, activation="sigmoid", name="se_expand")(s)
    outs.append(L.Multiply(name="se_excite")([t, s]))
    return Built(
        k.Model([a, b, c, d], outs),
        [
            "Multiply:basic",
            "Multiply:three_inputs",
            "Multiply:broadcast",
            "Subtract:basic",
            "Subtract:broadcast",
            "Maximum:basic",
            "Maximum:three_inputs",
            "Maximum:broadcast",
            "Minimum:basic",
            "Minimum:three_inputs",
            "Minimum:broadcast",
            "Average:basic",
            "Average:three_inputs",
            "Average:broadcast",
            "Add:broadcast",
            "Model:squeeze_excite",
            "Graph:multi_input",
            "Graph:multi_output",
            "Graph:tensor_reused",
        ],
        notes="Inputs a (4,5,3), b (4,5,3), c (1,1,3), d (4,5,1). Outputs in order: "
        "mul(a,b), mul3(a,b,d), mul_bc_c(a,c), mul_bc_hw(d,a), sub(a,b), sub_bc(c,a), "
        "max(a,b), max3_bc(a,b,c), min(a,b), min3_bc(b,a,d), avg(a,b), avg3_bc(a,b,c), "
        "add_bc(a,c), se_excite (conv * sigmoid(conv(relu(conv(gap_keepdims)))))",
    )


@fixture("rescaling")
def _rescaling(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((5, 6, 3))
    outs = [
        L.Rescaling(1.0 / 255.0, name="scale_only")(x),
        L.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_offset")(x),
        L.Rescaling([0.5, 2.0, -1.5], offset=[0.1, -0.2, 0.3], name="per_channel")(x),
        L.Rescaling([0.25, 4.0, 1.0], name="per_channel_scale_only")(x),
    ]
    outs.append(L.Conv2D(2, 3, name="conv")(L.Rescaling(2.0, offset=0.5, name="before_conv")(x)))
    return Built(
        k.Model(x, outs),
        [
            "Rescaling:scalar",
            "Rescaling:offset",
            "Rescaling:per_channel",
            "Graph:multi_output",
            "Graph:tensor_reused",
        ],
        input_scale=50.0,
        notes="Outputs: Rescaling(1/255), Rescaling(1/127.5, offset=-1), per-channel scale and offset, "
        "per-channel scale, Conv2D(Rescaling(2, offset=0.5)).",
    )


@fixture("normalization")
def _normalization(k: Any, gen: str) -> Built:
    L = k.layers
    shape = (4, 5, 3)
    x = k.Input(shape)
    adapted_last = L.Normalization(axis=-1, name="norm_adapt_last")
    adapted_last.adapt(_adapt_data((16, *shape), 1))
    adapted_h = L.Normalization(axis=1, name="norm_adapt_axis1")
    adapted_h.adapt(_adapt_data((16, *shape), 2))
    outs = [
        adapted_last(x),
        adapted_h(x),
        L.Normalization(axis=-1, mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0], name="norm_args")(x),
        L.Normalization(
            axis=2, mean=[1.0, 0.0, -1.0, 2.0, 0.5], variance=[1.0, 2.0, 3.0, 0.5, 0.1], name="norm_args_w"
        )(x),
        L.Normalization(axis=-1, mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0], invert=True, name="norm_invert")(x),
    ]
    return Built(
        k.Model(x, outs),
        [
            "Normalization:adapt_last_axis",
            "Normalization:adapt_other_axis",
            "Normalization:mean_variance_args",
            "Normalization:mean_variance_args_other_axis",
            "Normalization:invert",
            "Graph:multi_output",
            "Graph:tensor_reused",
        ],
        input_scale=2.0,
        notes="Outputs: Normalization adapted over axis -1 and axis 1; mean/variance args on axis -1 and "
        "axis 2; invert=True with mean/variance args. (axis=(1, 3) is left out: Keras 3.15 cannot reload "
        "its own .h5 of it, 'Weight expects shape (3,). Received saved weight with shape (4, 3)'.)",
    )


@fixture("separable_conv")
def _separable_conv(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((11, 10, 3)),
            L.SeparableConv2D(4, 3),
            L.SeparableConv2D(5, 3, padding="same", depth_multiplier=2),
            L.SeparableConv2D(4, 3, strides=2, padding="same", use_bias=False),
            L.SeparableConv2D(3, (3, 2), dilation_rate=(2, 1), padding="same", activation="relu"),
            L.SeparableConv2D(4, 2, depth_multiplier=3, activation="sigmoid"),
        ]
    )
    return Built(
        model,
        [
            "SeparableConv2D:basic",
            "SeparableConv2D:depth_multiplier",
            "SeparableConv2D:strides",
            "SeparableConv2D:dilation",
            "SeparableConv2D:padding=same",
            "SeparableConv2D:use_bias=false",
            "SeparableConv2D:activation",
            "Graph:sequential",
        ],
    )


@fixture("cropping2d")
def _cropping2d(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((9, 8, 3))
    outs = [
        L.Cropping2D(1, name="crop_int")(x),
        L.Cropping2D((2, 1), name="crop_pair")(x),
        L.Cropping2D(((1, 0), (2, 3)), name="crop_pairs")(x),
        L.CenterCrop(5, 5, name="center_odd")(x),
        L.CenterCrop(4, 6, name="center_even")(x),
        L.CenterCrop(6, 3, name="center_mixed")(x),
    ]
    t = L.Conv2D(3, 3, padding="same", name="conv")(x)
    outs.append(L.Cropping2D(((0, 2), (1, 1)), name="crop_after_conv")(t))
    return Built(
        k.Model(x, outs),
        [
            "Cropping2D:int",
            "Cropping2D:pair",
            "Cropping2D:pairs",
            "CenterCrop:basic",
            "CenterCrop:odd_even",
            "Graph:multi_output",
            "Graph:tensor_reused",
        ],
        notes="Input 9x8. Outputs: Cropping2D(1), (2,1), ((1,0),(2,3)), CenterCrop(5,5), (4,6), (6,3), "
        "Cropping2D(((0,2),(1,1))) after a conv.",
    )


@fixture("center_crop_larger")
def _center_crop_larger(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((5, 6, 3))
    outs = [L.CenterCrop(7, 6, name="center_taller")(x), L.CenterCrop(4, 9, name="center_wider")(x)]
    return Built(
        k.Model(x, outs),
        ["CenterCrop:target_larger_than_input", "Graph:multi_output"],
        notes="Input 5x6; targets 7x6 and 4x9 are larger than the input on one side, which Keras "
        "handles by resizing (not cropping) the image.",
    )


@fixture("resizing")
def _resizing(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((6, 8, 3))
    outs = [
        L.Resizing(9, 12, name="bilinear_up")(x),
        L.Resizing(4, 5, name="bilinear_down")(x),
        L.Resizing(7, 5, name="bilinear_mixed")(x),
        L.Resizing(12, 16, interpolation="nearest", name="nearest_up2")(x),
        L.Resizing(5, 7, interpolation="nearest", name="nearest_mixed")(x),
        L.Resizing(3, 4, interpolation="nearest", name="nearest_down2")(x),
        L.Resizing(5, 5, crop_to_aspect_ratio=True, name="crop_aspect")(x),
        L.Resizing(4, 9, interpolation="nearest", crop_to_aspect_ratio=True, name="crop_aspect_nearest")(x),
    ]
    covers = [
        "Resizing:bilinear",
        "Resizing:nearest",
        "Resizing:crop_to_aspect_ratio",
        "Graph:multi_output",
        "Graph:tensor_reused",
    ]
    names = [
        "bilinear_up",
        "bilinear_down",
        "bilinear_mixed",
        "nearest_up2",
        "nearest_mixed",
        "nearest_down2",
        "crop_aspect",
        "crop_aspect_nearest",
    ]
    if gen == "keras3":
        outs.append(L.Resizing(5, 5, pad_to_aspect_ratio=True, name="pad_aspect")(x))
        outs.append(L.Resizing(9, 6, pad_to_aspect_ratio=True, fill_value=0.5, name="pad_aspect_fill")(x))
        covers.append("Resizing:pad_to_aspect_ratio")
        names += ["pad_aspect", "pad_aspect_fill"]
    return Built(
        k.Model(x, outs),
        covers,
        notes="Input 6x8. Outputs in order: " + ", ".join(names),
        extra={"output_layers": names},
    )


@fixture("upsampling_bilinear")
def _upsampling_bilinear(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((3, 4, 2)),
            L.UpSampling2D(2, interpolation="bilinear"),
            L.Conv2D(3, 3),
            L.UpSampling2D((3, 2), interpolation="bilinear"),
            L.UpSampling2D((1, 2), interpolation="nearest"),
        ]
    )
    return Built(model, ["UpSampling2D:bilinear", "UpSampling2D:nearest", "Graph:sequential"])


@fixture("prelu")
def _prelu(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((4, 5, 3))
    t = L.Conv2D(4, 3, padding="same", name="conv")(x)
    outs = [
        L.PReLU(name="prelu_full")(t),
        L.PReLU(shared_axes=[1, 2], name="prelu_channel")(t),
        L.PReLU(shared_axes=[1], name="prelu_shared_h")(t),
        L.PReLU(name="prelu_dense")(L.Dense(5, name="dense")(L.Flatten()(x))),
    ]
    return Built(
        k.Model(x, outs),
        ["PReLU:basic", "PReLU:shared_axes", "PReLU:shared_axes_partial", "PReLU:dense", "Graph:multi_output"],
        input_scale=2.0,
        notes="alpha shapes: (4,5,4) full, (1,1,4) shared over H,W, (1,5,4) shared over H, (5,) after Dense.",
    )


@fixture("layer_normalization")
def _layer_normalization(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((3, 4, 6))
    outs = [
        L.LayerNormalization(name="ln")(x),
        L.LayerNormalization(center=False, name="ln_no_center")(x),
        L.LayerNormalization(scale=False, epsilon=0.1, name="ln_no_scale_eps")(x),
        L.LayerNormalization(center=False, scale=False, epsilon=1e-6, name="ln_plain")(x),
        L.LayerNormalization(epsilon=0.5, name="ln_dense")(L.Dense(5, name="dense")(L.Flatten()(x))),
    ]
    return Built(
        k.Model(x, outs),
        [
            "LayerNormalization:basic",
            "LayerNormalization:center=false",
            "LayerNormalization:scale=false",
            "LayerNormalization:epsilon",
            "LayerNormalization:2d_input",
            "Graph:multi_output",
        ],
        input_scale=2.0,
    )


def layer_scale_class(gen: str) -> Any:
    """The LayerScale class keras.applications' ConvNeXt uses (not a public layer)."""
    if gen == "keras2":
        from tf_keras.src.applications.convnext import LayerScale
    else:
        from keras.src.applications.convnext import LayerScale
    return LayerScale


@fixture("convnext_block")
def _convnext_block(k: Any, gen: str) -> Built:
    L = k.layers
    LayerScale = layer_scale_class(gen)
    x = k.Input((6, 6, 4))
    t = L.Conv2D(4, 7, padding="same", groups=4, name="block_depthwise_conv")(x)
    t = L.LayerNormalization(epsilon=1e-6, name="block_layernorm")(t)
    t = L.Dense(16, name="block_pointwise_conv_1")(t)
    t = L.Activation("gelu", name="block_gelu")(t)
    t = L.Dense(4, name="block_pointwise_conv_2")(t)
    t = LayerScale(1e-6, 4, name="block_layer_scale")(t)
    t = L.Activation("linear", name="block_identity")(t)
    out = L.Add(name="block_add")([x, t])
    return Built(
        k.Model(x, out),
        ["LayerScale:basic", "Model:convnext_block", "LayerNormalization:epsilon", "Graph:skip_connection"],
        notes="One ConvNeXt block as keras.applications builds it (LayerScale from its convnext module); "
        "LayerScale gamma is randomized, not 1e-6.",
        extra={"custom_objects": ["LayerScale"]},
    )


@fixture("batchnorm_axes")
def _batchnorm_axes(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((4, 5, 3))
    t = L.Conv2D(3, 3, padding="same", name="conv")(x)
    outs = [
        L.BatchNormalization(axis=1, name="bn_h")(x),
        L.BatchNormalization(axis=2, epsilon=0.01, name="bn_w")(x),
        L.BatchNormalization(axis=1, center=False, name="bn_h_no_center")(t),
        L.BatchNormalization(axis=2, scale=False, name="bn_w_no_scale")(t),
        L.BatchNormalization(axis=-1, name="bn_c")(t),
    ]
    return Built(
        k.Model(x, outs),
        [
            "BatchNormalization:axis=1",
            "BatchNormalization:axis=2",
            "BatchNormalization:standalone",
            "BatchNormalization:center=false",
            "BatchNormalization:scale=false",
            "Graph:multi_output",
        ],
    )


@fixture("activations_new")
def _activations_new(k: Any, gen: str) -> Built:
    L = k.layers
    names = new_activation_names(gen)
    x = k.Input((3, 4, 6))
    layer_outs = [L.Activation(a, name=f"act_{a}")(x) for a in names]
    arg_outs = [L.Conv2D(4, 1, activation=a, name=f"conv_{a}")(x) for a in names]
    dense_outs = [L.Dense(4, activation=a, name=f"dense_{a}")(L.Flatten()(x)) for a in names]
    outs = [L.Concatenate()(o) if len(o) > 1 else o[0] for o in (layer_outs, arg_outs, dense_outs)]
    return Built(
        k.Model(x, outs),
        [f"Activation:{a}" for a in names]
        + [f"ActivationArg:{a}" for a in names]
        + ["Conv2D:activation", "Dense:activation", "Graph:multi_output"],
        input_scale=1.5,
        notes="Output 0: Activation layers concatenated in activation_order (glu halves the channels: "
        "6 -> 3); output 1: Conv2D(4, 1, activation=a) concatenated (glu: 4 -> 2); output 2: "
        "Dense(4, activation=a) on the flattened input, concatenated (glu: 4 -> 2).",
        extra={"activation_order": names},
    )


@fixture("permute")
def _permute(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((3, 4, 5))
    outs = [
        L.Permute((2, 1, 3), name="swap_hw")(x),
        L.Permute((3, 1, 2), name="channels_first")(x),
        L.Permute((1, 3, 2), name="swap_wc")(x),
        L.Permute((2, 1), name="swap_1d")(L.Reshape((12, 5), name="reshape")(x)),
    ]
    t = L.Permute((2, 1, 3), name="swap_then_conv")(x)
    outs.append(L.Conv2D(2, 3, name="conv")(t))
    return Built(
        k.Model(x, outs),
        ["Permute:basic", "Permute:channels_moved", "Permute:3d", "Graph:multi_output"],
    )


@fixture("conv1d")
def _conv1d(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((16, 4))
    outs = [
        L.Conv1D(6, 3, name="valid")(x),
        L.Conv1D(5, 3, strides=2, padding="same", name="same_s2")(x),
        L.Conv1D(3, 4, strides=3, padding="same", name="same_even_s3")(x),
        L.Conv1D(4, 3, dilation_rate=2, padding="causal", name="causal_d2")(x),
        L.Conv1D(4, 2, strides=2, padding="causal", name="causal_s2")(x),
        L.Conv1D(4, 3, groups=2, padding="same", activation="relu", name="groups")(x),
        L.Conv1D(3, 1, use_bias=False, name="pointwise_no_bias")(x),
        L.Conv1D(4, 3, dilation_rate=3, padding="same", activation="tanh", name="same_d3")(x),
    ]
    return Built(
        k.Model(x, outs),
        [
            "Conv1D:padding=valid",
            "Conv1D:padding=same",
            "Conv1D:padding=causal",
            "Conv1D:strides",
            "Conv1D:dilation",
            "Conv1D:groups",
            "Conv1D:use_bias=false",
            "Conv1D:activation",
            "Graph:multi_output",
            "Graph:tensor_reused",
        ],
    )


@fixture("pooling1d")
def _pooling1d(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((11, 3))
    outs = [
        L.MaxPooling1D(2, name="max_2")(x),
        L.MaxPooling1D(3, strides=2, padding="same", name="max_3_s2_same")(x),
        L.MaxPooling1D(2, strides=1, name="max_2_s1")(x),
        L.AveragePooling1D(2, name="avg_2")(x),
        L.AveragePooling1D(3, strides=2, padding="same", name="avg_3_s2_same")(x),
        L.AveragePooling1D(4, strides=3, name="avg_4_s3")(x),
        L.GlobalMaxPooling1D(name="gmax")(x),
        L.GlobalMaxPooling1D(keepdims=True, name="gmax_keep")(x),
        L.GlobalAveragePooling1D(name="gavg")(x),
        L.GlobalAveragePooling1D(keepdims=True, name="gavg_keep")(x),
    ]
    return Built(
        k.Model(x, outs),
        [
            "MaxPooling1D:padding=valid",
            "MaxPooling1D:padding=same",
            "MaxPooling1D:strides",
            "AveragePooling1D:padding=valid",
            "AveragePooling1D:padding=same",
            "AveragePooling1D:strides",
            "GlobalMaxPooling1D:basic",
            "GlobalMaxPooling1D:keepdims",
            "GlobalAveragePooling1D:basic",
            "GlobalAveragePooling1D:keepdims",
            "Graph:multi_output",
            "Graph:tensor_reused",
        ],
    )


@fixture("pad_crop_upsample1d")
def _pad_crop_upsample1d(k: Any, gen: str) -> Built:
    L = k.layers
    x = k.Input((7, 3))
    outs = [
        L.ZeroPadding1D(1, name="pad_1")(x),
        L.ZeroPadding1D((2, 0), name="pad_2_0")(x),
        L.Cropping1D(name="crop_default")(x),
        L.Cropping1D((2, 0), name="crop_2_0")(x),
        L.UpSampling1D(name="up_default")(x),
        L.UpSampling1D(3, name="up_3")(x),
    ]
    t = L.Conv1D(2, 3, name="conv")(L.ZeroPadding1D((0, 2), name="pad_0_2")(x))
    outs.append(L.UpSampling1D(2, name="up_after_conv")(L.Cropping1D((1, 2), name="crop_1_2")(t)))
    return Built(
        k.Model(x, outs),
        [
            "ZeroPadding1D:symmetric",
            "ZeroPadding1D:asymmetric",
            "Cropping1D:basic",
            "Cropping1D:asymmetric",
            "UpSampling1D:basic",
            "UpSampling1D:size",
            "Graph:multi_output",
            "Graph:tensor_reused",
        ],
    )


@fixture("kws_cnn1d")
def _kws_cnn1d(k: Any, gen: str) -> Built:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((25, 10)),
            L.Conv1D(8, 3, padding="same", use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.MaxPooling1D(2),
            L.Conv1D(8, 3, strides=2),
            L.BatchNormalization(),
            L.Activation("relu"),
            L.Conv1D(12, 3, padding="causal", dilation_rate=2, activation="relu"),
            L.Dropout(0.2),
            L.GlobalAveragePooling1D(),
            L.Dense(6, activation="softmax"),
        ],
        name="kws",
    )
    return Built(
        model,
        ["Model:kws_cnn1d", "Conv1D:padding=causal", "BatchNormalization:fold_conv", "Graph:sequential"],
        notes="Keyword-spotting style CNN over (frames=25, features=10), e.g. MFCCs.",
    )


OPS_KERAS3_OUTPUTS = [
    "x + y",
    "x + 3.0",
    "3.0 - x",
    "x - y",
    "x * y",
    "x * mean(x, axis=(1, 2), keepdims=True)",
    "x / 2.0",
    "x / (y * y + 1.0)",
    "maximum(x, y)",
    "minimum(x, 0.5)",
    "relu(x)",
    "relu6(x)",
    "sigmoid(x)",
    "hard_sigmoid(x)",
    "swish(x)",
    "silu(x)",
    "x * relu6(x + 3.0) / 6.0",
    "concatenate([x, y], axis=-1)",
    "reshape(x, (-1, 20, 3))",
    "mean(x, axis=(1, 2), keepdims=True)",
    "image.resize(x, (8, 10))",
    "image.resize(x, (6, 7), interpolation='nearest')",
    "ReLU(6.0)(x + 3.0) * (1.0 / 6.0)",
    "0.5 + x",
    "2.0 * x",
    "1.0 / (x * x + 1.0)",
    "x - 3.0",
    "mean(x, axis=(1, 2))",
]

OPS_COVERS = [
    "Op:add_tensor",
    "Op:add_const",
    "Op:const_sub",
    "Op:sub_tensor",
    "Op:multiply_tensor",
    "Op:multiply_broadcast",
    "Op:divide_const",
    "Op:divide_tensor",
    "Op:maximum",
    "Op:minimum_const",
    "Op:relu",
    "Op:relu6",
    "Op:sigmoid",
    "Op:hard_sigmoid",
    "Op:swish",
    "Op:hard_swish_pattern",
    "Op:concatenate",
    "Op:reshape",
    "Op:mean_spatial",
    "Op:image_resize_bilinear",
    "Op:image_resize_nearest",
    "Op:multiply_const",
    "Op:mobilenetv3_hard_sigmoid",
    "Op:add_const_left",
    "Op:multiply_const_left",
    "Op:divide_const_left",
    "Op:sub_const",
    "Op:mean_spatial_no_keepdims",
    "Graph:multi_input",
    "Graph:multi_output",
]


def _ops_keras3(k: Any, x: Any, y: Any) -> list[Any]:
    ops = k.ops
    m = ops.mean(x, axis=(1, 2), keepdims=True)
    return [
        x + y,
        x + 3.0,
        3.0 - x,
        x - y,
        x * y,
        x * m,
        x / 2.0,
        x / (y * y + 1.0),
        ops.maximum(x, y),
        ops.minimum(x, 0.5),
        ops.relu(x),
        ops.relu6(x),
        ops.sigmoid(x),
        ops.hard_sigmoid(x),
        ops.swish(x),
        ops.silu(x),
        x * ops.relu6(x + 3.0) / 6.0,
        ops.concatenate([x, y], axis=-1),
        ops.reshape(x, (-1, 20, 3)),
        m,
        ops.image.resize(x, (8, 10)),
        ops.image.resize(x, (6, 7), interpolation="nearest"),
        # MobileNetV3's hard_sigmoid, as keras.applications writes it in both generations
        k.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0),
        0.5 + x,
        2.0 * x,
        1.0 / (x * x + 1.0),
        x - 3.0,
        ops.mean(x, axis=(1, 2)),
    ]


def _ops_keras2(k: Any, x: Any, y: Any) -> list[Any]:
    import tensorflow as tf

    m = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return [
        tf.math.add(x, y),
        x + 3.0,
        3.0 - x,
        x - y,
        x * y,
        tf.math.multiply(x, m),
        x / 2.0,
        x / (y * y + 1.0),
        tf.math.maximum(x, y),
        tf.math.minimum(x, 0.5),
        tf.nn.relu(x),
        tf.nn.relu6(x),
        tf.math.sigmoid(x),
        # MobileNetV3's hard_sigmoid in tf.keras: ReLU(6.)(x + 3.) * (1. / 6.)
        k.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0),
        tf.nn.swish(x),
        tf.nn.silu(x),
        x * tf.nn.relu6(x + 3.0) / 6.0,
        tf.concat([x, y], axis=-1),
        tf.reshape(x, (-1, 20, 3)),
        m,
        tf.image.resize(x, (8, 10)),
        tf.image.resize(x, (6, 7), method="nearest"),
        k.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0),
        0.5 + x,
        2.0 * x,
        1.0 / (x * x + 1.0),
        x - 3.0,
        tf.reduce_mean(x, axis=[1, 2]),
    ]


OPS_KERAS2_OUTPUTS = [
    "tf.math.add(x, y)",
    "x + 3.0",
    "3.0 - x",
    "x - y",
    "x * y",
    "tf.math.multiply(x, tf.reduce_mean(x, axis=[1, 2], keepdims=True))",
    "x / 2.0",
    "x / (y * y + 1.0)",
    "tf.math.maximum(x, y)",
    "tf.math.minimum(x, 0.5)",
    "tf.nn.relu(x)",
    "tf.nn.relu6(x)",
    "tf.math.sigmoid(x)",
    "ReLU(6.0)(x + 3.0) * (1.0 / 6.0)",
    "tf.nn.swish(x)",
    "tf.nn.silu(x)",
    "x * tf.nn.relu6(x + 3.0) / 6.0",
    "tf.concat([x, y], axis=-1)",
    "tf.reshape(x, (-1, 20, 3))",
    "tf.reduce_mean(x, axis=[1, 2], keepdims=True)",
    "tf.image.resize(x, (8, 10))",
    "tf.image.resize(x, (6, 7), method='nearest')",
    "ReLU(6.0)(x + 3.0) * (1.0 / 6.0)",
    "0.5 + x",
    "2.0 * x",
    "1.0 / (x * x + 1.0)",
    "x - 3.0",
    "tf.reduce_mean(x, axis=[1, 2])",
]


@fixture("operators")
def _operators(k: Any, gen: str) -> Built:
    x = k.Input((4, 5, 3), name="x")
    y = k.Input((4, 5, 3), name="y")
    outs = _ops_keras3(k, x, y) if gen == "keras3" else _ops_keras2(k, x, y)
    desc = OPS_KERAS3_OUTPUTS if gen == "keras3" else OPS_KERAS2_OUTPUTS
    wrong = {
        # Checked: the .h5 model_config holds Mean {"axis": [1, 2], "keepdims": true} and the
        # stored outputs equal NumPy's mean; Keras's legacy .h5 loader rebuilds the Mean op wrongly.
        "h5": {
            "outputs": [5, 19, 27],
            "why": "Keras 3.15 reloading this .h5 (operator layers passed as custom objects) gives other "
            "values for the outputs that use ops.mean (5: x * mean(x), 19: mean(x) keepdims, 27: mean(x))",
        }
    }
    return Built(
        k.Model([x, y], outs),
        OPS_COVERS,
        keras_reload_wrong=wrong if gen == "keras3" else {},
        input_scale=3.0,
        notes="Operator layers (Keras 3: keras.src.ops.* layers; tf.keras: TFOpLambda). Outputs in order: "
        + "; ".join(desc),
        extra={"output_expressions": desc},
    )


@fixture("operators_slicing")
def _operators_slicing(k: Any, gen: str) -> Built:
    x = k.Input((5, 6, 3), name="x")
    outs = [x[:, 1:4, :, :], x[:, :, ::2, 1:], x[:, -2:]]
    return Built(
        k.Model(x, outs),
        ["Op:slice", "Graph:multi_output"],
        notes="Tensor slicing: Keras 3 saves a keras.src.ops.numpy GetItem layer, tf.keras a "
        "SlicingOpLambda. Outputs: x[:, 1:4, :, :], x[:, :, ::2, 1:], x[:, -2:].",
    )


# --------------------------------------------------------------------------------------
# Worker: runs inside one generation's interpreter
# --------------------------------------------------------------------------------------


def fixture_seed(name: str) -> int:
    return (BASE_SEED + zlib.crc32(name.encode())) % (2**31)


def _weight_kind(var: Any) -> str:
    name = str(getattr(var, "path", None) or var.name)
    last = name.split("/")[-1]
    return last.split(":")[0]


def _all_layers(model: Any) -> list[Any]:
    out = []
    for layer in model.layers:
        out.append(layer)
        if hasattr(layer, "layers"):
            out += _all_layers(layer)
    return out


def randomize_weights(k: Any, model: Any, rng: np.random.Generator) -> list[str]:
    """Give every variable of the model a random, non-trivial value.

    Returns the kinds seen that were not recognized (filled with normal values).
    """
    depthwise = {
        id(v)
        for layer in _all_layers(model)
        if isinstance(layer, k.layers.DepthwiseConv2D)
        for v in layer.weights
    }
    # Normalization's mean/variance/count come from adapt() in the builder: keep them.
    adapted = {
        id(v) for layer in _all_layers(model) if isinstance(layer, k.layers.Normalization) for v in layer.weights
    }
    # Keras 3's ConvNeXt LayerScale creates its scale without a name ("variable").
    layer_scale = {id(v) for layer in _all_layers(model) if type(layer).__name__ == "LayerScale" for v in layer.weights}
    unknown: list[str] = []
    for var in model.weights:
        if id(var) in adapted:
            continue
        shape = tuple(int(d) for d in var.shape)
        kind = "gamma" if id(var) in layer_scale else _weight_kind(var)
        if kind in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            if kind == "depthwise_kernel" or id(var) in depthwise:
                fan_in = shape[0] * shape[1]
            else:
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            value = rng.standard_normal(shape) * (1.2 / np.sqrt(max(fan_in, 1)))
        elif kind == "bias":
            value = rng.standard_normal(shape) * 0.3
        elif kind == "gamma":
            value = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape, p=[0.2, 0.8])
        elif kind in ("beta", "moving_mean"):
            value = rng.standard_normal(shape) * 0.3
        elif kind == "moving_variance":
            value = rng.uniform(0.2, 2.0, shape)
        elif kind == "alpha":  # PReLU: slopes of both signs, some above 1
            value = rng.uniform(-0.5, 1.2, shape)
        else:
            unknown.append(kind)
            value = rng.standard_normal(shape) * 0.3
        var.assign(value.astype(np.float32))
    return unknown


def _as_list(y: Any) -> list[Any]:
    if isinstance(y, dict):
        raise TypeError("dict outputs are not used by these fixtures")
    if isinstance(y, (list, tuple)):
        return list(y)
    return [y]


def _to_numpy(t: Any) -> np.ndarray:
    if hasattr(t, "numpy"):
        t = t.numpy()
    return np.asarray(t, dtype=np.float32)


def _call(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    arg: Any = inputs[0] if len(inputs) == 1 else list(inputs)
    return [_to_numpy(t) for t in _as_list(model(arg, training=False))]


def custom_objects(gen: str, names: list[str]) -> dict[str, Any]:
    """Classes Keras needs to reload a fixture that uses non-public layers."""
    known = {"LayerScale": layer_scale_class}
    return {name: known[name](gen) for name in names}


def op_layer_classes(model: Any) -> dict[str, Any]:
    """Keras 3 operator layers (keras.src.ops.*) by class name.

    Keras 3.15's legacy .h5 loader does not know them ("Unknown layer: 'Relu6'"), so the reload
    check passes them as custom objects. A name shared with a real layer class of the model (the
    op ``Add`` and the merge layer ``Add``) would make that ambiguous: refuse it.
    """
    found: dict[str, Any] = {}
    for op in getattr(model, "operations", []):  # model.layers leaves the operator layers out
        cls = type(op)
        if cls.__module__.startswith("keras.src.ops."):
            found[cls.__name__] = cls
    clash = {type(layer).__name__ for layer in _all_layers(model) if type(layer) not in found.values()} & set(found)
    if clash:
        raise RuntimeError(f"operator layers share class names with layers of the same model: {sorted(clash)}")
    return found


def _load_variants(k: Any, gen: str, d: Path, custom: dict[str, Any]) -> dict[str, Any]:
    files = FORMAT_FILES[gen]
    loaded: dict[str, Any] = {}
    loaded["h5"] = k.models.load_model(str(d / files["h5"]), compile=False, custom_objects=custom)
    loaded["keras"] = k.models.load_model(str(d / files["keras"]), compile=False, custom_objects=custom)
    arch, weights = files["json+weights"]
    m = k.models.model_from_json((d / arch).read_text(), custom_objects=custom)
    m.load_weights(str(d / weights))
    loaded["json+weights"] = m
    return loaded


def generate_one(
    k: Any, gen: str, name: str, builder: Builder, out_root: Path, versions: dict[str, str]
) -> dict[str, Any]:
    seed = fixture_seed(name)
    k.backend.clear_session()
    k.utils.set_random_seed(seed)
    built = builder(k, gen)
    model = built.model
    rng = np.random.default_rng(seed)
    unknown = randomize_weights(k, model, rng)
    if unknown:
        raise RuntimeError(f"{name}: unrecognized weight kinds {unknown}")

    d = out_root / gen / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)

    input_sets = built.input_sets or [[tuple(int(s) for s in inp.shape[1:]) for inp in model.inputs]]
    in_rng = np.random.default_rng(seed + 1)
    inputs_manifest: list[list[str]] = []
    outputs_manifest: list[list[str]] = []
    all_inputs: list[list[np.ndarray]] = []
    all_outputs: list[list[np.ndarray]] = []
    for set_idx, shapes in enumerate(input_sets):
        suffix = SET_SUFFIXES[set_idx]
        xs = [
            (in_rng.standard_normal((BATCH, *shape)) * built.input_scale).astype(np.float32)
            for shape in shapes
        ]
        ys = _call(model, xs)
        in_files, out_files = [], []
        for i, x in enumerate(xs):
            fname = f"input_{i}{suffix}.npy"
            np.save(d / fname, x)
            in_files.append(fname)
        for j, y in enumerate(ys):
            if not np.all(np.isfinite(y)):
                raise RuntimeError(f"{name}: non-finite output {j}")
            fname = f"output_{j}{suffix}.npy"
            np.save(d / fname, y.astype(np.float32))
            out_files.append(fname)
        inputs_manifest.append(in_files)
        outputs_manifest.append(out_files)
        all_inputs.append(xs)
        all_outputs.append(ys)

    # Save in every format of this generation.
    files = FORMAT_FILES[gen]
    model.save(str(d / files["h5"]))
    model.save(str(d / files["keras"]))
    arch, weights = files["json+weights"]
    (d / arch).write_text(model.to_json())
    model.save_weights(str(d / weights))

    # Reload every format with Keras itself and check it reproduces the outputs.
    custom = custom_objects(gen, built.extra.get("custom_objects", []))
    custom.update(op_layer_classes(model))
    for fmt, loaded in _load_variants(k, gen, d, custom).items():
        skip = set(built.keras_reload_wrong.get(fmt, {}).get("outputs", []))
        for xs, ys in zip(all_inputs, all_outputs):
            got = _call(loaded, xs)
            if len(got) != len(ys):
                raise RuntimeError(f"{name} [{fmt}]: {len(got)} outputs, want {len(ys)}")
            for j, (g, want) in enumerate(zip(got, ys)):
                if j in skip:
                    continue
                np.testing.assert_allclose(
                    g, want, rtol=1e-5, atol=1e-6, err_msg=f"{name} [{fmt}] output {j}"
                )

    entry: dict[str, Any] = {
        "name": name,
        "generation": gen,
        "keras_version": versions["keras"],
        "tensorflow_version": versions["tensorflow"],
        "dir": f"{gen}/{name}",
        "model_class": type(model).__name__,
        "formats": files,
        "inputs": inputs_manifest,
        "outputs": outputs_manifest,
        "input_shapes": [[[BATCH, *s] for s in shapes] for shapes in input_sets],
        "output_shapes": [[list(y.shape) for y in ys] for ys in all_outputs],
        "covers": sorted(set(built.covers)),
    }
    if built.notes:
        entry["notes"] = built.notes
    if built.keras_reload_wrong:
        entry["keras_reload_wrong"] = built.keras_reload_wrong
    entry.update(built.extra)
    return entry


def _import_keras(gen: str) -> tuple[Any, dict[str, str]]:
    """Import the Keras of generation `gen` (tf_keras for "keras2", Keras 3 otherwise) quietly;
    return the module and the Keras / TensorFlow versions. Once per worker process."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if gen == "keras2":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tf_keras as k
    else:
        os.environ.pop("TF_USE_LEGACY_KERAS", None)
        import keras as k

        if not k.__version__.startswith("3."):
            raise RuntimeError(f"expected Keras 3, got {k.__version__}")
    import warnings

    import absl.logging
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    absl.logging.set_verbosity(absl.logging.ERROR)
    warnings.filterwarnings("ignore", message=".*HDF5 file.*")
    versions = {"keras": k.__version__, "tensorflow": tf.__version__}
    return k, versions


def run_worker(gen: str, out_root: Path, entries_file: Path, only: list[str]) -> None:
    k, versions = _import_keras(gen)
    entries = []
    for name, builder in FIXTURES:
        if only and name not in only:
            continue
        print(f"[{gen}] {name}", flush=True)
        entries.append(generate_one(k, gen, name, builder, out_root, versions))
    entries_file.write_text(json.dumps(entries))


# --------------------------------------------------------------------------------------
# Orchestrator
# --------------------------------------------------------------------------------------


def load_matrix() -> Any:
    spec = importlib.util.spec_from_file_location("conformance_matrix", MATRIX_PATH)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {MATRIX_PATH}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_coverage(entries: list[dict[str, Any]], generations: list[str]) -> list[str]:
    matrix = load_matrix()
    problems = []
    for gen in generations:
        covered = {tag for e in entries if e["generation"] == gen for tag in e["covers"]}
        for tag in matrix.REQUIRED_CELLS:
            key = f"{gen}/{tag}"
            if key in matrix.NOT_APPLICABLE:
                if tag in covered:
                    problems.append(f"{key} is NOT_APPLICABLE but covered")
                continue
            if tag not in covered:
                problems.append(f"{key} not covered")
        unknown = covered - set(matrix.REQUIRED_CELLS)
        if unknown:
            problems.append(f"{gen}: tags not in REQUIRED_CELLS: {sorted(unknown)}")
        for e in entries:
            if e["generation"] == gen and sorted(e["formats"]) != sorted(matrix.FORMATS[gen]):
                problems.append(f"{e['dir']}: formats {sorted(e['formats'])}")
    return problems


def check_sizes(out_root: Path) -> tuple[int, list[str]]:
    total = 0
    problems = []
    for path in sorted(out_root.rglob("*")):
        if path.is_file():
            size = path.stat().st_size
            total += size
            if size > MAX_FILE_BYTES:
                problems.append(f"{path.relative_to(out_root)}: {size} bytes")
    if total > MAX_TOTAL_BYTES:
        problems.append(f"total {total} bytes")
    return total, problems


def run_all(generations: list[str], out_root: Path, only: list[str]) -> int:
    out_root.mkdir(parents=True, exist_ok=True)
    manifest_path = out_root / "manifest.json"
    old: list[dict[str, Any]] = []
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
    new_entries: list[dict[str, Any]] = []
    env = {**os.environ, **QUIET_ENV}
    env.pop("TF_USE_LEGACY_KERAS", None)
    with tempfile.TemporaryDirectory() as tmp:
        for gen in generations:
            if not only and (out_root / gen).exists():
                shutil.rmtree(out_root / gen)  # drop fixtures that no longer exist
            entries_file = Path(tmp) / f"{gen}.json"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                gen,
                "--out",
                str(out_root),
                "--entries-file",
                str(entries_file),
            ]
            for name in only:
                cmd += ["--only", name]
            proc = subprocess.run(cmd, env=env)
            if proc.returncode != 0:
                print(f"{gen} worker failed ({proc.returncode})", file=sys.stderr)
                return proc.returncode
            new_entries += json.loads(entries_file.read_text())
    replaced = {(e["generation"], e["name"]) for e in new_entries}
    keep = [
        e
        for e in old
        if (e["generation"], e["name"]) not in replaced and (only or e["generation"] not in generations)
    ]
    entries = keep + new_entries
    order = {name: i for i, (name, _) in enumerate(FIXTURES)}
    entries.sort(key=lambda e: (e["generation"], order.get(e["name"], len(order))))
    manifest_path.write_text(json.dumps(entries, indent=1) + "\n")

    problems = check_coverage(entries, [g for g in GENERATIONS if any(e["generation"] == g for e in entries)])
    total, size_problems = check_sizes(out_root)
    problems += size_problems
    print(f"{len(entries)} fixtures, {total / 1024:.0f} KiB in {out_root}")
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


# --------------------------------------------------------------------------------------
# Unsupported-model fixtures: tests/fixtures/keras_unsupported/ (run with --unsupported-only)
# --------------------------------------------------------------------------------------
#
# Real Keras files the converter must REJECT, for the tests of its error messages.
# Nothing here touches tests/fixtures/keras/ or its manifest. Layout:
#
#   keras_unsupported/keras3/<name>.h5, keras3/<name>.keras   (Keras 3)
#   keras_unsupported/keras2/<name>.h5                          (tf_keras, full model)
#   keras_unsupported/keras0_weights.h5                         (synthetic, h5py only)
#   keras_unsupported/manifest.json
#
# manifest.json is a list of {"name", "generation", "file" (relative to the manifest),
# "format", "expect", ...}; "expect" lists substrings the converter's error message
# must contain (layer names are set explicitly so they are the same in both
# generations). Models are only built and saved, never run (TensorFlow on CPU cannot
# run a channels_first Conv2D), then reloaded with Keras and checked to give back the
# same layer classes and weights.

UNSUPPORTED_OUT = REPO_ROOT / "tests" / "fixtures" / "keras_unsupported"
KERAS0_NAME = "keras0_weights"


@dataclass
class Rejected:
    """A model the converter must reject, plus what its error must say."""

    model: Any
    expect: list[str]
    # Keras class names that must be in the saved model (checked after reloading).
    classes: list[str]
    notes: str = ""


RejectBuilder = Callable[[Any, str], Rejected]
UNSUPPORTED_FIXTURES: list[tuple[str, RejectBuilder]] = []


def unsupported_fixture(name: str) -> Callable[[RejectBuilder], RejectBuilder]:
    def register(fn: RejectBuilder) -> RejectBuilder:
        UNSUPPORTED_FIXTURES.append((name, fn))
        return fn

    return register


@unsupported_fixture("lstm")
def _u_lstm(k: Any, gen: str) -> Rejected:
    L = k.layers
    model = k.Sequential([k.Input((5, 3)), L.LSTM(4, name="recurrent"), L.Dense(2, name="head")], name="lstm")
    return Rejected(model, ["recurrent", "LSTM"], ["LSTM"], "unsupported layer class LSTM")


@unsupported_fixture("channels_first")
def _u_channels_first(k: Any, gen: str) -> Rejected:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((3, 8, 8)),
            L.Conv2D(4, 3, data_format="channels_first", name="conv_cf"),
            L.Flatten(name="flatten"),
            L.Dense(2, name="head"),
        ],
        name="channels_first",
    )
    return Rejected(
        model,
        ["conv_cf", "Conv2D", "data_format", "channels_first"],
        ["Conv2D"],
        "Conv2D with data_format='channels_first' (built and saved only: TensorFlow on CPU cannot run it)",
    )


@unsupported_fixture("upsampling_bicubic")
def _u_upsampling_bicubic(k: Any, gen: str) -> Rejected:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((4, 4, 2)),
            L.UpSampling2D(2, interpolation="bicubic", name="upsample_bicubic"),
            L.Conv2D(2, 1, name="conv"),
        ],
        name="upsampling_bicubic",
    )
    return Rejected(
        model,
        ["upsample_bicubic", "UpSampling2D", "interpolation", "bicubic"],
        ["UpSampling2D"],
        "UpSampling2D with interpolation='bicubic' (nearest and bilinear are the supported ones)",
    )


@unsupported_fixture("resizing_bicubic")
def _u_resizing_bicubic(k: Any, gen: str) -> Rejected:
    L = k.layers
    model = k.Sequential(
        [k.Input((6, 6, 2)), L.Resizing(9, 9, interpolation="bicubic", name="resize_bicubic")],
        name="resizing_bicubic",
    )
    return Rejected(
        model,
        ["resize_bicubic", "Resizing", "interpolation", "bicubic"],
        ["Resizing"],
        "Resizing with interpolation='bicubic'",
    )


@unsupported_fixture("two_unsupported")
def _u_two_unsupported(k: Any, gen: str) -> Rejected:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((8, 8, 4)),
            L.Conv2D(4, 3, name="conv"),
            L.GroupNormalization(groups=2, name="group_norm"),
            L.UnitNormalization(name="unit_norm"),
            L.Flatten(name="flatten"),
            L.Dense(2, name="head"),
        ],
        name="two_unsupported",
    )
    return Rejected(
        model,
        ["group_norm", "GroupNormalization", "unit_norm", "UnitNormalization"],
        ["GroupNormalization", "UnitNormalization"],
        "two unsupported layers (GroupNormalization, UnitNormalization): the error must list both",
    )


@unsupported_fixture("layernorm_axis1")
def _u_layernorm_axis1(k: Any, gen: str) -> Rejected:
    L = k.layers
    model = k.Sequential(
        [
            k.Input((4, 4, 3)),
            L.Conv2D(3, 3, name="conv"),
            L.LayerNormalization(axis=1, name="ln_height"),
            L.Flatten(name="flatten"),
            L.Dense(2, name="head"),
        ],
        name="layernorm_axis1",
    )
    return Rejected(
        model,
        ["ln_height", "LayerNormalization", "axis"],
        ["LayerNormalization"],
        "LayerNormalization over axis 1 (height; only the last axis is supported)",
    )


@unsupported_fixture("op_cumsum")
def _u_op_cumsum(k: Any, gen: str) -> Rejected:
    """An operator layer outside the supported set: the error names it and its function."""
    L = k.layers
    x = k.Input((5, 4, 3))
    t = L.Conv2D(3, 1, name="conv")(x)
    if gen == "keras3":
        y = k.ops.cumsum(t, axis=1)  # saved as class Cumsum (keras.src.ops.numpy), layer "cumsum"
        expect = ["cumsum", "Cumsum"]
    else:
        import tensorflow as tf

        y = tf.math.cumsum(t, axis=1)  # saved as TFOpLambda "tf.math.cumsum", function "math.cumsum"
        expect = ["tf.math.cumsum", "TFOpLambda", "math.cumsum"]
    model = k.Model(x, L.Conv2D(2, 1, name="head")(y), name="op_cumsum")
    return Rejected(model, expect, ["Conv2D"], "operator layer cumsum (not a supported operator)")


UNSUPPORTED_FORMATS = {"keras3": {"h5": ".h5", "keras": ".keras"}, "keras2": {"h5": ".h5"}}


def _layer_classes(model: Any) -> list[str]:
    return [type(layer).__name__ for layer in _all_layers(model)]


def _check_reloaded(k: Any, label: str, path: Path, model: Any, want_classes: list[str]) -> None:
    loaded = k.models.load_model(str(path), compile=False, custom_objects=op_layer_classes(model))
    got = _layer_classes(loaded)
    if got != _layer_classes(model):
        raise RuntimeError(f"{label}: reloaded layer classes {got}, want {_layer_classes(model)}")
    missing = [c for c in want_classes if c not in got]
    if missing:
        raise RuntimeError(f"{label}: reloaded model lacks {missing}")
    a, b = model.get_weights(), loaded.get_weights()
    if len(a) != len(b):
        raise RuntimeError(f"{label}: {len(b)} weights after reloading, want {len(a)}")
    for i, (x, y) in enumerate(zip(a, b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f"{label}: weight {i}")


def generate_unsupported_one(
    k: Any, gen: str, name: str, builder: RejectBuilder, out_root: Path, versions: dict[str, str]
) -> list[dict[str, Any]]:
    seed = fixture_seed("unsupported/" + name)
    k.backend.clear_session()
    k.utils.set_random_seed(seed)
    built = builder(k, gen)
    model = built.model
    # Unrecognized kinds (recurrent_kernel, PReLU alpha, pointwise_kernel) get normal values too.
    randomize_weights(k, model, np.random.default_rng(seed))
    d = out_root / gen
    d.mkdir(parents=True, exist_ok=True)
    entries = []
    for fmt, suffix in UNSUPPORTED_FORMATS[gen].items():
        path = d / f"{name}{suffix}"
        if path.exists():
            path.unlink()
        model.save(str(path))
        _check_reloaded(k, f"{gen}/{name}{suffix}", path, model, built.classes)
        entries.append(
            {
                "name": name,
                "generation": gen,
                "file": f"{gen}/{name}{suffix}",
                "format": fmt,
                "expect": list(built.expect),
                "keras_version": versions["keras"],
                "tensorflow_version": versions["tensorflow"],
                "notes": built.notes,
            }
        )
    return entries


def run_unsupported_worker(gen: str, out_root: Path, entries_file: Path, only: list[str]) -> None:
    k, versions = _import_keras(gen)
    entries: list[dict[str, Any]] = []
    for name, builder in UNSUPPORTED_FIXTURES:
        if only and name not in only:
            continue
        print(f"[{gen}] unsupported/{name}", flush=True)
        entries += generate_unsupported_one(k, gen, name, builder, out_root, versions)
    entries_file.write_text(json.dumps(entries))


def write_keras0_weights(out_root: Path) -> dict[str, Any]:
    """A synthetic Keras 0.x-style weights file (no TensorFlow/Keras involved).

    Keras 0.x ``save_weights`` layout: root attribute ``nb_layers``; one group
    ``layer_<i>`` per layer with attribute ``nb_params`` and datasets ``param_<j>``.
    Here: two Dense-like layers (3 -> 2 -> 2), kernel + bias each.
    """
    import h5py

    rng = np.random.default_rng(fixture_seed("unsupported/" + KERAS0_NAME))
    params = [
        [rng.standard_normal((3, 2)), rng.standard_normal((2,))],
        [rng.standard_normal((2, 2)), rng.standard_normal((2,))],
    ]
    path = out_root / f"{KERAS0_NAME}.h5"
    if path.exists():
        path.unlink()
    with h5py.File(path, "w", track_order=False) as f:
        f.attrs["nb_layers"] = len(params)
        for i, layer_params in enumerate(params):
            g = f.create_group(f"layer_{i}")
            g.attrs["nb_params"] = len(layer_params)
            for j, p in enumerate(layer_params):
                g.create_dataset(f"param_{j}", data=p.astype(np.float32), track_times=False)
    with h5py.File(path, "r") as f:  # read back
        if int(f.attrs["nb_layers"]) != 2 or sorted(f) != ["layer_0", "layer_1"]:
            raise RuntimeError(f"{path}: unexpected layout")
    return {
        "name": KERAS0_NAME,
        "generation": "keras0",
        "file": path.name,
        "format": "weights-h5",
        "expect": ["Keras 0.x", "nb_layers"],
        "synthetic": True,
        "notes": (
            "Synthetic: written with h5py (no Keras 0.x involved) to mimic the Keras 0.x "
            "save_weights layout (root attr nb_layers=2; groups layer_0/layer_1 with attr "
            "nb_params=2 and float32 datasets param_0, param_1). Weights only, no architecture."
        ),
    }


def run_unsupported(generations: list[str], out_root: Path, only: list[str]) -> int:
    """Orchestrate the unsupported fixtures only; never touches tests/fixtures/keras/."""
    out_root.mkdir(parents=True, exist_ok=True)
    manifest_path = out_root / "manifest.json"
    old: list[dict[str, Any]] = json.loads(manifest_path.read_text()) if manifest_path.exists() else []
    model_only = [n for n in only if n != KERAS0_NAME]
    new_entries: list[dict[str, Any]] = []
    env = {**os.environ, **QUIET_ENV}
    env.pop("TF_USE_LEGACY_KERAS", None)
    run_models = not only or bool(model_only)
    with tempfile.TemporaryDirectory() as tmp:
        for gen in generations if run_models else []:
            if not only and (out_root / gen).exists():
                shutil.rmtree(out_root / gen)  # drop fixtures that no longer exist
            entries_file = Path(tmp) / f"{gen}.json"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--unsupported-only",
                "--worker",
                gen,
                "--out",
                str(out_root),
                "--entries-file",
                str(entries_file),
            ]
            for name in model_only:
                cmd += ["--only", name]
            proc = subprocess.run(cmd, env=env)
            if proc.returncode != 0:
                print(f"{gen} unsupported worker failed ({proc.returncode})", file=sys.stderr)
                return proc.returncode
            new_entries += json.loads(entries_file.read_text())
    if not only or KERAS0_NAME in only:
        new_entries.append(write_keras0_weights(out_root))
    replaced = {(e["generation"], e["name"]) for e in new_entries}
    regenerated = set(generations if run_models and not only else [])
    keep = [
        e for e in old if (e["generation"], e["name"]) not in replaced and e["generation"] not in regenerated
    ]
    order = {name: i for i, (name, _) in enumerate(UNSUPPORTED_FIXTURES)}
    gen_order = {"keras0": 0, "keras2": 1, "keras3": 2}
    entries = sorted(
        keep + new_entries,
        key=lambda e: (gen_order.get(e["generation"], 9), order.get(e["name"], len(order)), e["file"]),
    )
    manifest_path.write_text(json.dumps(entries, indent=1) + "\n")

    problems = [f"{e['file']}: missing" for e in entries if not (out_root / e["file"]).is_file()]
    total, size_problems = check_sizes(out_root)
    problems += size_problems
    print(f"{len(entries)} unsupported-model files, {total} bytes ({total / 1024:.0f} KiB) in {out_root}")
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--generation",
        choices=[*GENERATIONS, "all"],
        default="all",
        help="which generation to (re)generate (default: both)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output root (default: tests/fixtures/keras, or tests/fixtures/keras_unsupported "
        "with --unsupported-only)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="regenerate only this fixture (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list fixture names")
    parser.add_argument(
        "--unsupported-only",
        action="store_true",
        help="only (re)generate the files the converter must reject, in "
        "tests/fixtures/keras_unsupported/ (leaves tests/fixtures/keras/ alone)",
    )
    parser.add_argument("--worker", choices=GENERATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--entries-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.unsupported_only:
        names = [name for name, _ in UNSUPPORTED_FIXTURES] + [KERAS0_NAME]
        if args.list:
            print("\n".join(names))
            return 0
        unknown = set(args.only) - set(names)
        if unknown:
            parser.error(f"unknown unsupported fixture(s): {sorted(unknown)}")
        out = (args.out or UNSUPPORTED_OUT).resolve()
        if args.worker:
            if args.entries_file is None:
                parser.error("--worker needs --entries-file")
            run_unsupported_worker(args.worker, out, args.entries_file, args.only)
            return 0
        gens = list(GENERATIONS) if args.generation == "all" else [args.generation]
        return run_unsupported(gens, out, args.only)
    if args.out is None:
        args.out = DEFAULT_OUT
    if args.list:
        for name, _ in FIXTURES:
            print(name)
        return 0
    unknown = set(args.only) - {name for name, _ in FIXTURES}
    if unknown:
        parser.error(f"unknown fixture(s): {sorted(unknown)}")
    if args.worker:
        if args.entries_file is None:
            parser.error("--worker needs --entries-file")
        run_worker(args.worker, args.out.resolve(), args.entries_file, args.only)
        return 0
    gens = list(GENERATIONS) if args.generation == "all" else [args.generation]
    return run_all(gens, args.out.resolve(), args.only)


if __name__ == "__main__":
    sys.exit(main())
