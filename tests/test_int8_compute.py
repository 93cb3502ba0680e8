"""conv2d computing in int8 (src/conv2d_q8.c), and dense at batch 1 (src/dense_q8.c): the
input quantized per tensor to uint8, the int8 kernel's products summed exactly in int32,
one fma to float per output.

The reference below is independent of the C code: float64 NumPy on the quantized input
and the dequantized kernel, with the quantization rules of docs/PRECISION.md written out
again in NumPy. Every path (portable C; AVX-512 VNNI, AVX-VNNI on the avx2 path, or the ARM
dot product where the CPU has it) and thread count must agree bitwise: integer sums are
exact. tools/make_kernel_cases.py replays these cases on aarch64 under qemu (the NEON sdot
kernels) with the same bounds.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_within, child_env, ref_conv2d

import pyconvinfer
from pyconvinfer import _kernels, kernels
from pyconvinfer.ops import REGISTRY

ISAS = kernels.available_isas()
VNNI = any(_kernels.int8_dot_available(i) for i in ISAS)
DATA = Path(pyconvinfer.__file__).parent / "data"
DIGITS_CNN = Path(__file__).parent / "fixtures" / "precision" / "digits_cnn.keras"


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def quant_params(lo: float, hi: float) -> tuple[np.float32, np.float32, int]:
    """(scale, 1 / scale, zero point) of a range, in float32 arithmetic as the C code."""
    lo, hi = np.float32(min(lo, 0.0)), np.float32(max(hi, 0.0))
    scale = np.float32((hi - lo) / np.float32(255)) if hi > lo else np.float32(1)
    inv = np.float32(1) / scale
    zp = int(np.clip(np.rint(np.float32(-lo * inv)), 0, 255))
    return scale, inv, zp


def quantize_input(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """x as the int8 path sees it: (q - zp) * scale, in float64."""
    scale, inv, zp = quant_params(lo, hi)
    t = np.clip(np.nan_to_num(x * inv, nan=-256.0), -256, 256)
    q = np.clip(np.rint(t) + zp, 0, 255)
    return (q - zp).astype(np.float64) * np.float64(scale)


def int8_kernel(k: np.ndarray) -> np.ndarray:
    """The kernel as stored in int8 (symmetric per output channel, quantize.py), in float64."""
    amax = np.abs(k).reshape(-1, k.shape[-1]).max(axis=0)  # float32, as int8_scales
    scale = (amax.astype(np.float64) / 127).astype(np.float32)
    inv = np.divide(1.0, scale.astype(np.float64), out=np.zeros(scale.size), where=scale > 0)
    q = np.clip(np.rint(k.astype(np.float64) * inv), -127, 127)
    return q * scale.astype(np.float64)


def reference(x, k, b, lo, hi, **conv) -> tuple[np.ndarray, np.ndarray]:
    """float64 output and the size of its terms (for a relative bound)."""
    xq, kq = quantize_input(x, lo, hi), int8_kernel(k)
    y = ref_conv2d(xq, kq, None, **conv)
    mag = ref_conv2d(np.abs(xq), np.abs(kq), None, **conv)
    return y + b, mag + np.abs(b)


# (name, x shape, kernel shape, conv keywords, input offset): offsets < 0 give negative inputs (zero point > 0)
CASES = [
    ("3x3 same relu-like input", (1, 13, 17, 16), (3, 3, 16, 32), {"padding": "same"}, 0.0),
    ("3x3 same negative inputs", (2, 9, 11, 8), (3, 3, 8, 40), {"padding": "same"}, -0.7),
    ("stride 2 valid", (1, 15, 14, 12), (3, 3, 12, 16), {"strides": 2}, -0.2),
    ("dilation 2", (1, 12, 12, 4), (3, 3, 4, 20), {"dilation": 2, "padding": "same"}, -1.0),
    ("1x1 three panels", (1, 7, 5, 64), (1, 1, 64, 48), {}, 0.0),
    ("5x5 explicit padding", (1, 10, 9, 8), (5, 5, 8, 8), {"padding": ((2, 1), (0, 3))}, -0.5),
    ("one output pixel", (1, 3, 3, 20), (3, 3, 20, 17), {}, -0.1),
    ("wide channels", (1, 6, 6, 256), (3, 3, 256, 33), {"padding": "same"}, 0.0),
    # over 512 KiB of weights: the driver walks them block by block (weights-outer order), a partial last block
    ("weights block by block", (1, 6, 7, 256), (3, 3, 256, 240), {"padding": "same"}, -0.4),
    # over 1 MiB of output: non-temporal stores where a row's panel is aligned, masked ones elsewhere
    ("large output, streamed", (1, 64, 66, 8), (3, 3, 8, 72), {"padding": "same"}, -0.3),
]


def _run(case, isa, threads, *, activation=None, input_range=None, x=None):
    _, xs, ks, kw, offset = case
    rng = np.random.default_rng(zlib.crc32(case[0].encode()))  # stable across runs (str hash is salted)
    drawn = _f32(np.maximum(rng.standard_normal(xs) + offset, offset * 3))
    x = drawn if x is None else x
    k = _f32(rng.standard_normal(ks) * 0.2)
    b = _f32(rng.standard_normal(ks[3]))
    y = kernels.conv2d(x, k, b, weights_dtype="int8", int8_compute=True, isa=isa, num_threads=threads,
                       activation=activation, input_range=input_range, **kw)
    return x, k, b, y


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_float64_on_the_quantized_operands(case) -> None:
    x, k, b, y = _run(case, ISAS[-1], 2)
    kw = {key: v for key, v in case[3].items()}
    want, mag = reference(x, k, b, float(x.min()), float(x.max()), **kw)
    assert_within(y, want, 1e-6 * mag + 1e-30, err_msg=case[0])  # 1e-6 of the terms
    # and it is a quantized result: one input step away from the float32 convolution, not equal to it
    exact = ref_conv2d(x.astype(np.float64), k.astype(np.float64), b, **kw)
    assert not np.array_equal(y, exact.astype(np.float32))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_path_and_thread_count_agree_bitwise(case) -> None:
    first = None
    for isa in ISAS:
        for threads in (1, 2, 3):
            y = _run(case, isa, threads)[3]
            if first is None:
                first = y
            np.testing.assert_array_equal(y, first, err_msg=f"{case[0]} {isa} {threads} threads")


@pytest.mark.parametrize("activation", ["relu", "relu6", "tanh", "softmax", None])
def test_activations_apply_after_the_int8_sum(activation) -> None:
    case = CASES[1]
    x, k, b, y = _run(case, ISAS[-1], 2, activation=activation)
    linear = _run(case, ISAS[-1], 2, activation=None)[3]
    want = {"relu": np.maximum(linear, 0), "relu6": np.clip(linear, 0, 6), "tanh": np.tanh(linear),
            None: linear}.get(activation)
    if activation == "softmax":
        e = np.exp(linear.astype(np.float64) - linear.max(axis=-1, keepdims=True))
        want = e / e.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(y, want, rtol=2e-6, atol=1e-6)


def test_calibrated_range_clips_what_lies_outside() -> None:
    case = CASES[1]
    x, k, b, _ = _run(case, ISAS[-1], 1)
    lo, hi = -0.5, 1.25  # narrower than the data: values beyond clip to the range's ends
    for isa in ISAS:
        y = _run(case, isa, 2, input_range=(lo, hi), x=x)[3]
        want, mag = reference(x, k, b, lo, hi, **case[3])
        assert_within(y, want, 1e-6 * mag, err_msg=isa)


def test_zero_input_gives_the_bias() -> None:
    case = CASES[0]
    x = np.zeros(case[1], dtype=np.float32)
    _, _, b, y = _run(case, ISAS[-1], 2, x=x)
    np.testing.assert_array_equal(y, np.broadcast_to(b, y.shape))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("where", [(0, 4, 5, 3), (0, 12, 16, 15)])  # in the vector loop; the last element
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_take_the_float32_path(bad, where, isa) -> None:
    """A measured range that is not finite cannot quantize: the layer computes in float32 on
    the dequantized kernel, so NaN and inf propagate exactly as they do there."""
    case = CASES[0]
    rng = np.random.default_rng(3)
    x = _f32(rng.standard_normal(case[1]))
    x[where] = bad
    _, k, b, y = _run(case, isa, 2, x=x)
    want = kernels.conv2d(x, k, b, weights_dtype="int8", padding="same", isa=isa, num_threads=2)
    assert np.array_equal(y, want, equal_nan=True)  # the same path's own float32 result (no float64 reference)
    assert not np.isfinite(y).all()


@pytest.mark.parametrize("values", [(-3e38, 3e38), (0.0, 1e-42), (-1e-40, 0.0)])
def test_ranges_whose_step_overflows_or_underflows_take_the_float32_path(values) -> None:
    """(hi - lo) / 255 must be a normal float32: otherwise the layer computes in float32."""
    case = CASES[0]
    x = np.zeros(case[1], dtype=np.float32)
    x[0, 1, 2, :2] = values
    _, k, b, y = _run(case, ISAS[-1], 2, x=x)
    want = kernels.conv2d(x, k, b, weights_dtype="int8", padding="same", isa=ISAS[-1], num_threads=2)
    assert np.array_equal(y, want, equal_nan=True)
    for rng in ((-3e38, 3e38), (0.0, 1e-42)):  # calibrated ranges too
        y = _run(case, ISAS[-1], 2, x=x, input_range=rng)[3]
        assert np.array_equal(y, want, equal_nan=True)


def _plan_add(ints, *, kdtype="int8", algo=0, floats=(), scratch_floats=None, c=8, oc=16, k=(3, 3)):
    n, h, w = ints[:3]
    x = np.zeros(n * h * w * c, np.float32)
    y = np.zeros(n * ints[4] * ints[5] * oc, np.float32)
    kk = np.zeros(k[0] * k[1] * c * -(-oc // 16) * 16, np.int8 if kdtype == "int8" else np.float32)
    sc = np.ones(-(-oc // 16) * 16, np.float32)
    need = _kernels.conv2d_int8_scratch_floats(ints[:16])
    scratch = np.zeros(max(16, need if scratch_floats is None else scratch_floats), np.float32)
    arrays = [x, y, kk, sc, scratch]
    plan = _kernels.Plan(arrays, [a is y or a is scratch for a in arrays])
    weights = [kk, None, sc] if kdtype == "int8" else [kk, None, None]
    plan.add(_kernels.OP_IDS["conv2d"], [x], y, weights=weights, weight_dtypes=[3 if kdtype == "int8" else 0, 0, 0],
             ints=ints, algo=algo, floats=list(floats), scratch=scratch)
    return plan


def _ints(c=8, oc=16, groups=1, mode=1, kh=3, kw=3):
    #       n  h  w  c  oh ow oc  kh  kw sh sw dh dw pt pl groups runtime-U int8
    return [1, 6, 6, c, 4, 4, oc, kh, kw, 1, 1, 1, 1, 0, 0, groups, 0, mode]


def test_build_info_names_the_paths_that_compute_in_int8() -> None:
    """build_info()["int8_dot_isas"] and the kernel each path's int8 step runs agree."""
    plan = _plan_add(_ints())
    dot = pyconvinfer.build_info()["int8_dot_isas"]
    kernel = {"avx512": "AVX-512 VNNI", "avx2": "AVX-VNNI", "neon": "NEON sdot"}
    assert set(dot) <= set(ISAS)
    for isa in ISAS:
        want = kernel[isa] if isa in dot else "portable C"
        assert plan.algorithm(0, isa) == f"int8 indirect GEMM ({want})", isa


