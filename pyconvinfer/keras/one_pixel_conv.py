"""Conversion pass: a 1x1 convolution over a 1x1 image is a dense layer.

EfficientNet's squeeze-excite blocks run two such convolutions per block
(global pool -> reshape (1, 1, C) -> Conv2D 1x1 -> Conv2D 1x1). As convolutions
they take the GEMM path, whose 6-pixel tiles compute one real row; as a dense
layer on the same memory (channels last, so (N, 1, 1, C) is (N, C)) batch 1 is
one GEMV over the weights. Same products, same sums.
"""

from __future__ import annotations

from .layers import RawNode


def _one_pixel_pointwise(node: RawNode, in_shape: tuple | None) -> bool:
    a = node.attrs
    if node.op != "conv2d" or in_shape is None or len(in_shape) != 3 or tuple(in_shape[:2]) != (1, 1):
        return False
    if list(a.get("kernel_size", ())) != [1, 1] or list(a.get("strides", ())) != [1, 1] or a.get("groups", 1) != 1:
        return False
    pad = a.get("padding")
    if pad not in ("valid", "same"):
        try:
            if any(int(v) for pair in pad for v in pair):
                return False
        except (TypeError, ValueError):
            return False
    k = node.raw.get("kernel")
    return k is not None and k.shape == (1, 1, in_shape[2], a.get("filters"))


def one_pixel_convs_to_dense(nodes: list[RawNode], shapes: dict, shared: set[int]) -> list[RawNode]:
    """Rewrite (in place) every conv2d that is a dense layer in disguise; `shared`
    holds ids of weights several calls use (left alone: they stay one tensor)."""
    for n in nodes:
        if len(n.inputs) != 1 or any(id(a) in shared for a in n.raw.values()):
            continue
        in_shape = shapes.get(n.inputs[0])
        if not _one_pixel_pointwise(n, in_shape):
            continue
        c, units = int(in_shape[2]), int(n.attrs["filters"])
        n.raw = dict(n.raw, kernel=n.raw["kernel"].reshape(c, units))
        n.attrs = {"units": units, "in_features": c, "activation": n.attrs.get("activation", {"name": "linear"})}
        n.op = "dense"
    return nodes
