"""Ops that move values: signed pad2d (padding and cropping), resize2d
(tf.image.resize's nearest and bilinear with half-pixel centres), transpose
and slice, against NumPy references written here. They move or interpolate
without reductions, so pad / transpose / slice must be exact."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_bitwise_equal, rng_for, uniform

from pyconvinfer import kernels


@pytest.mark.parametrize("pads", [((1, 2), (0, 3)), ((-1, 0), (-1, 0)), ((-2, 1), (3, -1)), ((0, 0), (0, 0)),
                                  ((-1, -1), (-2, -2))])
def test_pad2d_signed(pads) -> None:
    x = uniform(rng_for("pad", pads), (2, 5, 6, 3))
    (t, b), (lft, r) = pads
    ref = np.pad(x, ((0, 0), (max(t, 0), max(b, 0)), (max(lft, 0), max(r, 0)), (0, 0)))
    ref = ref[:, max(-t, 0): ref.shape[1] - max(-b, 0), max(-lft, 0): ref.shape[2] - max(-r, 0)]
    got = kernels.pad2d(x, pads)
    assert_bitwise_equal(got, np.ascontiguousarray(ref), f"pads {pads}")


def test_pad2d_fill_value() -> None:
    x = uniform(rng_for("padv"), (1, 2, 3, 2))
    got = kernels.pad2d(x, ((1, 0), (0, 2)), value=0.5)
    want = np.pad(x, ((0, 0), (1, 0), (0, 2), (0, 0)), constant_values=0.5)
    assert_bitwise_equal(got, want)


def test_pad2d_crop_to_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="leaves nothing"):
        kernels.pad2d(np.ones((1, 3, 3, 1), np.float32), ((-2, -1), (0, 0)))


def ref_resize(x: np.ndarray, oh: int, ow: int, mode: str) -> np.ndarray:
    """tf.image.resize (v2: half-pixel centres, no antialias), coordinates in float32
    as TensorFlow computes them, values in float64."""
    n, h, w, c = x.shape

    def coords(out: int, size: int):
        scale = np.float32(size) / np.float32(out)
        o = np.arange(out, dtype=np.float32)
        if mode == "nearest":
            i = np.minimum(np.floor((o + np.float32(0.5)) * scale).astype(np.int64), size - 1)
            return i, i, np.zeros(out)
        pos = (o + np.float32(0.5)) * scale - np.float32(0.5)
        f = np.floor(pos)
        lo = np.clip(f.astype(np.int64), 0, size - 1)
        hi = np.clip(np.ceil(pos).astype(np.int64), 0, size - 1)
        return lo, hi, (pos - f).astype(np.float64)

    ylo, yhi, fy = coords(oh, h)
    xlo, xhi, fx = coords(ow, w)
    x64 = x.astype(np.float64)
    top = x64[:, ylo][:, :, xlo] + (x64[:, ylo][:, :, xhi] - x64[:, ylo][:, :, xlo]) * fx[None, None, :, None]
    bot = x64[:, yhi][:, :, xlo] + (x64[:, yhi][:, :, xhi] - x64[:, yhi][:, :, xlo]) * fx[None, None, :, None]
    return top + (bot - top) * fy[None, :, None, None]


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(8, 12), (3, 2), (5, 7), (4, 6), (1, 1), (13, 5)])
def test_resize2d(mode: str, size: tuple) -> None:
    x = uniform(rng_for("resize", mode, size), (2, 4, 6, 5))
    got = kernels.resize2d(x, size, mode)
    ref = ref_resize(x, *size, mode)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6, err_msg=f"{mode} {size}")
    assert_bitwise_equal(kernels.resize2d(x, size, mode, num_threads=3), got)


def test_upsample_nearest_is_repeat() -> None:
    x = uniform(rng_for("up"), (2, 3, 4, 5))
    assert_bitwise_equal(kernels.upsample_nearest2d(x, (2, 3)), np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))


@pytest.mark.parametrize("perm", [(0, 1, 2), (2, 0, 1), (1, 0, 2), (0, 2, 1), (2, 1, 0)])
def test_transpose(perm) -> None:
    x = uniform(rng_for("t", perm), (2, 3, 4, 5))
    want = np.ascontiguousarray(x.transpose(0, *[p + 1 for p in perm]))
    assert_bitwise_equal(kernels.transpose(x, perm), want, f"perm {perm}")


@pytest.mark.parametrize("slices", [[[1, 4, None]], [[None, None, None], [None, None, 2], [1, None, None]],
                                    [[-2, None, None]], [[0, 5, 3], [1, -1, 2], [None, 2, None]]])
def test_slice(slices) -> None:
    from pyconvinfer.kernels import _run

    x = uniform(rng_for("slice", str(slices)), (2, 5, 6, 3))
    idx = (slice(None),) + tuple(slice(*s) for s in slices)
    want = np.ascontiguousarray(x[idx])
    y = np.empty_like(want)
    assert_bitwise_equal(_run("slice", {"slices": slices}, [x], y), want, f"slices {slices}")
