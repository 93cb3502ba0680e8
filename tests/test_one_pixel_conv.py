"""The converter pass that turns a 1x1 convolution over a 1x1 image (EfficientNet's
squeeze-excite) into a dense layer (pyconvinfer/keras/one_pixel_conv.py): which
convolutions it rewrites, and that the dense layer computes what the convolution
did. EfficientNet end to end: tests/test_applications.py."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, rng_for, uniform

from pyconvinfer import kernels
from pyconvinfer.keras.layers import RawNode
from pyconvinfer.keras.one_pixel_conv import one_pixel_convs_to_dense


def _conv(c: int = 8, f: int = 4, **attrs) -> RawNode:
    a = {"kernel_size": [1, 1], "strides": [1, 1], "dilation": [1, 1], "padding": "same", "groups": 1,
         "filters": f, "in_channels": c, "activation": {"name": "swish"}}
    a.update(attrs)
    kh, kw = a["kernel_size"]
    raw = {"kernel": np.ones((kh, kw, c // a["groups"], f), np.float32), "bias": np.zeros(f, np.float32)}
    return RawNode("se", "conv2d", ["t"], "se_out", a, raw, ["se"])


def test_one_pixel_pointwise_becomes_dense() -> None:
    n = _conv()
    one_pixel_convs_to_dense([n], {"t": (1, 1, 8)}, set())
    assert n.op == "dense" and n.raw["kernel"].shape == (8, 4) and n.raw["bias"].shape == (4,)
    assert n.attrs == {"units": 4, "in_features": 8, "activation": {"name": "swish"}}


@pytest.mark.parametrize("case", ["bigger_image", "unknown_image", "kernel_3x3", "stride_2", "groups", "shared",
                                  "padded"])
def test_what_stays_a_convolution(case: str) -> None:
    attrs = {"kernel_size": [3, 3]} if case == "kernel_3x3" else {"strides": [2, 2]} if case == "stride_2" else \
        {"groups": 2} if case == "groups" else {"padding": [[0, 1], [0, 0]]} if case == "padded" else {}
    n = _conv(**attrs)
    shape = {"bigger_image": (2, 1, 8), "unknown_image": (None, None, 8)}.get(case, (1, 1, 8))
    shared = {id(n.raw["kernel"])} if case == "shared" else set()
    one_pixel_convs_to_dense([n], {"t": shape}, shared)
    assert n.op == "conv2d"


@pytest.mark.parametrize("batch", [1, 3])
def test_dense_computes_the_one_pixel_convolution(batch: int) -> None:
    rng = rng_for("one-pixel", batch)
    x, k, b = uniform(rng, (batch, 1, 1, 48)), uniform(rng, (1, 1, 48, 1152), 0.2), uniform(rng, (1152,))
    conv = kernels.conv2d(x, k, b, activation="sigmoid")
    dense = kernels.dense(x.reshape(batch, 48), k.reshape(48, 1152), b, activation="sigmoid")
    ref = 1.0 / (1.0 + np.exp(-(x.reshape(batch, 48).astype(np.float64) @ k.reshape(48, 1152) + b)))
    assert_close(dense, ref, reduction=48)
    assert_close(conv.reshape(batch, 1152), ref, reduction=48)
