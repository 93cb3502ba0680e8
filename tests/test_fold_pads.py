"""The converter pass that folds a ZeroPadding2D into the convolution it feeds
(pyconvinfer/keras/fold_pads.py): which pads fold, and that a folded convolution
computes what pad + convolution computed (bitwise: the skipped taps added zeros).
MobileNetV2 and EfficientNet end to end: tests/test_applications.py."""

from __future__ import annotations

import pytest
from helpers import assert_bitwise_equal, rng_for, uniform

from pyconvinfer import kernels
from pyconvinfer.keras.fold_pads import fold_pads
from pyconvinfer.keras.layers import RawNode


def _pad(padding, value: float = 0.0, name: str = "pad", src: str = "x") -> RawNode:
    attrs = {"padding": padding} if value == 0.0 else {"padding": padding, "value": value}
    return RawNode(name, "pad2d", [src], f"{name}_out", attrs, layers=[name])


def _conv(src: str, padding="valid", name: str = "conv", groups: int = 1) -> RawNode:
    return RawNode(name, "conv2d", [src], f"{name}_out", {"padding": padding, "groups": groups}, layers=[name])


def test_zero_pad_into_valid_conv() -> None:
    pad, conv = _pad([[0, 1], [0, 1]]), _conv("pad_out", groups=8)
    out = fold_pads([pad, conv], ["conv_out"])
    assert out == [conv]
    assert conv.attrs["padding"] == [[0, 1], [0, 1]] and conv.attrs["groups"] == 8
    assert conv.inputs == ["x"] and conv.name == "pad+conv" and conv.layers == ["pad", "conv"]


def test_pads_add_to_explicit_conv_padding() -> None:
    pad, conv = _pad([[1, 2], [3, 0]]), _conv("pad_out", padding=[[1, 0], [0, 2]])
    assert fold_pads([pad, conv], ["conv_out"]) == [conv]
    assert conv.attrs["padding"] == [[2, 2], [3, 2]]


@pytest.mark.parametrize("case", ["same", "value", "crop", "two_users", "model_output", "not_conv"])
def test_what_does_not_fold(case: str) -> None:
    pad = _pad([[-1, 0], [0, 1]] if case == "crop" else [[1, 1], [1, 1]], value=0.5 if case == "value" else 0.0)
    conv = _conv("pad_out", padding="same" if case == "same" else "valid")
    nodes = [pad, conv]
    outputs = ["conv_out"]
    if case == "two_users":
        nodes.append(_conv("pad_out", name="other"))
    if case == "model_output":
        outputs.append("pad_out")
    if case == "not_conv":
        nodes[1] = RawNode("pool", "max_pool2d", ["pad_out"], "pool_out", {})
    before = [(n.name, list(n.inputs), dict(n.attrs)) for n in nodes]
    out = fold_pads(nodes, outputs)
    assert [(n.name, list(n.inputs), dict(n.attrs)) for n in out] == before


@pytest.mark.parametrize("groups", [1, 16])
@pytest.mark.parametrize("isa", kernels.available_isas())
def test_folded_conv_equals_pad_then_conv(groups: int, isa: str) -> None:
    """MobileNetV2's stride-2 pattern: pad bottom/right by one, 3x3 stride 2 'valid'."""
    rng = rng_for("fold-pads", groups)
    x = uniform(rng, (2, 13, 12, 16), 2.0)
    k = uniform(rng, (3, 3, 16 // groups, 16), 0.5)
    b = uniform(rng, (16,), 0.5)
    for t in (1, 2, 3):
        padded = kernels.conv2d(kernels.zero_pad2d(x, ((0, 1), (1, 1))), k, b, strides=2, groups=groups,
                                activation="relu6", num_threads=t, isa=isa)
        folded = kernels.conv2d(x, k, b, strides=2, padding=((0, 1), (1, 1)), groups=groups,
                                activation="relu6", num_threads=t, isa=isa)
        assert_bitwise_equal(folded, padded, f"groups {groups} isa {isa} threads {t}")
