"""Built-in architectures for weights-only files: VGG16 (keras.applications,
with or without the top) and the LeNet-5 that tools/train_lenet5.py trains.
They are written as Keras 2 functional configs, so they go through exactly
the path a saved model config takes."""

from __future__ import annotations

from typing import Any


def _layer(cls: str, name: str, inbound: str | None, **cfg: Any) -> dict:
    return {"class_name": cls, "name": name, "config": {"name": name, **cfg},
            "inbound_nodes": [] if inbound is None else [[[inbound, 0, 0, {}]]]}


def _functional(name: str, layers: list[dict]) -> dict:
    return {"class_name": "Functional", "config": {
        "name": name, "layers": layers,
        "input_layers": [[layers[0]["name"], 0, 0]], "output_layers": [[layers[-1]["name"], 0, 0]]}}


def vgg16(include_top: bool = True, input_shape: tuple = (224, 224, 3)) -> dict:
    layers = [_layer("InputLayer", "input_1", None, batch_input_shape=[None, *input_shape])]
    prev = "input_1"
    for block, (convs, filters) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], start=1):
        for i in range(1, convs + 1):
            name = f"block{block}_conv{i}"
            layers.append(_layer("Conv2D", name, prev, filters=filters, kernel_size=[3, 3], strides=[1, 1],
                                 padding="same", activation="relu", use_bias=True))
            prev = name
        name = f"block{block}_pool"
        layers.append(_layer("MaxPooling2D", name, prev, pool_size=[2, 2], strides=[2, 2], padding="valid"))
        prev = name
    if include_top:
        layers.append(_layer("Flatten", "flatten", prev))
        layers.append(_layer("Dense", "fc1", "flatten", units=4096, activation="relu"))
        layers.append(_layer("Dense", "fc2", "fc1", units=4096, activation="relu"))
        layers.append(_layer("Dense", "predictions", "fc2", units=1000, activation="softmax"))
    return _functional("vgg16", layers)


def lenet5(input_shape: tuple = (32, 32, 1), classes: int = 10) -> dict:
    """Exactly tools/train_lenet5.py's topology."""
    conv = {"kernel_size": [5, 5], "strides": [1, 1], "padding": "valid", "activation": "relu"}
    pool = {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}
    layers = [
        _layer("InputLayer", "input", None, batch_input_shape=[None, *input_shape]),
        _layer("Conv2D", "conv1", "input", filters=6, **conv),
        _layer("AveragePooling2D", "pool1", "conv1", **pool),
        _layer("Conv2D", "conv2", "pool1", filters=16, **conv),
        _layer("AveragePooling2D", "pool2", "conv2", **pool),
        _layer("Flatten", "flatten", "pool2"),
        _layer("Dense", "fc1", "flatten", units=120, activation="relu"),
        _layer("Dense", "fc2", "fc1", units=84, activation="relu"),
        _layer("Dense", "predictions", "fc2", units=classes, activation="softmax"),
    ]
    return _functional("lenet5", layers)


ARCHS = {"vgg16": vgg16, "lenet5": lenet5}