def test_a_valid_int8_step_is_accepted() -> None:
    _plan_add(_ints())
    _plan_add(_ints(mode=2), floats=[-1.0, 2.0])


@pytest.mark.parametrize("kwargs, match", [
    ({"kdtype": "float32"}, "int8 kernel"),
    ({"ints": _ints(c=6), "c": 6}, "multiple of 4"),
    ({"ints": _ints(mode=3)}, "int8 compute mode 3"),
    ({"ints": _ints(mode=2), "floats": [2.0, 1.0]}, "not a finite interval"),
    ({"ints": _ints(mode=2), "floats": [0.0, np.inf]}, "not a finite interval"),
    ({"scratch_floats": 16}, "int8 scratch too small"),
    ({"ints": _ints(kh=9, kw=9)[:4] + [1, 1] + _ints()[6:7] + [9, 9] + _ints()[9:], "k": (9, 9)}, "at most 64 taps"),
])
def test_inconsistent_int8_steps_are_refused(kwargs, match) -> None:
    ints = kwargs.pop("ints", _ints())
    with pytest.raises(ValueError, match=match):
        _plan_add(ints, **kwargs)


def test_the_largest_reduction_stays_exact() -> None:
    """kh*kw*cin = 32768, the limit: extreme inputs (q at 0 and 255, zero point mid-range) and
    full-scale weights keep the int32 sums and their compensation exact."""
    rng = np.random.default_rng(5)
    c = 32768
    x = _f32(np.where(rng.random((1, 1, 3, c)) < 0.5, -4.0, 4.0))
    k = _f32(np.sign(rng.standard_normal((1, 1, c, 16))) + rng.standard_normal((1, 1, c, 16)) * 1e-3)
    k[..., 0] = 1.0  # one channel of all-equal weights: its sum is 32768 * 127
    b = _f32(rng.standard_normal(16))
    for isa in ISAS:
        y = kernels.conv2d(x, k, b, weights_dtype="int8", int8_compute=True, isa=isa, num_threads=2)
        want, mag = reference(x, k, b, -4.0, 4.0)
        assert_within(y, want, 1e-6 * mag, err_msg=isa)
    assert _kernels.conv2d_int8_scratch_floats([1, 1, 3, c + 4, 1, 3, 16, 1, 1, 1, 1, 1, 1, 0, 0, 1]) == -1


