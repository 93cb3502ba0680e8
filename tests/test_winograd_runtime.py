"""Winograd weights transformed at run time (src/winograd_weights.c): a step that
holds the direct 3x3 kernel, in any stored precision, computes U into scratch as
float16 or float32 and gives what the same U computed by the converter gives."""

from __future__ import annotations

import numpy as np
import pytest

from pyconvinfer import kernels, packing
from pyconvinfer import quantize as Q
from pyconvinfer.ops import REGISTRY


def _conv64(x: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    n, h, w, _ = x.shape
    y = np.zeros((n, h, w, k.shape[3])) + b
    for i in range(3):
        for j in range(3):
            y += np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + w], k[i, j].astype(np.float64))
    return y


def _widened(kernel: np.ndarray, dtype: str) -> np.ndarray:
    """The Keras-layout kernel the stored one stands for (quantize.dequantize, unpacked)."""
    kh, kw, cin, cout = kernel.shape
    attrs = {"kernel_size": [kh, kw], "groups": 1, "in_channels": cin, "filters": cout}
    packed = packing.pack_conv2d(kernel)
    segs = REGISTRY["conv2d"].channels(attrs, packed.size)
    data, scale = Q.store(packed, dtype, segs)
    back = Q.dequantize(data, dtype, scale, segs)
    nb = -(-cout // 16)
    unpacked = back.reshape(nb, kh, kw, cin, 16).transpose(1, 2, 3, 0, 4).reshape(kh, kw, cin, nb * 16)
    return np.ascontiguousarray(unpacked[..., :cout])


@pytest.mark.parametrize("u", ["float16", "float32"])
@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("dtype", Q.WEIGHT_DTYPES)
@pytest.mark.parametrize("isa", kernels.available_isas())
def test_runtime_u_matches_the_stored_u(m: int, dtype: str, isa: str, u: str) -> None:
    rng = np.random.default_rng(m)
    x = rng.standard_normal((2, 13, 11, 24)).astype(np.float32)
    k = rng.standard_normal((3, 3, 24, 40)).astype(np.float32) * 0.2
    b = rng.standard_normal(40).astype(np.float32)
    kw = _widened(k, dtype)
    # the converter's route: U = G g G^T in float64 from the widened kernel, rounded to float32 (then float16)
    want = kernels.conv2d(x, kw, b, padding="same", algorithm=f"winograd{m}", isa=isa, num_threads=1,
                          weights_dtype=u)
    outs = [kernels.conv2d(x, k, b, padding="same", algorithm=f"winograd{m}", winograd_weights=f"runtime_{u}",
                           weights_dtype=dtype, isa=isa, num_threads=t) for t in (1, 2, 3)]
    for y in outs[1:]:
        np.testing.assert_array_equal(y, outs[0])  # no dependence on the thread count
    if m == 2:  # G of F(2x2) is exact in binary: the same U bit for bit
        np.testing.assert_array_equal(outs[0], want)
    else:  # 1/6, 1/24: float64 sums in another order than numpy's einsum can round a U value the other way
        np.testing.assert_allclose(outs[0], want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    ref = _conv64(x, kw, b)  # the error U's own rounding adds (docs/PRECISION.md): float16 U ~2^-11 per weight
    bound = {"float32": 1e-4, "float16": {2: 2e-3, 4: 1e-2}[m]}[u]
    assert np.abs(outs[0] - ref).max() <= bound * max(1.0, np.abs(ref).max())


def test_runtime_u_with_relu_and_one_thread_scratch() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 28, 28, 16)).astype(np.float32)
    k = rng.standard_normal((3, 3, 16, 33)).astype(np.float32) * 0.2
    got = kernels.conv2d(x, k, None, padding="same", algorithm="winograd2", winograd_weights="runtime_float16",
                         activation="relu")
    want = np.maximum(_conv64(x, k, np.zeros(33)), 0)
    assert np.abs(got - want).max() <= 2e-3 * max(1.0, np.abs(want).max())


def test_bad_mode_is_refused() -> None:
    x = np.zeros((1, 8, 8, 16), np.float32)
    with pytest.raises(ValueError, match="winograd_weights"):
        kernels.conv2d(x, np.zeros((3, 3, 16, 16), np.float32), algorithm="winograd2", winograd_weights="cache")
