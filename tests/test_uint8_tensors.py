"""uint8 tensors between int8 convolutions (pyconvinfer/quantized_tensors.py, src/conv2d_q8.c).

A calibrated int8 file's convolutions quantize their input over a fixed range; when every
reader of a tensor does so with the same range, its producer writes it quantized (max
pooling in between pools the uint8 values). The results must be bitwise those of the
plan that keeps every tensor in float32, on every path and thread count; the tensors
that any reader needs in float32 must stay float32.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconvinfer
from pyconvinfer import _kernels, kernels, packing, quantize
from pyconvinfer.activations import KINDS
from pyconvinfer.format import write_model
from pyconvinfer.graph import Graph, Node

ISAS = kernels.available_isas()
RELU = {"name": "relu", "max_value": None, "negative_slope": 0.0, "threshold": 0.0}


def _conv(nodes, tensors, rng, name, src, cin, cout, k, activation, input_range, calibrated=True):
    kernel = (rng.standard_normal((k, k, cin, cout)) * (2 / (k * k * cin)) ** 0.5).astype(np.float32)
    tensors[f"{name}/kernel"] = packing.pack_conv2d(kernel)
    tensors[f"{name}/bias"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    attrs = {"kernel_size": [k, k], "strides": [1, 1], "dilation": [1, 1], "padding": "same", "groups": 1,
             "filters": cout, "in_channels": cin, "activation": activation, "algorithm": "direct",
             "params": kernel.size}
    if calibrated:
        attrs["input_range"] = list(input_range)
    nodes.append(Node(name, "conv2d", [src], name, attrs, {"kernel": f"{name}/kernel", "bias": f"{name}/bias"}, [name]))


def _pool(nodes, op, name, src, padding):
    nodes.append(Node(name, op, [src], name, {"pool_size": [2, 2], "strides": [2, 2], "padding": padding}, {}, [name]))


# Tensors that become uint8 in the models below, and why the others do not.
KEPT = {"f0", "c0", "c1", "mp"}
BIG_KEPT = {"b0"}
SHARED = (-0.9, 1.1)  # c2 and c3 read mp over one range
C1_RANGE = (0.0, 1.7)


def _model(path, calibrated: bool = True) -> str:
    """image -> f0 (3 channels in: float32 compute; swish) -> c0 (relu) -> c1 (tanh) -> max pool
    ('same', odd sizes) -> {c2, c3} (one range); c2 is a model output and feeds c4; c3 -> average
    pool -> c5; c4 -> {c6, c7} (two ranges); c5, c6, c7 -> global pools -> outputs."""
    rng = np.random.default_rng(11)
    nodes: list[Node] = []
    tensors: dict[str, np.ndarray] = {}
    conv = [(nodes, tensors, rng), {"calibrated": calibrated}]
    _conv(*conv[0], "f0", "image", 3, 4, 3, "swish", (-3.0, 3.0), **conv[1])
    _conv(*conv[0], "c0", "f0", 4, 12, 3, RELU, (-0.5, 2.0), **conv[1])    # 12: a partial 8-channel store
    _conv(*conv[0], "c1", "c0", 12, 16, 3, "tanh", C1_RANGE, **conv[1])    # element-wise, not a clamp
    _pool(nodes, "max_pool2d", "mp", "c1", "same")                          # 9x11 -> 5x6
    _conv(*conv[0], "c2", "mp", 16, 16, 1, None, SHARED, **conv[1])         # a model output: stays float32
    _conv(*conv[0], "c3", "mp", 16, 8, 3, RELU, SHARED, **conv[1])          # feeds an average pool
    _pool(nodes, "avg_pool2d", "ap", "c3", "valid")
    _conv(*conv[0], "c4", "c2", 16, 8, 3, None, (-2.0, 2.0), **conv[1])     # two readers, two ranges
    _conv(*conv[0], "c5", "ap", 8, 8, 3, RELU, (0.0, 1.0), **conv[1])
    _conv(*conv[0], "c6", "c4", 8, 8, 3, RELU, (-1.0, 1.0), **conv[1])
    _conv(*conv[0], "c7", "c4", 8, 8, 1, RELU, (-0.5, 3.0), **conv[1])
    for t in ("c5", "c6", "c7"):
        nodes.append(Node(f"g{t}", "global_avg_pool", [t], f"g{t}", {}, {}, [f"g{t}"]))
    return _write(path, Graph([{"name": "image", "shape": [9, 11, 3]}], ["c2", "gc5", "gc6", "gc7"], nodes, tensors,
                              {"name": "u8"}))


def _big_kernel_model(path) -> str:
    """A float32-compute producer whose int8 kernel is too large to widen whole (81 taps: no int8
    path; 264k weights: the GEMM widens it per block or in registers) feeding an int8 1x1 layer."""
    rng = np.random.default_rng(12)
    nodes: list[Node] = []
    tensors: dict[str, np.ndarray] = {}
    _conv(nodes, tensors, rng, "b0", "image", 4, 816, 9, RELU, (-2.0, 2.0))
    _conv(nodes, tensors, rng, "b1", "b0", 816, 16, 1, None, (0.0, 1.5))
    return _write(path, Graph([{"name": "image", "shape": [5, 6, 4]}], ["b1"], nodes, tensors, {"name": "big"}))


def _write(path, g: Graph) -> str:
    g.check()
    scales = quantize.quantize_weights(g.nodes, g.weights, "int8")
    write_model(path, g.to_header(), g.weights, scales=scales)
    return str(path)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    return _model(tmp_path_factory.mktemp("u8") / "u8.pci")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> str:
    return _big_kernel_model(tmp_path_factory.mktemp("u8") / "big.pci")


def _load(path, isa, threads, chained):
    m = pyconvinfer.load(path, int8_compute=True, isa=isa, num_threads=threads, verify=False)
    m._uint8_tensors = chained
    return m


def test_the_right_tensors_are_kept_in_uint8(model_file, big_file) -> None:
    x = np.random.default_rng(0).standard_normal((2, 9, 11, 3)).astype(np.float32)
    prep = _load(model_file, ISAS[-1], 2, True).prepared(x)
    assert {t for t, v in prep.views.items() if v.dtype == np.uint8} == KEPT
    assert set(prep.quantized) == KEPT
    off = _load(model_file, ISAS[-1], 2, False).prepared(x)
    assert not any(v.dtype == np.uint8 for v in off.views.values())
    assert prep.arena_bytes < off.arena_bytes
    algos = [prep.plan.algorithm(i, ISAS[-1]) for i in range(len(prep.plan))]
    assert algos[0] == "indirect GEMM, uint8 out", algos  # f0: float32 compute
    assert algos[1].endswith("uint8 in and out") and algos[2].endswith("uint8 in and out"), algos  # c0, c1
    assert algos[3] == "window reduction (uint8)", algos
    assert algos[4].endswith("uint8 in") and algos[5].endswith("uint8 in"), algos  # c2, c3
    big = _load(big_file, ISAS[-1], 2, True).prepared(np.zeros((1, 5, 6, 4), np.float32))
    assert {t for t, v in big.views.items() if v.dtype == np.uint8} == BIG_KEPT


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("which", ["branches", "big kernel"])
def test_results_are_bitwise_those_of_float32_tensors(model_file, big_file, isa, which) -> None:
    rng = np.random.default_rng(1)
    path, shape = (model_file, (3, 9, 11, 3)) if which == "branches" else (big_file, (2, 5, 6, 4))
    x = (rng.standard_normal(shape) * 1.5).astype(np.float32)
    x[0, 0, 0, 0] = 50.0  # outside the ranges: clipped
    want = _load(path, isa, 1, False).predict(x)
    want = want if isinstance(want, list) else [want]
    assert all(np.isfinite(w).all() and np.abs(w).max() > 0 for w in want)
    for threads in (1, 2, 3):
        got = _load(path, isa, threads, True).predict(x)
        for a, b in zip(got if isinstance(got, list) else [got], want):
            np.testing.assert_array_equal(a, b, err_msg=f"{isa}, {threads} threads")


def test_input_ranges_read_the_values_a_uint8_tensor_stands_for(model_file) -> None:
    x = np.random.default_rng(2).standard_normal((4, 9, 11, 3)).astype(np.float32)
    chained = _load(model_file, ISAS[-1], 2, True).input_ranges(x)
    plain = _load(model_file, ISAS[-1], 2, False).input_ranges(x)
    assert chained.keys() == plain.keys()
    for name, (lo, hi) in (("c1", C1_RANGE), ("c2", SHARED), ("c3", SHARED)):
        # read from uint8 tensors: the float32 values clipped to the range, rounded to its steps
        step = _kernels.int8_quantization(lo, hi)[0]
        assert chained[name][0] == pytest.approx(max(plain[name][0], lo), abs=step)
        assert chained[name][1] == pytest.approx(min(plain[name][1], hi), abs=step)
    for name in ("f0", "c4", "c5", "c6", "c7"):  # float32 tensors
        assert chained[name] == plain[name]


def test_measured_ranges_keep_float32_tensors(tmp_path) -> None:
    """Without calibrated ranges a layer's quantization is known only from its float32 input."""
    path = _model(tmp_path / "measured.pci", calibrated=False)
    prep = _load(path, ISAS[-1], 2, True).prepared(np.zeros((1, 9, 11, 3), np.float32))
    assert not any(v.dtype == np.uint8 for v in prep.views.values())