def test_shapes_without_an_int8_path_report_so() -> None:
    assert _kernels.conv2d_int8_scratch_floats(_ints(c=6)) == -1
    assert _kernels.conv2d_int8_scratch_floats(_ints(c=8, groups=2)) == -1
    attrs = kernels._conv_attrs((3, 3), (1, 1), (1, 1), "valid", 1, 6, 16)
    st = REGISTRY["conv2d"].step(attrs, [(6, 6, 6)], (4, 4, 16), 1)
    assert REGISTRY["conv2d"].int8_step(attrs, st) is None
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="no int8 compute path"):
        kernels.conv2d(_f32(rng.standard_normal((1, 6, 6, 6))), _f32(rng.standard_normal((3, 3, 6, 16))),
                       weights_dtype="int8", int8_compute=True)


# ---- dense at batch 1 (src/dense_q8.c): the same quantization, one row ----
# (name, k input features, n units, input offset): k not a multiple of 16 runs the kernels' row tails
DENSE_CASES = [
    ("relu-like row", 400, 120, 0.0),
    ("negative inputs", 333, 37, -0.6),
    ("four features", 4, 3, -0.1),
    ("wide", 4099, 70, 0.2),
]


def _dense(case, isa, threads, *, activation=None, x=None):
    _, k, n, offset = case
    rng = np.random.default_rng(zlib.crc32(case[0].encode()))
    drawn = _f32(np.maximum(rng.standard_normal((1, k)) + offset, offset * 3))
    x = drawn if x is None else x
    w = _f32(rng.standard_normal((k, n)) * 0.1)
    b = _f32(rng.standard_normal(n))
    y = kernels.dense(x, w, b, weights_dtype="int8", int8_compute=True, isa=isa, num_threads=threads,
                      activation=activation)
    return x, w, b, y


