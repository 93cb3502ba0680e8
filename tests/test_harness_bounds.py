"""The per-element bounds that tools/make_kernel_cases.py writes for the C kernel harness
(tests/c/kernel_harness.c, run on aarch64 under qemu by tools/check_arm.sh) accept exactly
what the tests' assertions accept: a float32 result at the bound passes both, one float32
step beyond it fails both."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from helpers import (
    activated_bounds,
    assert_close,
    assert_close_activated,
    assert_close_elementwise,
    close_bounds,
    elementwise_bounds,
    rng_for,
)


def _edges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The float32 values just inside [lo, hi] (lo rounded up, hi rounded down)."""
    lo32, hi32 = lo.astype(np.float32), hi.astype(np.float32)
    lo32 = np.where(lo32.astype(np.float64) < lo, np.nextafter(lo32, np.float32(np.inf)), lo32)
    hi32 = np.where(hi32.astype(np.float64) > hi, np.nextafter(hi32, np.float32(-np.inf)), hi32)
    return lo32, hi32


def _agree(check: Callable[[np.ndarray], None], lo: np.ndarray, hi: np.ndarray, seed: str) -> None:
    lo32, hi32 = _edges(lo, hi)
    assert (lo32 <= hi32).all()
    check(lo32)  # every element at its lowest accepted value
    check(hi32)
    rng = rng_for("bounds", seed)
    for i in rng.choice(lo.size, size=6, replace=False):
        # One float32 step below the lowest accepted value, and above the highest.
        for edge, direction in ((lo32, -np.inf), (hi32, np.inf)):
            bad = edge.copy()
            bad.flat[i] = np.nextafter(edge.flat[i], np.float32(direction))
            with pytest.raises(AssertionError):
                check(bad)


@pytest.mark.parametrize("reduction", [1, 9, 300])
def test_close_bounds_match_assert_close(reduction: int) -> None:
    ref = rng_for("cb", reduction).standard_normal(200) * 3.0
    lo, hi = close_bounds(ref, reduction=reduction, scale=2.0)
    _agree(lambda g: assert_close(g, ref, reduction=reduction, scale=2.0), lo, hi, f"close{reduction}")


@pytest.mark.parametrize("spec", [None, "relu", ("relu", {"max_value": 1.5, "threshold": 0.25}), "tanh", "sigmoid",
                                  "exponential", "softmax", ("elu", {"alpha": 0.7})])
def test_activated_bounds_match_assert_close_activated(spec: object) -> None:
    pre = rng_for("ab", repr(spec)).standard_normal((8, 25)) * 2.0
    lo, hi = activated_bounds(pre, spec, reduction=27, scale=1.0)
    _agree(lambda g: assert_close_activated(g, pre, spec, reduction=27, scale=1.0), lo, hi, repr(spec))


def test_elementwise_bounds_match_assert_close_elementwise() -> None:
    x = (rng_for("eb").standard_normal(300) * 5.0).astype(np.float32)
    ref = np.tanh(x.astype(np.float64))
    lo, hi = elementwise_bounds(ref, x)
    _agree(lambda g: assert_close_elementwise(g, ref, x), lo, hi, "elementwise")