# ---- the C validator: uint8 tensors only where the kernels read and write them ----
def _conv_plan(x_dtype=np.float32, y_dtype=np.float32, mode=2, floats=(-1.0, 2.0, 0.0, 3.0), act=0):
    ints = [1, 6, 6, 8, 4, 4, 16, 3, 3, 1, 1, 1, 1, 0, 0, 1, 0, mode]
    x, y = np.zeros(6 * 6 * 8, x_dtype), np.zeros(4 * 4 * 16, y_dtype)
    kk, sc = np.zeros(9 * 8 * 16, np.int8), np.ones(16, np.float32)
    scratch = np.zeros(_kernels.conv2d_int8_scratch_floats(ints[:16]), np.float32)
    plan = _kernels.Plan([x, y, kk, sc, scratch], [False, True, False, False, True])
    plan.add(_kernels.OP_IDS["conv2d"], [x], y, weights=[kk, None, sc], weight_dtypes=[3, 0, 0], ints=ints,
             floats=list(floats), scratch=scratch, act_kind=act)
    return plan, x, y


def test_uint8_conv_steps_run_and_match_the_float32_one() -> None:
    rng = np.random.default_rng(3)
    plan_f, xf, yf = _conv_plan()
    xf[:] = rng.uniform(-1, 2, xf.size)
    plan_f.run(1)
    scale, inv, zp = _kernels.int8_quantization(-1.0, 2.0)
    q = np.clip(np.rint(np.clip(xf * np.float32(inv), -256, 256)) + zp, 0, 255).astype(np.uint8)
    plan_u, xu, yu = _conv_plan(np.uint8, np.uint8)
    xu[:] = q
    plan_u.run(1)
    oscale, oinv, ozp = _kernels.int8_quantization(0.0, 3.0)
    want = np.clip(np.rint(np.clip(yf * np.float32(oinv), -256, 256)) + ozp, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(yu, want)


@pytest.mark.parametrize("kwargs, match", [
    ({"x_dtype": np.uint8, "mode": 1}, "calibrated input range"),
    ({"y_dtype": np.uint8, "mode": 1}, "calibrated input range"),
    ({"x_dtype": np.uint8, "mode": 0}, "calibrated input range"),
    ({"y_dtype": np.uint8, "floats": (-1.0, 2.0, 3.0, 0.0)}, "uint8 output range"),
    ({"y_dtype": np.uint8, "floats": (-1.0, 2.0, 0.0, np.nan)}, "uint8 output range"),
    ({"x_dtype": np.uint8, "floats": (0.0, 1e-42)}, "calibrated input range"),
    ({"y_dtype": np.uint8, "act": KINDS["softmax"]}, "row activation"),
    ({"x_dtype": np.int8}, "float32 or uint8"),
])
def test_inconsistent_uint8_conv_steps_are_refused(kwargs, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        _conv_plan(**kwargs)


def _pool_plan(x_dtype, y_dtype, is_max=1):
    x, y = np.zeros(4 * 4 * 8, x_dtype), np.zeros(2 * 2 * 8, y_dtype)
    plan = _kernels.Plan([x, y], [False, True])
    plan.add(_kernels.OP_IDS["pool2d"], [x], y, ints=[1, 4, 4, 8, 2, 2, 2, 2, 2, 2, 0, 0, is_max])
    return plan, x, y


def test_uint8_max_pooling() -> None:
    plan, x, y = _pool_plan(np.uint8, np.uint8)
    x[:] = np.random.default_rng(4).integers(0, 256, x.size)
    plan.run(2)
    want = x.reshape(2, 2, 2, 2, 8).max(axis=(1, 3)).reshape(-1)
    np.testing.assert_array_equal(y, want)
    with pytest.raises(ValueError, match="max only"):
        _pool_plan(np.uint8, np.uint8, is_max=0)
    with pytest.raises(ValueError, match="dtypes differ"):
        _pool_plan(np.uint8, np.float32)


def test_other_ops_refuse_uint8_tensors() -> None:
    x, y = np.zeros(16, np.uint8), np.zeros(16, np.float32)
    plan = _kernels.Plan([x, y], [False, True])
    with pytest.raises(ValueError, match="reads and writes float32"):
        plan.add(_kernels.OP_IDS["activation"], [x], y, rows=1, count=16)
