"""The element-wise family (binary: add, subtract, multiply, divide, maximum,
minimum, average, prelu with Keras/NumPy broadcasting and constant operands),
scale_shift along any axis, and layer_norm, against float64 NumPy written
here. Thread counts must not change a bit."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import RTOL, assert_bitwise_equal, assert_close, rng_for, uniform

from pyconvinfer import kernels


def ref_binary(kind: str, xs: list[np.ndarray]) -> np.ndarray:
    """float64 NumPy broadcasting; prelu is x > 0 ? x : alpha * x."""
    a = [x.astype(np.float64) for x in xs]
    if kind == "add":
        return sum(a[1:], a[0])
    if kind == "average":
        return sum(a[1:], a[0]) / len(a)
    if kind == "multiply":
        out = a[0]
        for x in a[1:]:
            out = out * x
        return out
    if kind == "subtract":
        return a[0] - a[1]
    if kind == "divide":
        return a[0] / a[1]
    if kind == "maximum":
        return np.maximum.reduce(np.broadcast_arrays(*a))
    if kind == "minimum":
        return np.minimum.reduce(np.broadcast_arrays(*a))
    if kind == "prelu":
        return np.where(a[0] > 0, a[0], a[0] * a[1])
    raise ValueError(kind)


SHAPES = [
    # (per-input shapes with the batch axis; None marks a constant given without one)
    [(2, 4, 5, 3), (2, 4, 5, 3)],
    [(2, 4, 5, 3), (2, 1, 1, 3)],            # squeeze-excite: (N,H,W,C) x (N,1,1,C)
    [(2, 1, 1, 3), (2, 4, 5, 3)],            # the broadcast operand first
    [(3, 6, 7, 8), (3, 6, 1, 8), (3, 1, 7, 1)],
    [(2, 5), (2, 5), (2, 5), (2, 5)],
    [(1, 4, 4, 16), (1, 4, 4, 1)],
    [(2, 3, 4), (2, 1, 4)],
]
KINDS = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "average"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "x".join("-".join(map(str, t)) for t in s))
def test_binary_broadcasting(kind: str, shapes: list[tuple]) -> None:
    if kind in ("subtract", "divide") and len(shapes) != 2:
        pytest.skip("two operands only")
    rng = rng_for("binary", kind, tuple(shapes))
    xs = [uniform(rng, s, 2.0) for s in shapes]
    if kind == "divide":
        xs[1] = np.where(np.abs(xs[1]) < 0.25, 0.5, xs[1]).astype(np.float32)
    got = kernels.binary(kind, xs)
    ref = ref_binary(kind, xs)
    # two roundings at most per element (the op, then average's division)
    assert_close(got, ref, reduction=len(xs), err_msg=f"{kind} {shapes}")
    for t in (2, 3):
        assert_bitwise_equal(kernels.binary(kind, xs, num_threads=t), got, f"{kind} {shapes} threads {t}")


# Large enough to split into several segments and over threads; short last axes
# fold into one row (an image normalisation: (N, H, W, 3) - (3,); squeeze-excite).
LARGE = [
    ([(2, 150, 150, 3), (2, 1, 1, 3)], ()),            # folded, period 3 (segments of 1023 floats)
    ([(2, 1, 1, 3), (2, 150, 150, 3)], ()),            # the periodic operand first
    ([(1, 75, 75, 32), (1, 1, 1, 32)], ()),            # squeeze-excite, batch 1
    ([(3, 40, 40, 24), (3, 1, 1, 24), (3, 40, 40, 24)], ()),  # three inputs, one periodic
    ([(1, 300, 300, 2), (1, 300, 300, 2)], ()),        # same shapes: one long row split in segments
    ([(2, 90, 90, 5), (2, 90, 90, 1)], ()),            # per-pixel scalar: no folding
    ([(1, 200, 7, 9), (200, 1, 9)], (1,)),             # constant broadcast along W only
    ([(2, 120, 120, 3), (3,)], (1,)),                  # constant channel vector (Rescaling)
    ([(2, 120, 120, 3), ()], (1,)),                    # constant scalar
]


@pytest.mark.parametrize("kind", ["add", "subtract", "multiply", "divide", "maximum", "average"])
@pytest.mark.parametrize("case", LARGE, ids=lambda c: "x".join("-".join(map(str, t)) for t in c[0]))
def test_binary_large_segments_and_threads(kind: str, case: tuple) -> None:
    shapes, constants = case
    if kind in ("subtract", "divide") and len(shapes) != 2:
        pytest.skip("two operands only")
    rng = rng_for("binary-large", kind, tuple(shapes))
    xs = [np.asarray(uniform(rng, s, 2.0), dtype=np.float32) for s in shapes]
    if kind == "divide":
        xs[1] = np.where(np.abs(xs[1]) < 0.25, 0.5, xs[1]).astype(np.float32)
    got = kernels.binary(kind, xs, constants=constants)
    assert_close(got, ref_binary(kind, xs), reduction=len(xs), err_msg=f"{kind} {shapes}")
    for t in (2, 3):
        assert_bitwise_equal(kernels.binary(kind, xs, constants=constants, num_threads=t), got,
                             f"{kind} {shapes} threads {t}")


@pytest.mark.parametrize("kind", ["subtract", "multiply", "divide", "maximum", "minimum", "average", "prelu"])
def test_binary_every_isa_gives_the_same_bits(kind: str) -> None:
    """One IEEE operation per element (average: a sum, then one division): the
    AVX2 / AVX-512 builds of the loops must match the generic one bit for bit."""
    rng = rng_for("binary-isa", kind)
    shapes = [(1, 30, 30, 24), (1, 1, 1, 24)] if kind != "average" else [(2, 33, 17, 5)] * 3
    xs = [uniform(rng, s, 2.0) for s in shapes]
    if kind in ("divide", "prelu"):
        xs[1] = np.where(np.abs(xs[1]) < 0.25, 0.5, xs[1]).astype(np.float32)
    want = kernels.binary(kind, xs, isa="generic")
    assert_close(want, ref_binary(kind, xs), reduction=len(xs), err_msg=kind)
    for isa in kernels.available_isas():
        for t in (1, 2, 3):
            assert_bitwise_equal(kernels.binary(kind, xs, isa=isa, num_threads=t), want, f"{kind} {isa} threads {t}")


def test_binary_large_fused_swish_threads() -> None:
    rng = rng_for("binary-large-act")
    a, b = uniform(rng, (1, 80, 80, 24), 3.0), uniform(rng, (1, 1, 1, 24))
    got = kernels.binary("multiply", [a, b], activation="relu")
    assert_close(got, np.maximum(ref_binary("multiply", [a, b]), 0.0), reduction=1)
    for t in (2, 3):
        assert_bitwise_equal(kernels.binary("multiply", [a, b], activation="relu", num_threads=t), got)


@pytest.mark.parametrize("const_shape", [(), (3,), (1, 1, 3), (5, 3), (1, 4, 5, 3)])
@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize("kind", ["add", "subtract", "multiply", "divide"])
def test_binary_constant_operand_either_side(kind: str, first: bool, const_shape: tuple) -> None:
    rng = rng_for("const", kind, first, const_shape)
    x = uniform(rng, (2, 4, 5, 3), 2.0) + np.float32(3.0)  # away from 0 for divide
    c = np.asarray(uniform(rng, const_shape, 2.0) + np.float32(3.0), dtype=np.float32)
    xs, constants = ([c, x], [0]) if first else ([x, c], [1])
    got = kernels.binary(kind, xs, constants=constants)
    assert_close(got, ref_binary(kind, xs), reduction=1, err_msg=f"{kind} const {const_shape} first={first}")


def test_prelu_per_channel_and_shared_axes() -> None:
    rng = rng_for("prelu")
    x = uniform(rng, (2, 5, 6, 4), 3.0)
    for alpha_shape in [(1, 1, 4), (5, 6, 4), (5, 1, 4)]:
        alpha = uniform(rng, alpha_shape)
        got = kernels.binary("prelu", [x, alpha], constants=[1])
        assert_close(got, ref_binary("prelu", [x, alpha]), reduction=1, err_msg=f"prelu alpha {alpha_shape}")


def test_binary_fused_activation() -> None:
    rng = rng_for("binary-act")
    a, b = uniform(rng, (2, 3, 3, 8)), uniform(rng, (2, 1, 1, 8))
    got = kernels.binary("multiply", [a, b], activation="relu")
    assert_close(got, np.maximum(ref_binary("multiply", [a, b]), 0.0), reduction=1)


def test_binary_rejects_what_does_not_broadcast() -> None:
    with pytest.raises(ValueError, match="broadcast"):
        kernels.binary("add", [np.ones((2, 4, 3), np.float32), np.ones((2, 5, 3), np.float32)])
    with pytest.raises(ValueError, match="exactly two"):
        kernels.binary("subtract", [np.ones((2, 3), np.float32)] * 3)
    with pytest.raises(ValueError, match="unknown"):
        kernels.binary("power", [np.ones((2, 3), np.float32)] * 2)


@pytest.mark.parametrize("axis", [1, 2, 3, -1])
def test_scale_shift_any_axis(axis: int) -> None:
    rng = rng_for("ss-axis", axis)
    x = uniform(rng, (2, 5, 6, 7), 3.0)
    c = x.shape[axis]
    scale, shift = uniform(rng, (c,), 2.0), uniform(rng, (c,))
    bshape = [1] * 4
    bshape[axis] = c
    ref = x.astype(np.float64) * scale.reshape(bshape) + shift.reshape(bshape)
    got = kernels.scale_shift(x, scale, shift, axis=axis)
    assert_close(got, ref, reduction=2, err_msg=f"axis {axis}")
    assert_bitwise_equal(kernels.scale_shift(x, scale, shift, axis=axis, num_threads=3), got)


def ref_layer_norm(x: np.ndarray, gamma, beta, eps: float) -> np.ndarray:
    x64 = x.astype(np.float64)
    mean = x64.mean(-1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(-1, keepdims=True)
    y = (x64 - mean) / np.sqrt(var + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


@pytest.mark.parametrize("affine", [(True, True), (False, False), (True, False)])
@pytest.mark.parametrize("shape", [(2, 96), (2, 4, 5, 64), (1, 3, 3, 768)])
def test_layer_norm(shape: tuple, affine: tuple) -> None:
    rng = rng_for("ln", shape, affine)
    x = uniform(rng, shape, 4.0) + np.float32(10.0)  # an offset: the mean must be subtracted accurately
    c = shape[-1]
    gamma = uniform(rng, (c,), 2.0) if affine[0] else None
    beta = uniform(rng, (c,)) if affine[1] else None
    got = kernels.layer_norm(x, gamma, beta, epsilon=1e-6)
    ref = ref_layer_norm(x, gamma, beta, 1e-6)
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-5)
    assert_bitwise_equal(kernels.layer_norm(x, gamma, beta, epsilon=1e-6, num_threads=2), got)
