"""Winograd F(2x2, 3x3) and F(4x4, 3x3) against the float64 reference.

Winograd trades multiplications for a different rounding-error bound: the
transforms scale values by up to 5 (F(4x4)) before the channel sums, so its
error grows faster than direct convolution's. The bound tested here, written
once: max |y - ref| <= WINOGRAD_TOL[m] * sqrt(C) * max |ref|, with
WINOGRAD_TOL = {2: 4e-7, 4: 2e-6} (measured on random data: F(2x2) 2.5e-6 and
F(4x4) 1.6e-5 relative error at C = 256; direct convolution: ~5e-7)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import ref_activation, ref_conv2d, rng_for, uniform

from pyconvinfer import _kernels, kernels

WINOGRAD_TOL = {2: 4e-7, 4: 2e-6}
ISAS = _kernels.available_isas()

CASES = [  # (n, h, w, c, k, padding)
    (1, 4, 4, 16, 16, "same"),
    (2, 7, 9, 17, 33, "same"),
    (1, 9, 7, 16, 20, "valid"),
    (3, 13, 11, 64, 17, "same"),
    (1, 28, 28, 128, 64, "same"),
    (1, 5, 6, 256, 48, "valid"),
]


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + "-" + c[5])
@pytest.mark.parametrize("isa", ISAS)
def test_winograd_against_float64(m: int, case: tuple, isa: str) -> None:
    n, h, w, c, k, padding = case
    rng = rng_for("wino", m, case)
    x, kern, b = uniform(rng, (n, h, w, c)), uniform(rng, (3, 3, c, k), 0.3), uniform(rng, (k,))
    ref = ref_conv2d(x, kern, b, padding=padding)
    got = kernels.conv2d(x, kern, b, padding=padding, algorithm=f"winograd{m}", isa=isa)
    err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
    assert err <= WINOGRAD_TOL[m] * math.sqrt(c), f"relative error {err:.2e}"


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_fused_activation_and_thread_invariance(m: int) -> None:
    rng = rng_for("wino-act", m)
    x, kern, b = uniform(rng, (2, 30, 30, 32)), uniform(rng, (3, 3, 32, 64), 0.3), uniform(rng, (64,))
    outs = [kernels.conv2d(x, kern, b, padding="same", algorithm=f"winograd{m}", activation="relu6",
                           num_threads=t) for t in (1, 2, 3)]
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    ref = ref_activation(ref_conv2d(x, kern, b, padding="same"), "relu6")
    assert np.max(np.abs(outs[0] - ref)) <= WINOGRAD_TOL[m] * math.sqrt(32) * max(1.0, np.max(np.abs(ref)))


def test_winograd_refuses_other_shapes() -> None:
    x = np.zeros((1, 8, 8, 16), np.float32)
    with pytest.raises(ValueError, match="3x3 kernel, stride 1"):
        kernels.conv2d(x, np.zeros((3, 3, 16, 16), np.float32), strides=2, algorithm="winograd4")
    with pytest.raises(ValueError, match="algorithm"):
        kernels.conv2d(x, np.zeros((3, 3, 16, 16), np.float32), algorithm="fft")