@pytest.mark.parametrize("case", DENSE_CASES, ids=[c[0] for c in DENSE_CASES])
def test_dense_matches_float64_on_the_quantized_operands(case) -> None:
    x, w, b, y = _dense(case, ISAS[-1], 2)
    xq, wq = quantize_input(x, float(x.min()), float(x.max())), int8_kernel(w)
    want, mag = xq @ wq + b, np.abs(xq) @ np.abs(wq) + np.abs(b)
    assert_within(y, want, 1e-6 * mag + 1e-30, err_msg=case[0])
    assert not np.array_equal(y, (x.astype(np.float64) @ wq + b).astype(np.float32))  # the input was quantized


@pytest.mark.parametrize("case", DENSE_CASES, ids=[c[0] for c in DENSE_CASES])
def test_dense_paths_and_thread_counts_agree_bitwise(case) -> None:
    first = _dense(case, ISAS[0], 1)[3]
    for isa in ISAS:
        for threads in (1, 2, 3):
            np.testing.assert_array_equal(_dense(case, isa, threads)[3], first, err_msg=f"{case[0]} {isa} {threads}")


@pytest.mark.parametrize("activation", ["relu", "relu6", "tanh", "softmax"])
def test_dense_activations_apply_after_the_int8_sum(activation) -> None:
    linear = _dense(DENSE_CASES[1], ISAS[-1], 2)[3]
    y = _dense(DENSE_CASES[1], ISAS[-1], 2, activation=activation)[3]
    want = {"relu": np.maximum(linear, 0), "relu6": np.clip(linear, 0, 6), "tanh": np.tanh(linear)}.get(activation)
    if activation == "softmax":
        e = np.exp(linear.astype(np.float64) - linear.max())
        want = e / e.sum()
    np.testing.assert_allclose(y, want, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_dense_non_finite_inputs_take_the_float32_path(bad) -> None:
    case = DENSE_CASES[0]
    x = _f32(np.random.default_rng(4).standard_normal((1, case[1])))
    x[0, 7] = bad
    _, w, b, y = _dense(case, ISAS[-1], 2, x=x)
    want = kernels.dense(x, w, b, weights_dtype="int8", isa=ISAS[-1], num_threads=2)
    assert np.array_equal(y, want, equal_nan=True) and not np.isfinite(y).all()


def test_dense_largest_reduction_stays_exact() -> None:
    """k = 32768 with q at 0 and 255 (zero point mid-range) and full-scale weights: exact int32 sums."""
    rng = np.random.default_rng(6)
    k = 32768
    x = _f32(np.where(rng.random((1, k)) < 0.5, -4.0, 4.0))
    w = _f32(np.sign(rng.standard_normal((k, 16))) + rng.standard_normal((k, 16)) * 1e-3)
    w[:, 0] = 1.0  # one channel of all-equal weights: its sum is 32768 * 127
    b = _f32(rng.standard_normal(16))
    xq, wq = quantize_input(x, -4.0, 4.0), int8_kernel(w)
    for isa in ISAS:
        y = kernels.dense(x, w, b, weights_dtype="int8", int8_compute=True, isa=isa, num_threads=2)
        assert_within(y, xq @ wq + b, 1e-6 * (np.abs(xq) @ np.abs(wq) + np.abs(b)), err_msg=isa)
    assert _kernels.dense_int8_scratch_floats(1, k + 1) == -1


def test_dense_batches_keep_float32() -> None:
    """Only a batch of one computes in int8: a batch's GEMM reuses each weight across rows."""
    assert _kernels.dense_int8_scratch_floats(2, 16) == -1
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match="no int8 compute path"):
        kernels.dense(_f32(rng.standard_normal((2, 16))), _f32(rng.standard_normal((16, 4))), weights_dtype="int8",
                      int8_compute=True)


