"""Kernels on float16 / bfloat16 / int8 packed weights (quantize.py).

The C kernels widen stored weights to float32 (in registers, or into a small
buffer) and must compute bitwise what the float32 kernels compute on
quantize.dequantize(stored): every conv2d path (indirect GEMM, narrow, grouped,
depthwise, thin AVX-512 / AVX2, Winograd 2 and 4), conv2d_transpose and dense
(GEMV and batches), on every ISA this machine has, at 1, 2 and 3 threads.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pyconvinfer import _kernels, kernels, packing, quantize
from pyconvinfer.ops import REGISTRY

ISAS = kernels.available_isas()
LOW = ("float16", "bfloat16", "int8")
THREADS = (1, 2, 3)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _dequantized(op: str, attrs: dict, packed: np.ndarray, dtype: str) -> np.ndarray:
    """What the kernels must compute with: the packed kernel stored and widened back."""
    segs = REGISTRY[op].channels(attrs, packed.size)
    data, scale = quantize.store(packed, dtype, segs)
    return quantize.dequantize(data, dtype, scale, segs)


def _conv_attrs(kernel: np.ndarray, c: int, groups: int, algorithm: str) -> dict:
    kh, kw, _, cout = kernel.shape
    return {"kernel_size": [kh, kw], "groups": groups, "in_channels": c, "filters": cout, "algorithm": algorithm}


# (name, x shape, kernel shape, conv2d keyword arguments): one case per C path
CONV_CASES = [
    ("gemm 3x3 pad", (2, 9, 11, 8), (3, 3, 8, 40), {"padding": "same"}),
    ("gemm 1x1 many panels", (1, 5, 7, 24), (1, 1, 24, 72), {}),
    # kernels above conv2d.c's SMALL_KERNEL (262144 weights): widened in registers, or
    # (int8 with more than 8 pixel tiles) per output-channel block into a buffer
    ("gemm large kernel, few tiles", (1, 5, 5, 128), (3, 3, 128, 232), {"padding": "same"}),
    ("gemm large kernel, many tiles", (1, 9, 8, 128), (3, 3, 128, 232), {"padding": "same", "strides": 1}),
    ("narrow <=16 channels", (1, 10, 10, 6), (5, 5, 6, 16), {}),
    ("grouped", (1, 8, 8, 12), (3, 3, 4, 18), {"groups": 3, "strides": 2, "padding": "same"}),
    ("dilated", (1, 12, 12, 5), (3, 3, 5, 20), {"dilation": 2}),
    ("depthwise", (2, 9, 9, 24), (3, 3, 1, 24), {"groups": 24, "padding": "same"}),
    ("depthwise multiplier 2", (1, 7, 8, 5), (3, 3, 1, 10), {"groups": 5, "strides": 2}),
    ("thin (pixel lanes), 6 out", (1, 20, 37, 1), (5, 5, 1, 6), {}),
    ("thin (pixel lanes), 3 in", (1, 19, 40, 3), (3, 3, 3, 16), {"padding": "same", "strides": 2}),
    ("winograd2", (1, 13, 15, 17), (3, 3, 17, 35), {"padding": "same", "algorithm": "winograd2"}),
    ("winograd4", (2, 14, 9, 16), (3, 3, 16, 20), {"padding": "same", "algorithm": "winograd4"}),
]


def _conv_pair(case, dtype: str, isa: str, threads: int, seed: int = 0):
    _, xs, ks, kw = case
    rng = _rng(seed)
    x = _f32(rng.standard_normal(xs))
    k = _f32(rng.standard_normal(ks) * 0.3)
    b = _f32(rng.standard_normal(ks[3]))
    groups = kw.get("groups", 1)
    algorithm = kw.get("algorithm", "direct")
    m = 0 if algorithm == "direct" else int(algorithm[-1])
    packed = packing.pack_winograd(k, m) if m else packing.pack_conv2d(k, groups)
    deq = _dequantized("conv2d", _conv_attrs(k, xs[3], groups, algorithm), packed, dtype)
    common = {**kw, "isa": isa, "num_threads": threads, "activation": "relu"}
    got = kernels.conv2d(x, k, b, weights_dtype=dtype, packed=packed, **common)
    want = kernels.conv2d(x, k, b, packed=deq, **common)
    return got, want


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv2d_bitwise_equals_float32_on_dequantized(case, dtype, isa):
    first = None
    for threads in THREADS:
        got, want = _conv_pair(case, dtype, isa, threads)
        assert np.isfinite(got).all()
        assert np.array_equal(got, want), f"{case[0]} {dtype} {isa} {threads} threads"
        if first is None:
            first = got
        assert np.array_equal(got, first), f"{case[0]} {dtype} {isa}: depends on the thread count"


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("shape", [(1, 100, 40), (1, 37, 16), (1, 3, 5), (4, 100, 40), (9, 64, 70), (5, 600, 500),
                                   (70, 600, 450)])
def test_dense_bitwise_equals_float32_on_dequantized(shape, dtype, isa):
    m, k, n = shape
    rng = _rng(m * 1000 + k)
    x = _f32(rng.standard_normal((m, k)))
    w = _f32(rng.standard_normal((k, n)))
    b = _f32(rng.standard_normal(n))
    packed = packing.pack_dense(w)
    deq = _dequantized("dense", {"in_features": k, "units": n}, packed, dtype)
    first = None
    for threads in THREADS:
        got = kernels.dense(x, w, b, weights_dtype=dtype, isa=isa, num_threads=threads)
        want = kernels.dense(x, w, b, packed=deq, isa=isa, num_threads=threads)
        assert np.array_equal(got, want), f"{shape} {dtype} {isa} {threads} threads"
        first = got if first is None else first
        assert np.array_equal(got, first)
    # and against a float64 reference on the dequantized weights (unpacked: [panel][k][16] -> (k, n))
    wd = deq.reshape(-1, k, packing.NR).transpose(1, 0, 2).reshape(k, -1)[:, :n].astype(np.float64)
    ref = x.astype(np.float64) @ wd + b
    np.testing.assert_allclose(first, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_dense_large_gemv_many_threads_bitwise():
    """A VGG-like GEMV shape (parallel over panels): every dtype and ISA."""
    rng = _rng(7)
    k, n = 2048, 300
    x = _f32(rng.standard_normal((1, k)))
    w = _f32(rng.standard_normal((k, n)) * 0.01)
    packed = packing.pack_dense(w)
    for dtype in LOW:
        deq = _dequantized("dense", {"in_features": k, "units": n}, packed, dtype)
        for isa in ISAS:
            outs = [kernels.dense(x, w, weights_dtype=dtype, isa=isa, num_threads=t) for t in THREADS]
            want = kernels.dense(x, w, packed=deq, isa=isa, num_threads=2)
            for o in outs:
                assert np.array_equal(o, want), (dtype, isa)


TCONV_CASES = [((1, 6, 7, 8), (3, 3, 20, 8), 2, "same"), ((2, 5, 5, 3), (4, 4, 17, 3), 2, "valid"),
               ((1, 4, 6, 16), (2, 3, 40, 16), (2, 3), "valid"), ((1, 5, 5, 4), (1, 1, 8, 4), 3, "valid")]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("case", TCONV_CASES, ids=[str(i) for i in range(len(TCONV_CASES))])
def test_conv2d_transpose_bitwise_equals_float32_on_dequantized(case, dtype, isa, monkeypatch):
    xs, ks, strides, padding = case
    rng = _rng(3)
    x = _f32(rng.standard_normal(xs))
    k = _f32(rng.standard_normal(ks))
    b = _f32(rng.standard_normal(ks[2]))
    st = (strides, strides) if isinstance(strides, int) else strides
    attrs = {"kernel_size": list(ks[:2]), "strides": list(st), "filters": ks[2], "in_channels": ks[3]}
    packed = packing.pack_conv2d_transpose(k, st)
    deq = _dequantized("conv2d_transpose", attrs, packed, dtype)
    first = None
    for threads in THREADS:
        got = kernels.conv2d_transpose(x, k, b, strides=strides, padding=padding, weights_dtype=dtype, isa=isa,
                                       num_threads=threads)
        # the float32 kernel on the dequantized weights: the packing step hands them over
        monkeypatch.setattr(packing, "pack_conv2d_transpose", lambda kern, s, deq=deq: deq)
        want = kernels.conv2d_transpose(x, k, b, strides=strides, padding=padding, isa=isa, num_threads=threads)
        monkeypatch.undo()
        assert np.array_equal(got, want), f"{case} {dtype} {isa} {threads}"
        first = got if first is None else first
        assert np.array_equal(got, first)


def test_float16_special_values_widen_exactly():
    """Subnormals, signed zeros and the largest float16 pass through every ISA's
    widening unchanged (one-hot inputs pick single weights out of the GEMV)."""
    specials = np.array([2.0**-24, -(2.0**-24), 3 * 2.0**-20, 2.0**-14, -0.0, 0.0, 65504.0, -65504.0,
                         1.0009765625, -2.5, 1e-6, 6.1e-5, 0.333251953125, 1000.0, -7.0, 0.5], dtype=np.float16)
    k, n = 16, 16
    w = np.zeros((k, n), dtype=np.float32)
    for i in range(k):
        w[i] = np.roll(specials, i).astype(np.float32)
    for isa in ISAS:
        for i in range(k):
            x = np.zeros((1, k), dtype=np.float32)
            x[0, i] = 1.0
            for batch in (1, 3):
                got = kernels.dense(np.repeat(x, batch, axis=0), w, weights_dtype="float16", isa=isa, num_threads=1)
                np.testing.assert_array_equal(np.abs(got[0]), np.abs(w[i]))  # x * w + 0: -0.0 sums to +0.0


def test_int8_channel_of_zeros_and_bfloat16_rounding():
    """A zero channel (scale 0) yields exactly the bias; bfloat16 weights are rounded to nearest even."""
    rng = _rng(11)
    k, n = 33, 20
    w = _f32(rng.standard_normal((k, n)))
    w[:, 5] = 0.0
    x = _f32(rng.standard_normal((1, k)))
    b = _f32(rng.standard_normal(n))
    for isa in ISAS:
        got = kernels.dense(x, w, b, weights_dtype="int8", isa=isa)
        assert got[0, 5] == b[5]
        bf = kernels.dense(x, w, weights_dtype="bfloat16", isa=isa, num_threads=1)
        wb = quantize.bfloat16_to_float32(quantize.to_bfloat16(w))
        np.testing.assert_allclose(bf, x.astype(np.float64) @ wb.astype(np.float64), rtol=1e-5, atol=1e-4)


def test_stored_precision_error_is_that_of_the_dtype():
    """Against exact float32 weights: the error shrinks with the precision (sanity of the quantizers' use)."""
    rng = _rng(5)
    x = _f32(rng.standard_normal((1, 12, 12, 16)))
    k = _f32(rng.standard_normal((3, 3, 16, 32)) * 0.1)
    exact = kernels.conv2d(x, k, padding="same")
    errs = {dt: float(np.abs(kernels.conv2d(x, k, padding="same", weights_dtype=dt) - exact).max()) for dt in LOW}
    scale = float(np.abs(exact).max())
    assert 0 < errs["float16"] < 2e-3 * scale
    assert errs["float16"] < errs["bfloat16"] < 2e-2 * scale
    assert 0 < errs["int8"] < 5e-2 * scale


# ---- validation: what Plan.add refuses ----

def _dense_plan(weights, dtypes, m=1, k=8, n=16):
    x = np.zeros(m * k, dtype=np.float32)
    y = np.zeros(m * n, dtype=np.float32)
    arrays = [x, y] + [w for w in weights if w is not None]
    plan = _kernels.Plan(arrays, [a is y for a in arrays])
    plan.add(_kernels.OP_IDS["dense"], [x], y, weights=weights, ints=[m, k, n], weight_dtypes=dtypes)
    return plan


def test_dtype_ids_are_the_contract():
    assert _kernels.DTYPE_IDS == {"float32": 0, "float16": 1, "bfloat16": 2, "int8": 3}


def test_valid_low_precision_plans_are_accepted():
    q = np.ones(8 * 16, dtype=np.int8)
    _dense_plan([q, None, np.ones(16, dtype=np.float32)], [3, 0, 0])
    _dense_plan([np.ones(8 * 16, dtype=np.float16), None], [1, 0])
    _dense_plan([np.ones(8 * 16, dtype=np.uint16), np.zeros(16, dtype=np.float32)], [2, 0])


@pytest.mark.parametrize("weights, dtypes, match", [
    ([np.ones(128, dtype=np.int8)], [3], r"dense: an int8 kernel needs its kernel_scale \(slot 2\): 16 float32"),
    ([np.ones(128, dtype=np.int8), None, np.ones(15, dtype=np.float32)], [3, 0, 0],
     r"dense: kernel_scale of 16 floats .* or is shorter"),
    ([np.ones(128, dtype=np.float16), None, np.ones(16, dtype=np.float32)], [1, 0, 0],
     r"dense: a kernel_scale \(slot 2\) is given for a float16 kernel"),
    ([np.ones(127, dtype=np.float16)], [1], r"dense: float16 kernel of 128 elements \(256 bytes\) lies outside"),
    ([np.ones(127, dtype=np.int8), None, np.ones(16, dtype=np.float32)], [3, 0, 0],
     r"int8 kernel of 128 elements \(128 bytes\) lies outside"),
    ([np.ones(128, dtype=np.float32), np.ones(16, dtype=np.float16)], [0, 1],
     r"dense: weight slot 1 holds float16; this kernel reads float32 there"),
    ([np.ones(128, dtype=np.int8), None, np.ones(16, dtype=np.int8)], [3, 0, 3],
     r"dense: weight slot 2 holds int8"),
    ([np.ones(128, dtype=np.float32)], [7], r"unknown weight dtype id 7"),
])
def test_bad_dtype_and_scale_combinations_are_refused(weights, dtypes, match):
    with pytest.raises(ValueError, match=match):
        _dense_plan(weights, dtypes)


def test_numpy_dtype_must_match_the_declared_dtype():
    with pytest.raises(TypeError, match="must be a float16 array, got float32"):
        _dense_plan([np.ones(128, dtype=np.float32)], [1])
    with pytest.raises(TypeError, match="expected|must be a float32 array"):
        _dense_plan([np.ones(128, dtype=np.float16)], [0])


def test_other_ops_refuse_reduced_precision():
    x = np.zeros(2 * 4, dtype=np.float32)
    y = np.zeros(2 * 4, dtype=np.float32)
    s = np.ones(4, dtype=np.float16)
    plan = _kernels.Plan([x, y, s], [False, True, False])
    with pytest.raises(ValueError, match=r"weight slot 0 holds float16; this kernel reads float32 there"):
        plan.add(_kernels.OP_IDS["scale_shift"], [x], y, weights=[s, None], ints=[2, 4, 1], weight_dtypes=[1, 0])


def test_conv_scale_length_per_layout():
    """The scale array the validator asks for matches quantize's layout per path."""
    x = np.zeros(1 * 6 * 6 * 8, dtype=np.float32)
    for groups, cout, algo, nscale in [(1, 20, 0, 32), (2, 20, 0, 32), (8, 8, 0, 8), (1, 20, 2, 16 * 32),
                                       (1, 20, 4, 36 * 32)]:
        attrs = {"kernel_size": [3, 3], "groups": groups, "in_channels": 8, "filters": cout,
                 "algorithm": {0: "direct", 2: "winograd2", 4: "winograd4"}[algo]}
        segs = REGISTRY["conv2d"].channels(attrs, 0)
        assert segs[0][1] * segs[0][3] == nscale
        size = segs[-1][0] + segs[-1][1] * segs[-1][2] * segs[-1][3]
        q = np.zeros(size, dtype=np.int8)
        y = np.zeros(1 * 6 * 6 * cout, dtype=np.float32)
        st = REGISTRY["conv2d"].step({**attrs, "strides": [1, 1], "dilation": [1, 1], "padding": "same"},
                                     [(6, 6, 8)], (6, 6, cout), 1)
        scratch = np.zeros(max(st.scratch_floats, 1), dtype=np.float32)
        for n_given, ok in [(nscale, True), (nscale - 1, False)]:
            sc = np.ones(n_given, dtype=np.float32)
            plan = _kernels.Plan([x, y, q, sc, scratch], [False, True, False, False, True])
            args = dict(weights=[q, None, sc], ints=list(st.ints), algo=st.algo,
                        scratch=scratch if st.algo else None, weight_dtypes=[3, 0, 0])
            if ok:
                plan.add(_kernels.OP_IDS["conv2d"], [x], y, **args)
            else:
                with pytest.raises(ValueError, match="kernel_scale"):
                    plan.add(_kernels.OP_IDS["conv2d"], [x], y, **args)


# ---- the C check (tests/c/lowp_check.c): native paths, and NEON under qemu when the tools exist ----

ROOT = Path(__file__).resolve().parent.parent
_C_FLAGS = ["-O2", "-std=c11", "-fno-math-errno", "-fopenmp", "-Wall", "-Werror", "-Wno-unused-function"]


def _build_and_run(cc: str, tmp_path: Path, runner: list[str], extra: list[str]) -> str:
    exe = tmp_path / "lowp_check"
    srcs = [str(p) for p in sorted((ROOT / "src").glob("*.c")) if p.name != "_kernels.c"]
    subprocess.run([cc, *_C_FLAGS, *extra, f"-I{ROOT / 'src'}", str(ROOT / "tests" / "c" / "lowp_check.c"), *srcs,
                    "-lm", "-o", str(exe)], check=True, capture_output=True)
    r = subprocess.run([*runner, str(exe)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_c_check_native(tmp_path):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    out = _build_and_run(cc, tmp_path, [], [])
    assert ", 0 failed" in out and f"on {len(ISAS)} ISA paths" in out


def test_c_check_aarch64_neon_under_qemu(tmp_path):
    cc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64-static")
    if cc is None or qemu is None:
        pytest.skip("needs aarch64-linux-gnu-gcc and qemu-aarch64-static")
    out = _build_and_run(cc, tmp_path, [qemu], ["-static"])
    assert "on 2 ISA paths, 0 failed" in out  # generic and neon
