"""Small .pci models built directly (no Keras, no TensorFlow) for the user-path
tests: a stack of 3x3 convolutions, global pooling and a softmax classifier.
With many wide layers it runs long enough to interrupt; with few it is quick."""

from __future__ import annotations

import os

import numpy as np

from pyconvinfer import packing
from pyconvinfer.format import write_model
from pyconvinfer.graph import Graph, Node

RELU = {"name": "relu", "max_value": None, "negative_slope": 0.0, "threshold": 0.0}


def conv_stack(path: str | os.PathLike, layers: int = 2, channels: int = 8, classes: int = 5,
               input_shape: tuple = (None, None, 3), seed: int = 0, extra_outputs: tuple[str, ...] = ()) -> str:
    """Write the model; returns its path. The input's height and width may be None.
    extra_outputs: tensors output after "predictions" (e.g. "pool", "conv0")."""
    rng = np.random.default_rng(seed)
    nodes, tensors = [], {}
    prev, cin = "image", input_shape[-1]
    for i in range(layers):
        name = f"conv{i}"
        kernel = rng.standard_normal((3, 3, cin, channels)).astype(np.float32) * np.float32((2 / (9 * cin)) ** 0.5)
        tensors[f"{name}/kernel"] = packing.pack_conv2d(kernel)
        tensors[f"{name}/bias"] = rng.standard_normal(channels).astype(np.float32) * np.float32(0.1)
        attrs = {"kernel_size": [3, 3], "strides": [1, 1], "dilation": [1, 1], "padding": "same", "groups": 1,
                 "filters": channels, "in_channels": cin, "activation": RELU, "algorithm": "direct",
                 "params": kernel.size}
        nodes.append(Node(name, "conv2d", [prev], name, attrs, {"kernel": f"{name}/kernel", "bias": f"{name}/bias"},
                          [name]))
        prev, cin = name, channels
    nodes.append(Node("pool", "global_avg_pool", [prev], "pool", {}, {}, ["pool"]))
    dense = rng.standard_normal((cin, classes)).astype(np.float32)
    tensors["predictions/kernel"] = packing.pack_dense(dense)
    tensors["predictions/bias"] = np.zeros(classes, np.float32)
    nodes.append(Node("predictions", "dense", ["pool"], "predictions",
                      {"units": classes, "in_features": cin, "activation": {"name": "softmax"}, "params": dense.size},
                      {"kernel": "predictions/kernel", "bias": "predictions/bias"}, ["predictions"]))
    g = Graph([{"name": "image", "shape": list(input_shape)}], ["predictions", *extra_outputs], nodes, tensors,
              {"name": "conv_stack"})
    g.check()
    write_model(path, g.to_header(), g.weights)
    return os.fspath(path)
