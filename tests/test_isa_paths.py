"""The per-ISA builds of pooling, global pooling, the Winograd transforms and the GEMM
micro-kernels, at 1, 2 and 3 threads on every instruction-set path this CPU has.

Each of those kernels is one C body compiled per ISA (generic, AVX2, AVX-512) and
chosen at run time; the shapes here are large enough for the work to be split across
threads (PCI_PARALLEL_MIN_WORK), so the thread counts must agree bitwise, and every
result must match the float64 references of tests/helpers.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import (
    assert_bitwise_equal,
    assert_close,
    assert_close_activated,
    ref_activation,
    ref_conv2d,
    ref_pool2d,
    rng_for,
    typical_magnitude,
    uniform,
)

from pyconvinfer import _kernels, kernels

ISAS = _kernels.available_isas()
THREADS = (1, 2, 3)
WINOGRAD_TOL = {2: 2e-6, 4: 2e-5}  # max error / max |output| per sqrt(channels), as test_winograd.py


def _per_thread(fn, isa: str) -> np.ndarray:
    outs = [fn(isa, t) for t in THREADS]
    for t, got in zip(THREADS[1:], outs[1:]):
        assert_bitwise_equal(got, outs[0], err_msg=f"{isa}: {t} threads vs 1")
    return outs[0]


# (shape, pool, strides, padding): the rows-first path ('valid', w * c <= 4096) with many
# and with few channels, and the window path ('same', overlapping windows, channel tails).
POOLS = [
    ((2, 56, 56, 64), (2, 2), None, "valid"),
    ((3, 60, 61, 6), (2, 2), None, "valid"),
    ((2, 57, 55, 37), (3, 3), (2, 2), "same"),
    ((1, 112, 112, 24), (3, 3), (1, 1), "same"),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape,pool,strides,padding", POOLS, ids=str)
def test_pool2d_every_isa_and_thread_count(isa: str, kind: str, shape, pool, strides, padding) -> None:
    x = uniform(rng_for("pool-isa", shape, kind), shape, 4.0)
    fn = kernels.max_pool2d if kind == "max" else kernels.avg_pool2d
    got = _per_thread(lambda i, t: fn(x, pool, strides, padding, num_threads=t, isa=i), isa)
    ref = ref_pool2d(x, pool, strides, padding, kind)
    if kind == "max":  # a max is one of the inputs: exact
        np.testing.assert_array_equal(got, ref.astype(np.float32))
    else:
        assert_close(got, ref, reduction=pool[0] * pool[1], err_msg=f"avg pool {shape} {isa}")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape", [(4, 7, 7, 1280), (5, 13, 11, 37)], ids=str)
def test_global_pool_every_isa_and_thread_count(isa: str, kind: str, shape) -> None:
    x = uniform(rng_for("gpool-isa", shape, kind), shape, 3.0)
    got = _per_thread(lambda i, t: kernels.global_pool(x, kind, num_threads=t, isa=i), isa)
    if kind == "max":
        np.testing.assert_array_equal(got, x.max(axis=(1, 2)))
    else:
        assert_close(got, x.astype(np.float64).mean(axis=(1, 2)), reduction=shape[1] * shape[2])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("act", ["relu6", "swish", None])
def test_winograd_every_isa_and_thread_count(isa: str, m: int, act) -> None:
    """Channel counts off the 64-channel transform blocks and the 16-wide panels; output
    sizes that are not multiples of the tile; fused (relu6) and separate activations."""
    rng = rng_for("wino-isa", m, act)
    c, k = 72, 40
    x, kern, b = uniform(rng, (2, 29, 27, c)), uniform(rng, (3, 3, c, k), 0.3), uniform(rng, (k,))
    got = _per_thread(lambda i, t: kernels.conv2d(x, kern, b, padding="same", algorithm=f"winograd{m}",
                                                  activation=act, num_threads=t, isa=i), isa)
    ref = ref_activation(ref_conv2d(x, kern, b, padding="same"), act)
    err = np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref))))
    assert err <= WINOGRAD_TOL[m] * math.sqrt(c), f"winograd{m} {isa} {act}: relative error {err:.2e}"


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("weights", ["float32", "float16"])
def test_winograd_shared_blocks_every_isa_and_thread_count(isa: str, m: int, weights: str) -> None:
    """U over 12 MB (here 520 -> 392 channels: 13 MB for F(2x2), 29 MB for F(4x4)): at 2
    and 3 threads the threads pool their scratch into one block and split its GEMMs by
    position and panel (src/winograd.c), at 1 thread one block at a time; 220 tiles make
    several blocks, the last one short, and 392 channels a partial panel. float16: U
    computed per run into scratch and widened per panel group by each thread."""
    rng = rng_for("wino-shared", m, weights)
    c, k = 520, 392
    x, kern, b = uniform(rng, (2, 21, 19, c)), uniform(rng, (3, 3, c, k), 0.1), uniform(rng, (k,))
    if weights == "float16":  # the stored kernel is float16: the reference convolves that
        kern = kern.astype(np.float16).astype(np.float32)
    opts = {} if weights == "float32" else {"weights_dtype": "float16", "winograd_weights": "runtime_float16"}
    got = _per_thread(lambda i, t: kernels.conv2d(x, kern, b, padding="same", algorithm=f"winograd{m}",
                                                  activation="relu", num_threads=t, isa=i, **opts), isa)
    ref = ref_activation(ref_conv2d(x, kern, b, padding="same"), "relu")
    err = np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref))))
    # float16 U adds its own rounding (docs/PRECISION.md; the bounds of test_winograd_runtime.py)
    bound = WINOGRAD_TOL[m] * math.sqrt(c) if weights == "float32" else {2: 2e-3, 4: 1e-2}[m]
    assert err <= bound, f"winograd{m} {isa} {weights}: relative error {err:.2e}"


# Direct convolutions through the micro-kernels: full and partial 16-channel panels, partial
# pixel tiles, kernels with more taps than one call takes (accumulating calls), and 1x1.
DIRECT_CONVS = [
    ((2, 30, 31, 20), (3, 3, 20, 37), 1, "same", "relu"),
    ((1, 28, 28, 192), (1, 1, 192, 32), 1, "valid", "relu6"),
    ((1, 56, 56, 24), (1, 1, 24, 144), 1, "valid", None),
    ((1, 20, 21, 3), (9, 9, 3, 24), 1, "same", "swish"),
    # Thin layers (cin <= 4; cout <= 8 on AVX2, <= 16 on AVX-512): output pixels in the
    # vector lanes. LeNet-5's first layer at batch 64 (one plane: masked loads), three
    # channels with stride 2 and padding (gathers), and 4 -> 5 channels, 'same'.
    ((64, 32, 32, 1), (5, 5, 1, 6), 1, "valid", "relu"),
    ((8, 41, 37, 3), (3, 3, 3, 8), 2, "same", "tanh"),
    ((16, 23, 29, 4), (5, 3, 4, 5), 1, "same", "relu6"),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("x_shape,k_shape,strides,padding,act", DIRECT_CONVS, ids=str)
def test_direct_conv_every_isa_and_thread_count(isa: str, x_shape, k_shape, strides, padding, act) -> None:
    rng = rng_for("gemm-isa", x_shape, k_shape)
    fan_in = k_shape[0] * k_shape[1] * k_shape[2]
    x, kern = uniform(rng, x_shape), uniform(rng, k_shape, 3.0 / math.sqrt(fan_in))
    b = uniform(rng, (k_shape[3],), 0.5)
    got = _per_thread(lambda i, t: kernels.conv2d(x, kern, b, strides=strides, padding=padding, activation=act,
                                                  num_threads=t, isa=i), isa)
    pre = ref_conv2d(x, kern, b, strides=strides, padding=padding)
    assert_close_activated(got, pre, act, reduction=fan_in, scale=typical_magnitude(x, kern, fan_in),
                           err_msg=f"conv {x_shape} {k_shape} {isa}")
