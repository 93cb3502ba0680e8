"""Depthwise convolution (groups == input channels) on every instruction-set path.

The ISA tile kernels (src/conv2d_depthwise_x86.[ch]) run 4 output pixels at a time
over channel vectors (8 floats on AVX2, 16 on AVX-512) with masked tails, border
pixels one at a time, and fuse relu / relu6 as a clamp. The cases below reach each of
those: channel counts around the vector and block widths, rows with fewer than 4
interior pixels, windows wider than the image, strides, dilations, depth multipliers,
fused and non-fused activations, tap counts past the kernels' stack buffers. Every case
runs on every ISA this CPU has at 1, 2 and 3 threads: the threads must agree bitwise
and each result must match the float64 per-channel reference (tests/helpers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from helpers import (
    ActSpec,
    assert_bitwise_equal,
    assert_close_activated,
    ref_depthwise_conv2d,
    rng_for,
    typical_magnitude,
    uniform,
)

from pyconvinfer import _kernels, kernels, packing

ISAS = _kernels.available_isas()
THREADS = (1, 2, 3)

ACTS: dict[str, ActSpec] = {
    "linear": None,
    "relu": "relu",
    "relu6": "relu6",
    "leaky0.1": ("leaky_relu", {"alpha": 0.1}),
    "swish": "swish",
    "softmax": "softmax",
}


@dataclass(frozen=True)
class DwCase:
    shape: tuple[int, int, int, int]  # n, h, w, c
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    padding: Any
    dm: int
    bias: bool
    act: str

    def __str__(self) -> str:
        return (f"x{'x'.join(map(str, self.shape))}-k{self.kernel[0]}x{self.kernel[1]}-s{self.strides}"
                f"-d{self.dilation}-{self.padding}-dm{self.dm}-{'b' if self.bias else 'nob'}-{self.act}")


CASES = [
    # MobileNetV2 / EfficientNet-like layers; the first two are big enough to run on several threads.
    DwCase((1, 56, 56, 144), (3, 3), (1, 1), (1, 1), "same", 1, True, "relu6"),
    DwCase((1, 30, 31, 32), (3, 3), (2, 2), (1, 1), ((0, 1), (0, 1)), 1, True, "relu6"),  # folded pad, 2 vectors
    DwCase((2, 80, 80, 96), (3, 3), (2, 2), (1, 1), "same", 1, True, "swish"),
    DwCase((1, 14, 14, 576), (3, 3), (1, 1), (1, 1), "same", 1, False, "relu6"),
    DwCase((1, 7, 7, 960), (3, 3), (1, 1), (1, 1), "same", 1, True, "linear"),
    DwCase((1, 29, 31, 40), (5, 5), (2, 2), (1, 1), "same", 1, True, "relu"),
    DwCase((1, 15, 14, 240), (5, 5), (1, 1), (1, 1), "same", 1, True, "swish"),
    DwCase((1, 17, 23, 72), (5, 5), (2, 1), (2, 1), "same", 1, True, "relu6"),  # row kernel: stride/dilation in H only
    # Channel tails: below one vector, between vector and block widths, one past a block.
    DwCase((2, 9, 11, 2), (3, 3), (1, 1), (1, 1), "same", 1, True, "relu6"),
    DwCase((1, 9, 11, 7), (3, 3), (1, 1), (1, 1), "valid", 1, True, "linear"),
    DwCase((1, 9, 11, 17), (3, 3), (2, 1), (2, 2), "same", 1, False, "leaky0.1"),
    DwCase((1, 8, 13, 25), (3, 3), (1, 1), (1, 1), "same", 1, True, "relu"),
    DwCase((1, 8, 13, 65), (3, 3), (1, 2), (1, 1), "valid", 1, True, "relu6"),
    DwCase((3, 6, 10, 33), (2, 2), (1, 1), (1, 1), "same", 1, True, "softmax"),
    # Few or no interior pixels: narrow rows, windows as wide as or wider than the image.
    DwCase((1, 5, 3, 24), (3, 3), (1, 1), (1, 1), "same", 1, True, "relu6"),
    DwCase((1, 5, 5, 24), (7, 7), (1, 1), (1, 1), "same", 1, True, "linear"),
    DwCase((1, 6, 9, 48), (3, 3), (1, 1), (3, 3), "same", 1, False, "relu"),
    DwCase((1, 7, 6, 16), (1, 3), (1, 1), (1, 1), ((2, 1), (0, 3)), 1, True, "linear"),
    DwCase((1, 7, 6, 16), (3, 1), (3, 3), (1, 1), ((0, 2), (1, 1)), 1, True, "relu6"),
    # Depth multiplier: input channel c feeds outputs c*dm .. c*dm + dm - 1.
    DwCase((2, 9, 10, 5), (3, 3), (1, 1), (1, 1), "same", 2, True, "relu"),
    DwCase((1, 9, 10, 11), (3, 2), (2, 1), (1, 2), "valid", 3, True, "linear"),
    DwCase((1, 12, 12, 8), (5, 5), (1, 1), (1, 1), "same", 4, False, "relu6"),
    # Many taps: past the kernels' 256-pointer stack buffers, and kernel heights past 64.
    DwCase((1, 20, 21, 9), (17, 17), (1, 1), (1, 1), "same", 1, True, "linear"),
    DwCase((1, 75, 6, 12), (70, 2), (1, 1), (1, 1), "valid", 1, True, "relu"),
    DwCase((1, 20, 21, 3), (17, 17), (1, 1), (1, 1), "same", 2, False, "linear"),
]


def _run_case(case: DwCase) -> None:
    rng = rng_for("depthwise", str(case))
    n, h, w, c = case.shape
    kh, kw = case.kernel
    x = uniform(rng, case.shape)
    dk = uniform(rng, (kh, kw, c, case.dm), scale=3.0 / (kh * kw) ** 0.5)
    bias = uniform(rng, (c * case.dm,), 0.5) if case.bias else None
    spec = ACTS[case.act]
    geo = dict(strides=case.strides, dilation=case.dilation, padding=case.padding)
    pre = ref_depthwise_conv2d(x, dk, bias, **geo)
    mag = typical_magnitude(x, dk, kh * kw)
    kernel = packing.depthwise_as_conv(dk)
    packed = packing.pack_depthwise(dk)
    for isa in ISAS:
        results = [kernels.conv2d(x, kernel, bias, groups=c, activation=spec, isa=isa, num_threads=t,
                                  packed=packed, **geo) for t in THREADS]
        assert_close_activated(results[0], pre, spec, reduction=kh * kw, scale=mag,
                               err_msg=f"depthwise {case} {isa}")
        for t, got in zip(THREADS[1:], results[1:]):
            assert_bitwise_equal(got, results[0], err_msg=f"depthwise {case} {isa}: {t} threads vs 1")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_depthwise(case: DwCase) -> None:
    _run_case(case)


def test_depthwise_cases_reach_the_parallel_path() -> None:
    """At least one case has enough work for the thread comparison to compare different
    splits, not one thread three times: 2e6 multiply-adds (PCI_PARALLEL_MIN_WORK) is well
    above the depthwise threshold (PCI_PARALLEL_MIN_WORK / DW_COST_PER_MAC = 2.5e5)."""
    def work(case: DwCase) -> int:
        n, h, w, c = case.shape
        oh = -(-h // case.strides[0]) if case.padding == "same" else 0
        ow = -(-w // case.strides[1]) if case.padding == "same" else 0
        return n * oh * ow * c * case.dm * case.kernel[0] * case.kernel[1]
    assert sum(work(case) >= 2_000_000 for case in CASES) >= 2


def test_depthwise_isas_agree_with_generic_within_rounding() -> None:
    """The vector paths sum each output in the generic path's order (bias, then the taps
    row by row); only FMA contraction may differ, so the results agree to a few ulp."""
    rng = rng_for("depthwise-isas")
    x = uniform(rng, (1, 19, 23, 40))
    dk = uniform(rng, (3, 3, 40, 1))
    bias = uniform(rng, (40,))
    kernel = packing.depthwise_as_conv(dk)
    ref = kernels.conv2d(x, kernel, bias, groups=40, padding="same", isa="generic")
    for isa in ISAS:
        got = kernels.conv2d(x, kernel, bias, groups=40, padding="same", isa=isa)
        np.testing.assert_allclose(got, ref, rtol=4e-6, atol=4e-6 * float(np.abs(ref).max()),
                                   err_msg=f"depthwise {isa} vs generic")