def _dense_plan_add(ints, *, kdtype="int8", scratch_floats=None):
    m, k, n = ints[:3]
    x, y = np.zeros(m * k, np.float32), np.zeros(m * n, np.float32)
    kk = np.zeros(-(-n // 16) * 16 * k, np.int8 if kdtype == "int8" else np.float32)
    sc = np.ones(-(-n // 16) * 16, np.float32)
    scratch = np.zeros(max(16, (k + 63) // 64 * 16 if scratch_floats is None else scratch_floats), np.float32)
    arrays = [x, y, kk, sc, scratch]
    plan = _kernels.Plan(arrays, [a is y or a is scratch for a in arrays])
    weights = [kk, None, sc] if kdtype == "int8" else [kk, None, None]
    plan.add(_kernels.OP_IDS["dense"], [x], y, weights=weights, weight_dtypes=[3 if kdtype == "int8" else 0, 0, 0],
             ints=ints, scratch=scratch)


@pytest.mark.parametrize("kwargs, match", [
    ({"ints": [1, 300, 20, 2]}, "int8 compute mode 2"),
    ({"ints": [1, 300, 20, 1], "kdtype": "float32"}, "int8 kernel"),
    ({"ints": [2, 300, 20, 1]}, "batch 1"),
    ({"ints": [1, 300, 20, 1], "scratch_floats": 16}, "int8 scratch too small"),
])
def test_inconsistent_dense_int8_steps_are_refused(kwargs, match) -> None:
    _dense_plan_add([1, 300, 20, 1])  # the valid step
    with pytest.raises(ValueError, match=match):
        _dense_plan_add(**kwargs)


# ---- models ----
@pytest.fixture(scope="module")
def digits_files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("int8")
    x = np.load(DATA / "digits_test_x.npy")
    return {"float32": Path(pyconvinfer.convert(DIGITS_CNN, tmp / "f32.pci")),
            "int8": Path(pyconvinfer.convert(DIGITS_CNN, tmp / "i8.pci", weights="int8")),
            "calibrated": Path(pyconvinfer.convert(DIGITS_CNN, tmp / "c8.pci", weights="int8", calibrate=x[:64]))}


def test_models_keep_their_accuracy_and_verify_in_int8(digits_files) -> None:
    x, y = np.load(DATA / "digits_test_x.npy"), np.load(DATA / "digits_test_y.npy")
    base = float(np.mean(pyconvinfer.load(digits_files["float32"]).predict(x).argmax(1) == y))
    for name in ("int8", "calibrated"):
        for isa in ISAS:
            m = pyconvinfer.load(digits_files[name], int8_compute=True, isa=isa)
            prep = m.prepared(x[:1])
            algos = [prep.plan.algorithm(i, m.isa) for i in range(len(prep.plan))]
            assert sum(a.startswith("int8 indirect GEMM") for a in algos) >= 4, algos
            assert sum(a.startswith("int8 GEMV") for a in algos) >= 1, algos  # batch 1: the dense layers too
            acc = float(np.mean(m.predict(x).argmax(1) == y))
            assert acc >= base - 0.005, (name, isa, acc, base)
            result = m.verify(print_fn=None)
            assert result.passed, result.lines()


def test_int8_compute_option(digits_files) -> None:
    x = np.load(DATA / "digits_test_x.npy")[:8]
    on = pyconvinfer.load(digits_files["int8"], int8_compute=True)
    off = pyconvinfer.load(digits_files["int8"], int8_compute=False)
    auto = pyconvinfer.load(digits_files["int8"])
    assert on.int8_compute and not off.int8_compute and auto.int8_compute == VNNI
    prep = off.prepared(x)
    assert not any(prep.plan.algorithm(i, off.isa).startswith("int8") for i in range(len(prep.plan)))
    a, b = on.predict(x), off.predict(x)
    assert not np.array_equal(a, b) and np.abs(a - b).max() < 0.05
    # a float32 file has no int8 kernels: the option changes nothing
    f32 = [pyconvinfer.load(digits_files["float32"], int8_compute=v).predict(x) for v in (True, False)]
    np.testing.assert_array_equal(f32[0], f32[1])
    with pytest.raises(ValueError, match="int8_compute must be"):
        pyconvinfer.load(digits_files["int8"], int8_compute="yes")


def test_calibrated_ranges_are_stored(digits_files) -> None:
    m = pyconvinfer.load(digits_files["calibrated"])
    convs = [n for n in m.graph.nodes if n.op == "conv2d"]
    assert convs and all(len(n.attrs["input_range"]) == 2 for n in convs)
    x = np.load(DATA / "digits_test_x.npy")[:64]
    f32 = pyconvinfer.load(pyconvinfer.convert(DIGITS_CNN, m.file.path + ".f32.pci"))
    ranges = f32.input_ranges(x)
    for n in convs:  # the float32 model's own ranges over the same samples (its Winograd U is stored)
        assert tuple(n.attrs["input_range"]) == pytest.approx(ranges[n.name], rel=1e-3)  # run-time U: rounding
    # the test vectors are two of the samples (random inputs would measure clipping)
    np.testing.assert_array_equal(m.file.tensors["__verify__/input/0"][:2], x[:2])


def test_one_calibration_sample_is_a_batch_of_one(tmp_path) -> None:
    x = np.load(DATA / "digits_test_x.npy")[0]  # (32, 32, 1)
    lines: list[str] = []
    path = pyconvinfer.convert(DIGITS_CNN, tmp_path / "one.pci", weights="int8", calibrate=x, report=lines.append)
    assert "on 1 sample(s)" in " ".join(lines)
    m = pyconvinfer.load(path)
    np.testing.assert_array_equal(m.file.tensors["__verify__/input/0"], x[None])
    assert m.verify(print_fn=None).passed


def test_convert_warns_when_the_stored_file_would_fail_verify(tmp_path, monkeypatch) -> None:
    """convert checks both ways an int8 file can compute and warns (with what to do) when
    either misses the verify threshold; here the threshold is made tiny to provoke it."""
    from pyconvinfer import verify as vf

    lines: list[str] = []
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        pyconvinfer.convert(DIGITS_CNN, tmp_path / "ok.pci", weights="int8", report=lines.append)
    assert not [w for w in quiet if "verify threshold" in str(w.message)]
    assert any("float32 compute" in ln for ln in lines) and any("int8 compute" in ln for ln in lines)
    monkeypatch.setitem(vf.THRESHOLDS, "int8", 1e-9)
    with pytest.warns(pyconvinfer.errors.ConversionWarning, match="more than the verify threshold 1e-09") as seen:
        pyconvinfer.convert(DIGITS_CNN, tmp_path / "tight.pci", weights="int8")
    assert {m for w in seen.list for m in ("float32 compute", "int8 compute") if m in str(w.message)} == {
        "float32 compute", "int8 compute"}
    assert not pyconvinfer.load(tmp_path / "tight.pci").verify(print_fn=None).passed


@pytest.mark.parametrize("bad, match", [("abc", "input_range must be"), ([1.0], "input_range must be"),
                                        ([0.0, "1"], "input_range must be"), ([2.0, 1.0], "not a finite interval"),
                                        ([0.0, 1e39], "not a finite interval"), ([float("nan"), 1.0], "finite")])
def test_a_file_with_a_bad_input_range_is_refused(digits_files, tmp_path, bad, match) -> None:
    """A forged or damaged `input_range` never reaches the kernel: the plan refuses it and names the node."""
    from pyconvinfer.format import read_model, write_model

    mf = read_model(digits_files["calibrated"])
    header = {k: v for k, v in mf.header.items() if k != "tensors"}
    victim = next(n for n in header["nodes"] if "input_range" in n["attrs"] and n["attrs"]["in_channels"] % 4 == 0)
    victim["attrs"]["input_range"] = bad
    path = tmp_path / "bad.pci"
    scales = {n["weights"]["kernel"]: n["weights"]["kernel_scale"] for n in header["nodes"]
              if "kernel_scale" in n["weights"]}
    write_model(path, header, {n: np.array(a) for n, a in mf.tensors.items()}, scales=scales)
    x = np.load(DATA / "digits_test_x.npy")[:2]
    with pytest.raises(pyconvinfer.ModelFileError, match=match) as e:
        pyconvinfer.load(path, int8_compute=True).predict(x)
    assert victim["name"] in str(e.value)
    # computing in float32 never reads the range
    assert pyconvinfer.load(path, int8_compute=False).predict(x).shape == (2, 10)


def test_calibrate_is_refused_where_it_cannot_apply(tmp_path) -> None:
    x = np.load(DATA / "digits_test_x.npy")[:4]
    with pytest.raises(pyconvinfer.ConversionError, match="needs --weights int8"):
        pyconvinfer.convert(DIGITS_CNN, tmp_path / "a.pci", weights="float16", calibrate=x)
    with pytest.raises(pyconvinfer.ConversionError, match="finite numbers"):
        pyconvinfer.convert(DIGITS_CNN, tmp_path / "b.pci", weights="int8", calibrate=np.full((2, 32, 32, 1), np.nan))
    with pytest.raises(pyconvinfer.ConversionError, match="--calibrate"):
        pyconvinfer.convert(DIGITS_CNN, tmp_path / "c.pci", weights="int8", calibrate=np.zeros((2, 8, 8, 3)))
    assert not list(tmp_path.iterdir())


def test_cli_calibrate_and_int8_compute_flags(tmp_path, digits_files) -> None:
    np.save(tmp_path / "s.npy", np.load(DATA / "digits_test_x.npy")[:16])
    run = [sys.executable, "-m", "pyconvinfer.cli"]
    out = tmp_path / "m.pci"
    p = subprocess.run(run + ["convert", str(DIGITS_CNN), "-o", str(out), "--weights", "int8", "--calibrate",
                              str(tmp_path / "s.npy")], capture_output=True, text=True, env=child_env(), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "calibrated the input ranges of 6 convolution(s) on 16 sample(s)" in p.stdout
    for mode in ("on", "off", "auto"):
        p = subprocess.run(run + ["verify", str(out), "--int8-compute", mode], capture_output=True, text=True,
                           env=child_env(), cwd=tmp_path)
        assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run(run + ["bench", str(out), "--int8-compute", "on", "--per-layer", "--repeat", "2"],
                       capture_output=True, text=True, env=child_env(), cwd=tmp_path)
    assert p.returncode == 0 and "int8 indirect GEMM" in p.stdout, p.stdout + p.stderr
