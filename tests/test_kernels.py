"""Kernel tests: every op of pyconvinfer.kernels against float64 NumPy references.

The references live in tests/helpers.py and share nothing with the package (their
padding rules are written from Keras's definitions, not taken from
pyconvinfer.shapes). conv2d / conv2d_transpose / dense are also checked against
the C readable reference (pyconvinfer._kernels.run_reference).

Each parameter grid is sampled deterministically for the default run (every value
of every axis appears at least once); the whole grid is behind
``@pytest.mark.full_grid`` (``pytest -m full_grid``). Every case runs on every
instruction-set path this CPU has and, for the spatial ops, on batch sizes 1 and 3.
"""

from __future__ import annotations

import functools
import itertools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from helpers import (
    ActSpec,
    assert_bitwise_equal,
    assert_close,
    assert_close_activated,
    assert_close_elementwise,
    conv_geometry,
    ref_activation,
    ref_conv2d,
    ref_conv2d_transpose,
    ref_conv2d_transpose_dilated,
    ref_dense,
    ref_depthwise_conv2d,
    ref_pool2d,
    rng_for,
    tconv_geometry,
    typical_magnitude,
    uniform,
)

from pyconvinfer import _kernels, activations, kernels, packing

ALL_ISAS = _kernels.ISA_NAMES  # from the C table
ISAS = _kernels.available_isas()  # every path this CPU and build can run
BATCHES = (1, 3)
SAMPLE_SEED = 20240611

# Activations fused into conv / tconv / dense (id -> spec as the API takes it).
FUSED_ACTS: dict[str, ActSpec] = {
    "linear": None,
    "relu": "relu",
    "relu6": "relu6",
    "leaky0.1": ("leaky_relu", {"alpha": 0.1}),
    "relu_max1.5": ("relu", {"max_value": 1.5}),
    "relu_mx1.5_ns0.1_th0.25": ("relu", {"max_value": 1.5, "negative_slope": 0.1, "threshold": 0.25}),
    "elu0.7": ("elu", {"alpha": 0.7}),
    "selu": "selu",
    "sigmoid": "sigmoid",
    "hard_sigmoid_k2": {"name": "hard_sigmoid", "slope": 0.2, "offset": 0.5},
    "tanh": "tanh",
    "softplus": "softplus",
    "softsign": "softsign",
    "swish": "swish",
    "gelu": "gelu",
    "gelu_tanh": ("gelu", {"approximate": True}),
    "exponential": "exponential",
    "softmax": "softmax",
    "hard_silu": "hard_silu",
    "mish": "mish",
}
ACT_IDS = list(FUSED_ACTS)


def test_isa_names_come_from_c_and_the_default_is_the_fastest_available() -> None:
    assert set(ALL_ISAS) == {"generic", "avx2", "avx512", "neon"}
    assert "generic" in ISAS and _kernels.cpu_isa() in ISAS
    assert kernels.resolve_isa(None) == _kernels.cpu_isa()
    # The preference among available paths: NEON on ARM, else the widest x86 vectors.
    expected = next(i for i in ("neon", "avx512", "avx2", "generic") if i in ISAS)
    assert _kernels.cpu_isa() == expected
    assert not ({"neon"} & set(ISAS) and {"avx2", "avx512"} & set(ISAS)), ISAS
    for isa in ISAS:
        assert kernels.resolve_isa(isa) == isa
        assert _kernels.effective_isa(isa) == isa


@pytest.mark.parametrize("isa", [i for i in ALL_ISAS if i not in ISAS])
def test_unavailable_isa_is_an_error_naming_the_available_ones(isa: str) -> None:
    """A path this CPU lacks is refused, never silently replaced by another one."""
    for call in (lambda: kernels.resolve_isa(isa), lambda: kernels.conv2d(X, K3, isa=isa),
                 lambda: kernels.dense(np.ones((2, 3), F32), np.ones((3, 4), F32), isa=isa)):
        with pytest.raises(ValueError, match=f"isa '{isa}' is not available") as e:
            call()
        assert all(name in str(e.value) for name in ISAS)
    # The C layer's own safety net (never reached from Python): the generic path.
    assert _kernels.effective_isa(isa) == "generic"


def _pick(key: tuple, options: Sequence[Any]) -> Any:
    """A deterministic per-case choice (bias, activation, size...) from `options`."""
    return options[zlib.crc32(repr(key).encode()) % len(options)]


# The full grids run in chunks (one test per chunk, every failing case listed): tens of
# thousands of parametrized items would make every default run slow to collect.
FULL_GRID_CHUNKS = 40


def run_chunk(check: Callable[[Any], None], cases: Sequence[Any], chunk: int) -> None:
    mine = list(cases[chunk::FULL_GRID_CHUNKS])
    failures = []
    for case in mine:
        try:
            check(case)
        except Exception as e:  # noqa: BLE001 - collect every failing case of the chunk
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            failures.append(f"{case}: {type(e).__name__}: {' | '.join(lines[:3])[:400]}")
    assert not failures, f"{len(failures)} of {len(mine)} cases failed:\n" + "\n".join(failures[:30])


def _sample(grid: list, axes: dict[str, Callable[[Any], Any]], size: int, seed: int) -> list:
    """`size` cases drawn from `grid` (fixed seed) plus, for every value of every axis
    not yet drawn, the first case (in the same shuffled order) that has it."""
    order = list(np.random.default_rng(seed).permutation(len(grid)))
    chosen = order[:size]
    for get in axes.values():
        seen = {repr(get(grid[i])) for i in chosen}
        for i in order:
            v = repr(get(grid[i]))
            if v not in seen:
                chosen.append(i)
                seen.add(v)
    return [grid[i] for i in sorted(set(chosen))]


def _covers_every_value(sample: list, grid: list, axes: dict[str, Callable[[Any], Any]]) -> None:
    for name, get in axes.items():
        missing = {repr(get(c)) for c in grid} - {repr(get(c)) for c in sample}
        assert not missing, f"sample misses {name} values {sorted(missing)}"


def _pad_name(p: Any) -> str:
    return p if isinstance(p, str) else "p" + "".join(str(v) for pair in p for v in pair)


# =========================================================================== conv2d


@dataclass(frozen=True)
class ConvCase:
    hw: tuple[int, int]
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    padding: Any  # 'valid' | 'same' | ((t, b), (l, r))
    channels: tuple[int, int, int]  # (cin, cout, groups)
    bias: bool
    act: str

    def __str__(self) -> str:
        (h, w), (kh, kw), (sh, sw), (dh, dw) = self.hw, self.kernel, self.strides, self.dilation
        cin, cout, g = self.channels
        return (f"{h}x{w}-k{kh}x{kw}-s{sh}x{sw}-d{dh}x{dw}-{_pad_name(self.padding)}-c{cin}to{cout}g{g}"
                f"-{'b' if self.bias else 'nb'}-{self.act}")


CONV_SIZES = [(1, 1), (5, 5), (6, 7), (9, 4), (12, 13)]
CONV_KERNELS = [(1, 1), (2, 2), (3, 3), (5, 5), (1, 3), (3, 2)]
CONV_STRIDES = [(1, 1), (2, 2), (3, 3), (1, 2)]
CONV_DILATIONS = [(1, 1), (2, 2), (2, 1)]
CONV_PADDINGS: list[Any] = ["valid", "same", ((0, 1), (1, 0)), ((2, 1), (1, 3))]
# (cin, cout, groups): plain, odd/even/16-multiple channels, several 16-wide panels
# (100 = 4+2+1 panels on AVX-512), grouped, and depthwise (groups == cin) with channel
# multiplier 1 and 2.
CONV_CHANNELS = [
    (1, 1, 1), (3, 16, 1), (16, 17, 1), (17, 3, 1), (64, 64, 1), (3, 1, 1), (17, 100, 1), (1, 2, 1),
    (16, 32, 2), (32, 80, 2), (34, 34, 2), (64, 48, 4),
    (17, 17, 17), (16, 32, 16), (3, 6, 3), (64, 64, 64),
]


def _conv_grid() -> list[ConvCase]:
    cases = []
    for hw, k, s, d, p, ch in itertools.product(CONV_SIZES, CONV_KERNELS, CONV_STRIDES, CONV_DILATIONS,
                                                CONV_PADDINGS, CONV_CHANNELS):
        ph, pw = (p, p) if isinstance(p, str) else p
        geo = [(hw[0], k[0], s[0], d[0], ph), (hw[1], k[1], s[1], d[1], pw)]
        if any(conv_geometry(*g)[0] <= 0 for g in geo):
            continue
        key = (hw, k, s, d, p, ch)
        cases.append(ConvCase(hw, k, s, d, p, ch, _pick(key + ("bias",), [True, False]),
                              _pick(key + ("act",), ACT_IDS)))
    return cases


CONV_AXES: dict[str, Callable[[Any], Any]] = {
    "hw": lambda c: c.hw, "kernel": lambda c: c.kernel, "strides": lambda c: c.strides,
    "dilation": lambda c: c.dilation, "padding": lambda c: c.padding, "channels": lambda c: c.channels,
    "bias": lambda c: c.bias, "act": lambda c: c.act,
}
CONV_GRID = _conv_grid()
CONV_SAMPLE = _sample(CONV_GRID, CONV_AXES, 500, SAMPLE_SEED)


def conv_ints(x_shape: tuple[int, ...], kernel_shape: tuple[int, ...], strides: tuple[int, int],
              dilation: tuple[int, int], padding: Any, groups: int) -> list[int]:
    """run_reference's shape vector, from the helpers' own geometry."""
    n, h, w, c = x_shape
    kh, kw, _, cout = kernel_shape
    ph, pw = (padding, padding) if isinstance(padding, str) else padding
    oh, pt, _ = conv_geometry(h, kh, strides[0], dilation[0], ph)
    ow, pl, _ = conv_geometry(w, kw, strides[1], dilation[1], pw)
    return [n, h, w, c, oh, ow, cout, kh, kw, strides[0], strides[1], dilation[0], dilation[1], pt, pl, groups]


def c_reference(op: str, ints: list[int], x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None,
                out_shape: tuple[int, ...], spec: ActSpec) -> np.ndarray:
    out = np.full(out_shape, np.nan, dtype=np.float32)
    kind, params = activations.encode(spec)
    return _kernels.run_reference(op, ints, x, kernel, bias, out, kind, params)


def check_conv2d(case: ConvCase) -> None:
    rng = rng_for("conv2d", str(case))
    (h, w), (kh, kw) = case.hw, case.kernel
    cin, cout, groups = case.channels
    fan_in = kh * kw * (cin // groups)
    x = uniform(rng, (max(BATCHES), h, w, cin))
    kernel = uniform(rng, (kh, kw, cin // groups, cout), scale=3.0 / math.sqrt(fan_in))
    bias = uniform(rng, (cout,), 0.5) if case.bias else None
    spec = FUSED_ACTS[case.act]
    kw_args: dict[str, Any] = dict(strides=case.strides, dilation=case.dilation, padding=case.padding,
                                   groups=groups)
    pre = ref_conv2d(x, kernel, bias, **kw_args)
    mag = typical_magnitude(x, kernel, fan_in)
    for isa in ISAS:
        for b in BATCHES:
            got = kernels.conv2d(x[:b], kernel, bias, activation=spec, isa=isa, **kw_args)
            assert_close_activated(got, pre[:b], spec, reduction=fan_in, scale=mag,
                                   err_msg=f"conv2d {case} {isa} n={b}")
    ints = conv_ints(x.shape, kernel.shape, case.strides, case.dilation, case.padding, groups)
    cref = c_reference("conv2d", ints, x, kernel, bias, pre.shape, spec)
    assert_close_activated(cref, pre, spec, reduction=fan_in, scale=mag, err_msg=f"C reference conv2d {case}")
    # Fast path vs the C reference, before any activation (no discontinuity to straddle).
    fast = kernels.conv2d(x, kernel, bias, **kw_args)
    cref_lin = cref if spec is None else c_reference("conv2d", ints, x, kernel, bias, pre.shape, None)
    assert_close(fast, cref_lin.astype(np.float64), reduction=fan_in, scale=mag,
                 err_msg=f"conv2d fast vs C ref {case}")


def test_conv_sample_covers_every_value() -> None:
    _covers_every_value(CONV_SAMPLE, CONV_GRID, CONV_AXES)
    assert len(CONV_SAMPLE) < 0.05 * len(CONV_GRID)


@pytest.mark.parametrize("case", CONV_SAMPLE, ids=str)
def test_conv2d(case: ConvCase) -> None:
    check_conv2d(case)


@pytest.mark.full_grid
@pytest.mark.parametrize("chunk", range(FULL_GRID_CHUNKS))
def test_conv2d_full_grid(chunk: int) -> None:
    run_chunk(check_conv2d, CONV_GRID, chunk)


# Shapes that reach special code paths: tap counts above the micro-kernel's tap chunk
# (64; in row mode a tap is a kernel row, so kh > 64), relu/relu6 fused into the
# store of the last tap chunk only, weights too big for L2 (the "weights outer" loop
# order), rows of kw * cin up to the 65536-float zero block (row mode with its
# zero-padded copies vs one tap per (kh, kw)), 1x1 on a large image, stride+dilation.
CONV_SPECIAL = [
    ConvCase((12, 13), (9, 8), (1, 1), (1, 1), "same", (3, 17, 1), True, "relu"),
    ConvCase((12, 13), (11, 11), (1, 1), (1, 1), "same", (17, 33, 1), False, "linear"),
    ConvCase((11, 12), (11, 11), (2, 1), (1, 1), "valid", (5, 7, 1), True, "tanh"),
    ConvCase((12, 13), (9, 8), (1, 1), (1, 1), "same", (16, 32, 16), True, "linear"),
    ConvCase((75, 4), (70, 2), (1, 1), (1, 1), "valid", (3, 17, 1), True, "relu"),
    ConvCase((72, 5), (70, 3), (1, 1), (1, 1), "same", (2, 20, 1), True, "relu_max1.5"),
    ConvCase((75, 5), (70, 2), (1, 1), (1, 2), "valid", (3, 17, 1), False, "relu6"),
    ConvCase((7, 9), (3, 3), (1, 1), (1, 1), "same", (256, 128, 1), True, "relu"),
    ConvCase((7, 9), (3, 3), (2, 2), (1, 1), "same", (256, 192, 2), False, "linear"),
    ConvCase((3, 4), (2, 2), (1, 1), (1, 1), "same", (30000, 3, 1), True, "relu"),
    ConvCase((3, 4), (2, 2), (1, 1), (1, 1), ((1, 0), (1, 1)), (40000, 3, 1), False, "linear"),
    ConvCase((2, 3), (2, 2), (1, 1), (1, 1), "same", (65536, 2, 1), True, "linear"),
    ConvCase((2, 3), (1, 1), (1, 1), (1, 1), "valid", (65536, 2, 1), True, "relu"),
    ConvCase((33, 35), (1, 1), (1, 1), (1, 1), "valid", (64, 96, 1), True, "relu6"),
    ConvCase((40, 40), (3, 3), (1, 1), (1, 1), "same", (64, 64, 1), True, "relu"),
    ConvCase((28, 30), (3, 3), (1, 1), (1, 1), "valid", (32, 48, 1), False, "linear"),
    ConvCase((15, 17), (3, 3), (1, 1), (1, 1), "same", (128, 17, 1), True, "linear"),
    ConvCase((13, 14), (3, 3), (2, 3), (2, 2), "same", (8, 24, 1), True, "linear"),
    ConvCase((8, 9), (3, 3), (1, 1), (3, 2), "same", (24, 24, 24), True, "swish"),
    ConvCase((6, 7), (2, 2), (1, 1), (1, 1), ((3, 0), (2, 1)), (3, 5, 1), True, "linear"),
]


@pytest.mark.parametrize("case", CONV_SPECIAL, ids=str)
def test_conv2d_special_paths(case: ConvCase) -> None:
    check_conv2d(case)


# 1x1, stride 1, no padding, one group: conv2d.c's pointwise driver, whose pixel tiles
# run across image boundaries (35 pixels: tiles of 6 and 8 end mid-image). The same
# kernel with one zero row of padding below takes the general driver and must give the
# same numbers bit for bit on the rows they share, on every path, thread count, batch
# size and weight dtype (float16 widens in registers where the ISA can); 100 outputs
# are 4+2+1 panels, 16 the narrow kernel, 96 MobileNetV2's expand shape; relu6 fuses
# into the store, tanh runs after it; swish on 100 outputs runs on blocks of 64 and 36 of
# each 100-float row (one activation call per block's rows, 36 ending in a partial vector).
@pytest.mark.parametrize("cin,cout,act", [(5, 100, "relu6"), (24, 16, "tanh"), (16, 96, "linear"),
                                          (33, 17, "swish"), (7, 100, "swish")])
@pytest.mark.parametrize("weights_dtype", ["float32", "float16"])
def test_pointwise_driver_matches_the_general_one(cin: int, cout: int, act: str, weights_dtype: str) -> None:
    rng = rng_for("pointwise", cin, cout, act, weights_dtype)
    x = uniform(rng, (5, 7, 5, cin))
    kernel = uniform(rng, (1, 1, cin, cout), scale=3.0 / math.sqrt(cin))
    bias = uniform(rng, (cout,), 0.5)
    spec = FUSED_ACTS[act]
    pre = ref_conv2d(x, kernel, bias, strides=(1, 1), dilation=(1, 1), padding="valid", groups=1)
    for isa in ISAS:
        for threads in (1, 2):
            for b in (1, 2, 5):
                args = dict(activation=spec, isa=isa, num_threads=threads, weights_dtype=weights_dtype)
                got = kernels.conv2d(x[:b], kernel, bias, padding="valid", **args)
                general = kernels.conv2d(x[:b], kernel, bias, padding=((0, 1), (0, 0)), **args)
                assert general.shape == (b, 8, 5, cout)
                # the general result first: tools/make_kernel_cases.py takes a second argument that
                # is not a kernel's own result for an independent reference, which this is not
                assert_bitwise_equal(general[:, :7], got, f"pointwise {isa} threads={threads} n={b}")
                if weights_dtype == "float32":
                    assert_close_activated(got, pre[:b], spec, reduction=cin, scale=1.0,
                                           err_msg=f"pointwise vs float64 {isa} n={b}")


# A layer's last pixel tile with r < 6 rows runs a tail micro-kernel (AVX-512, AVX2) that
# computes those r rows only. A pixel's outputs must not depend on where it lands: the
# image of 6 + r pixels rolled so that its last r pixels come first (a full tile) gives
# them bit for bit. 40 outputs: panels 2+1 on AVX-512 (oc 40 = 32 + 8), 3 of the AVX2
# kernel; 80: 4+1; 17: two panels, the second masked.
@pytest.mark.parametrize("cout", [40, 80, 17])
@pytest.mark.parametrize("r", [1, 2, 3, 4, 5])
def test_partial_last_tile_matches_a_full_tile(r: int, cout: int) -> None:
    rng = rng_for("tail", r, cout)
    cin = 19
    x = uniform(rng, (1, 1, 6 + r, cin))
    kernel = uniform(rng, (1, 1, cin, cout), scale=3.0 / math.sqrt(cin))
    bias = uniform(rng, (cout,), 0.5)
    rolled = np.ascontiguousarray(np.roll(x, -6, axis=2))  # pixels 6.. first
    for isa in ISAS:
        for act in ("relu6", None):
            got = kernels.conv2d(x, kernel, bias, activation=act, isa=isa, num_threads=1)
            full = kernels.conv2d(rolled, kernel, bias, activation=act, isa=isa, num_threads=1)
            assert_bitwise_equal(got[:, :, 6:], full[:, :, :r], f"tail of {r} rows, {isa}, {act}")
            assert_bitwise_equal(got[:, :, :6], full[:, :, r:], f"full tile, {isa}, {act}")


# A last panel with at most 8 live channels (24 = 16 + 8, 40 = 32 + 8 outputs) runs the
# AVX2 kernel's half form: only the low vector of each row is computed. Its channels must
# come out bit for bit as they do where the panel is whole: the same layer with 8 more
# output channels (their weights appended) gives the same first cout channels on every path.
@pytest.mark.parametrize("cout,weights", [(24, "float32"), (40, "float32"), (8, "float32"), (5, "float32"),
                                          (24, "float16"), (40, "bfloat16"), (24, "int8")])
@pytest.mark.parametrize("kernel_size", [1, 3])
def test_half_last_panel_matches_a_whole_panel(cout: int, weights: str, kernel_size: int) -> None:
    rng = rng_for("half panel", cout, weights, kernel_size)
    cin = 19
    x = uniform(rng, (2, 7, 9, cin))
    wide = uniform(rng, (kernel_size, kernel_size, cin, cout + 8), scale=3.0 / math.sqrt(cin * kernel_size ** 2))
    bias = uniform(rng, (cout + 8,), 0.5)
    narrow = np.ascontiguousarray(wide[..., :cout])
    for isa in ISAS:
        for act in ("relu6", "tanh", None):
            kw = dict(activation=act, isa=isa, num_threads=1, padding="same", weights_dtype=weights)
            got = kernels.conv2d(x, narrow, bias[:cout], **kw)
            whole = kernels.conv2d(x, wide, bias, **kw)
            # the sliced result first: tools/make_kernel_cases.py would take it, second, for an
            # independent reference of `got` on every path
            assert_bitwise_equal(whole[..., :cout], got, f"{cout} outputs, {weights}, {isa}, {act}")


# The thin AVX-512 kernel (cin <= 4, cout <= 16: 16 output pixels in the lanes) has
# variants by accumulator count (cout rounded up to 4, 6, 8 or 16), by group count (one
# or two groups of 16 pixels per pass: output widths 7 to 40), and a plane path
# (cin 1, stride 1) whose load masks are per tap only where a tap column meets the padding.
THIN_CASES = [
    ConvCase((h, w), kernel, strides, dilation, padding, (cin, cout, 1), (cin + cout) % 2 == 0,
             _pick((cin, cout, w, padding), ["relu", "linear", "tanh", "relu6"]))
    for cin, cout in [(1, 1), (1, 4), (1, 5), (1, 6), (2, 6), (1, 7), (4, 8), (1, 9), (3, 16)]
    for (h, w), kernel, strides, dilation, padding in [
        ((9, 32), (5, 5), (1, 1), (1, 1), "valid"),
        ((6, 44), (5, 5), (1, 1), (1, 1), "valid"),
        ((5, 33), (3, 3), (1, 1), (1, 1), "same"),
        ((7, 40), (3, 5), (2, 2), (1, 1), "same"),
        ((6, 37), (3, 3), (1, 1), (2, 2), ((1, 2), (3, 0))),
        ((5, 7), (5, 5), (1, 1), (1, 1), "same"),
    ]
]


@pytest.mark.parametrize("case", THIN_CASES, ids=str)
def test_conv2d_thin_paths(case: ConvCase) -> None:
    check_conv2d(case)


@pytest.mark.parametrize("cin,groups,kernel", [(65540, 1, (3, 3)), (65540 * 2, 2, (1, 1)), (70000, 1, (1, 2))])
def test_conv2d_more_input_channels_than_zero_block(cin: int, groups: int, kernel: tuple[int, int]) -> None:
    """Over 65536 input channels per group: a correct result or a clean ValueError, never
    a crash or garbage."""
    rng = rng_for("huge-c", cin, groups)
    x = uniform(rng, (1, 3, 3, cin))
    k = uniform(rng, (*kernel, cin // groups, 2 * groups), 0.01)
    try:
        got = kernels.conv2d(x, k, padding="same", groups=groups)
    except ValueError as e:
        assert "channels" in str(e)
        return
    assert_close(got, ref_conv2d(x, k, padding="same", groups=groups), reduction=k[..., 0].size)


def test_conv2d_same_puts_extra_padding_bottom_right() -> None:
    # 2x2 'same' on 3x4: total pad 1 per axis, all of it after (bottom/right).
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4, 1)
    k = np.ones((2, 2, 1, 1), np.float32)
    xp = np.pad(x[0, :, :, 0], ((0, 1), (0, 1)))
    expected = xp[:-1, :-1] + xp[1:, :-1] + xp[:-1, 1:] + xp[1:, 1:]
    for isa in ISAS:
        got = kernels.conv2d(x, k, padding="same", isa=isa)
        np.testing.assert_array_equal(got[0, :, :, 0], expected)
    # kernel 3, stride 2, 'same': on 4 rows total pad max(3 - 2, 0) = 1, all after -> windows
    # [x0 x1 x2], [x2 x3 0]; on 5 rows total max(3 - 1, 0) = 2, split 1/1 -> [0 x0 x1], [x1 x2 x3], [x3 x4 0].
    k = np.array([1.0, 10.0, 100.0], np.float32).reshape(3, 1, 1, 1)
    for n, expected in ((4, [210, 32]), (5, [100, 321, 43])):
        x = np.arange(n, dtype=np.float32).reshape(1, n, 1, 1)
        for isa in ISAS:
            got = kernels.conv2d(x, k, strides=(2, 1), padding="same", isa=isa)[0, :, 0, 0]
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("padding", [((2, 0), (0, 0)), ((0, 2), (0, 0)), ((0, 0), (0, 1)), ((1, 3), (2, 2))])
def test_conv2d_padding_wider_than_kernel(padding: Any) -> None:
    """Explicit padding >= the kernel extent (a ZeroPadding2D folded into the conv) gives
    whole output rows / columns of bias only, on any side. (Regression: the C validator
    used to reject it at the bottom / right.)"""
    x = np.arange(8, dtype=np.float32).reshape(1, 4, 2, 1)
    k = np.ones((1, 1, 1, 1), np.float32)
    got = kernels.conv2d(x, k, padding=padding)[0, :, :, 0]
    np.testing.assert_array_equal(got, np.pad(x[0, :, :, 0], padding))
    x = uniform(rng_for("trailing", padding), (2, 4, 3, 3))
    k = uniform(rng_for("trailing-k", padding), (1, 1, 3, 5))
    b = uniform(rng_for("trailing-b", padding), (5,))
    got = kernels.conv2d(x, k, b, padding=padding)
    assert_close(got, ref_conv2d(x, k, b, padding=padding), reduction=3)


@pytest.mark.parametrize("dm", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_depthwise_conv2d_keras_layout(dm: int, padding: str) -> None:
    """Keras DepthwiseConv2D (kernel (kh, kw, cin, dm), output channel c*dm + m) through
    packing.depthwise_as_conv + grouped conv, against a per-channel reference."""
    rng = rng_for("dw", dm, padding)
    x = uniform(rng, (3, 7, 6, 17))
    dk = uniform(rng, (3, 2, 17, dm))
    bias = uniform(rng, (17 * dm,))
    ref = ref_depthwise_conv2d(x, dk, bias, strides=(2, 1), padding=padding)
    for isa in ISAS:
        got = kernels.conv2d(x, packing.depthwise_as_conv(dk), bias, strides=(2, 1), padding=padding,
                             groups=17, isa=isa)
        assert_close(got, ref, reduction=6, err_msg=f"depthwise dm={dm} {isa}")
    # The pre-packed layout gives the same result.
    packed = packing.pack_depthwise(dk)
    again = kernels.conv2d(x, packing.depthwise_as_conv(dk), bias, strides=(2, 1), padding=padding,
                           groups=17, packed=packed)
    assert_close(again, ref, reduction=6)


def test_conv2d_packed_argument_matches() -> None:
    rng = rng_for("packed-conv")
    x, k, b = uniform(rng, (2, 9, 8, 20)), uniform(rng, (3, 3, 10, 40)), uniform(rng, (40,))
    fresh = kernels.conv2d(x, k, b, groups=2, padding="same")
    reused = kernels.conv2d(x, k, b, groups=2, padding="same", packed=packing.pack_conv2d(k, 2))
    assert_bitwise_equal(fresh, reused)


def test_kernels_do_not_modify_or_alias_inputs() -> None:
    rng = rng_for("no-alias")
    x, k, b = uniform(rng, (2, 6, 6, 4)), uniform(rng, (3, 3, 4, 8)), uniform(rng, (8,))
    copies = [a.copy() for a in (x, k, b)]
    outs = [kernels.conv2d(x, k, b, padding="same", activation="relu"), kernels.activation(x, "tanh"),
            kernels.max_pool2d(x), kernels.add([x, x]), kernels.scale_shift(x, b[:4], b[4:], activation="relu")]
    for a, c in zip((x, k, b), copies):
        assert_bitwise_equal(a, c, "input modified")
    for o in outs:
        assert not np.shares_memory(o, x)


# =========================================================================== conv2d_transpose


@dataclass(frozen=True)
class TConvCase:
    hw: tuple[int, int]
    kernel: tuple[int, int]
    strides: tuple[int, int]
    padding: str
    output_padding: Any  # None | (a, b)
    channels: tuple[int, int]  # (cin, cout)
    bias: bool
    act: str

    def __str__(self) -> str:
        (h, w), (kh, kw), (sh, sw) = self.hw, self.kernel, self.strides
        op = "none" if self.output_padding is None else "x".join(map(str, self.output_padding))
        return (f"{h}x{w}-k{kh}x{kw}-s{sh}x{sw}-{self.padding}-op{op}-c{self.channels[0]}to{self.channels[1]}"
                f"-{'b' if self.bias else 'nb'}-{self.act}")

    def valid(self) -> bool:
        ops = (None, None) if self.output_padding is None else self.output_padding
        return all(tconv_geometry(n, k, s, self.padding, op)[0] > 0
                   for n, k, s, op in zip(self.hw, self.kernel, self.strides, ops))


TCONV_SIZES = [(3, 3), (4, 5), (2, 7), (1, 2)]
TCONV_CHANNELS = [(1, 1), (3, 16), (16, 17), (17, 3), (64, 64), (5, 33)]


def _tconv_case(hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int], p: str, op: Any,
                ch: tuple[int, int] | None = None) -> TConvCase:
    key = (hw, k, s, p, op, ch)
    case = TConvCase(hw, k, s, p, op, ch or _pick(key + ("ch",), TCONV_CHANNELS),
                     _pick(key + ("bias",), [True, False]), _pick(key + ("act",), ACT_IDS))
    return case


def _tconv_default_cases() -> list[TConvCase]:
    """Every padding x output_padding with strides 1..3 and kernel sizes 1..4 (square), plus
    non-square kernels / strides / output paddings."""
    cases = []
    for s, k, p in itertools.product((1, 2, 3), (1, 2, 3, 4), ("valid", "same")):
        for op in (None, *range(s)):
            opp = None if op is None else (op, op)
            case = _tconv_case(_pick((s, k, p, op), TCONV_SIZES[:3]), (k, k), (s, s), p, opp)
            assert case.valid()
            cases.append(case)
    for k, s, p in itertools.product([(1, 4), (3, 2), (4, 1), (2, 3)], [(1, 3), (2, 1), (3, 2), (2, 3)],
                                     ("valid", "same")):
        for op in (None, (0, 0), (s[0] - 1, s[1] - 1)):
            case = _tconv_case(_pick((k, s, p, op), TCONV_SIZES), k, s, p, op)
            if case.valid():
                cases.append(case)
    return sorted(set(cases), key=str)


@functools.cache
def _tconv_full_grid() -> list[TConvCase]:
    cases = []
    kernels_ = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (1, 3), (4, 2)]
    strides = [(1, 1), (2, 2), (3, 3), (1, 2), (3, 1)]
    for hw, k, s, p, ch in itertools.product(TCONV_SIZES, kernels_, strides, ("valid", "same"), TCONV_CHANNELS):
        for oph, opw in itertools.product((None, *range(s[0])), (None, *range(s[1]))):
            if (oph is None) != (opw is None):
                continue
            case = _tconv_case(hw, k, s, p, None if oph is None else (oph, opw), ch)
            if case.valid():
                cases.append(case)
    return cases


TCONV_CASES = _tconv_default_cases()
TCONV_SPECIAL = [
    TConvCase((5, 6), (9, 8), (1, 1), "same", None, (3, 17), True, "relu"),  # 72 taps in one phase
    TConvCase((4, 3), (17, 17), (2, 2), "valid", None, (2, 5), False, "linear"),  # 81 taps per phase
    TConvCase((3, 4), (3, 3), (1, 1), "same", None, (65536, 3), True, "linear"),  # = zero block
    TConvCase((9, 11), (4, 4), (2, 2), "same", None, (40, 100), True, "sigmoid"),  # 7 output panels
    TConvCase((2, 3), (1, 2), (3, 4), "valid", None, (4, 6), True, "linear"),  # stride > kernel
    TConvCase((2, 3), (2, 1), (3, 4), "same", (2, 3), (4, 6), True, "linear"),
]


def check_conv2d_transpose(case: TConvCase) -> None:
    rng = rng_for("tconv", str(case))
    (h, w), (kh, kw), (sh, sw) = case.hw, case.kernel, case.strides
    cin, cout = case.channels
    fan_in = max(1, -(-kh // sh) * -(-kw // sw) * cin)
    x = uniform(rng, (max(BATCHES), h, w, cin))
    kernel = uniform(rng, (kh, kw, cout, cin), scale=3.0 / math.sqrt(fan_in))
    bias = uniform(rng, (cout,), 0.5) if case.bias else None
    spec = FUSED_ACTS[case.act]
    kw_args: dict[str, Any] = dict(strides=case.strides, padding=case.padding, output_padding=case.output_padding)
    pre = ref_conv2d_transpose(x, kernel, bias, **kw_args)
    mag = typical_magnitude(x, kernel, fan_in)
    for isa in ISAS:
        for b in BATCHES:
            got = kernels.conv2d_transpose(x[:b], kernel, bias, activation=spec, isa=isa, **kw_args)
            assert_close_activated(got, pre[:b], spec, reduction=fan_in, scale=mag,
                                   err_msg=f"conv2d_transpose {case} {isa} n={b}")
    ops = (None, None) if case.output_padding is None else case.output_padding
    (oh, pt), (ow, pl) = (tconv_geometry(n, k, s, case.padding, op)
                          for n, k, s, op in zip(case.hw, case.kernel, case.strides, ops))
    ints = [x.shape[0], h, w, cin, oh, ow, cout, kh, kw, sh, sw, pt, pl]
    cref = c_reference("conv2d_transpose", ints, x, kernel, bias, pre.shape, spec)
    assert_close_activated(cref, pre, spec, reduction=fan_in, scale=mag,
                           err_msg=f"C reference conv2d_transpose {case}")
    fast = kernels.conv2d_transpose(x, kernel, bias, **kw_args)
    cref_lin = cref if spec is None else c_reference("conv2d_transpose", ints, x, kernel, bias, pre.shape, None)
    assert_close(fast, cref_lin.astype(np.float64), reduction=fan_in, scale=mag,
                 err_msg=f"tconv fast vs C ref {case}")


def test_conv2d_transpose_more_input_channels_than_zero_block() -> None:
    rng = rng_for("huge-c-tconv")
    x, k = uniform(rng, (1, 3, 4, 65540)), uniform(rng, (3, 3, 3, 65540), 0.01)
    try:
        got = kernels.conv2d_transpose(x, k, padding="same")
    except ValueError as e:
        assert "channels" in str(e)
        return
    assert_close(got, ref_conv2d_transpose(x, k, padding="same"), reduction=9 * 65540)


def test_tconv_cases_cover_every_padding_output_padding_stride_kernel() -> None:
    seen = {(c.strides[0], c.kernel[0], c.padding, None if c.output_padding is None else c.output_padding[0])
            for c in TCONV_CASES if c.strides[0] == c.strides[1] and c.kernel[0] == c.kernel[1]}
    for s, k, p in itertools.product((1, 2, 3), (1, 2, 3, 4), ("valid", "same")):
        for op in (None, *range(s)):
            assert (s, k, p, op) in seen
    assert any(c.strides[0] > c.kernel[0] for c in TCONV_CASES)


@pytest.mark.parametrize("case", TCONV_CASES + TCONV_SPECIAL, ids=str)
def test_conv2d_transpose(case: TConvCase) -> None:
    check_conv2d_transpose(case)


@pytest.mark.full_grid
@pytest.mark.parametrize("chunk", range(FULL_GRID_CHUNKS))
def test_conv2d_transpose_full_grid(chunk: int) -> None:
    run_chunk(check_conv2d_transpose, _tconv_full_grid(), chunk)


@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_tconv_references_agree(s: int, k: int, padding: str) -> None:
    """The scatter reference (with the helpers' size/pad rules) equals the
    zero-insertion + flipped-kernel algorithm of keras-formats.md, and Keras's sizes."""
    for n, op in itertools.product((1, 2, 3, 4), (None, *range(s))):
        out, _ = tconv_geometry(n, k, s, padding, op)
        if padding == "valid":
            assert out == ((n - 1) * s + max(k, s) if op is None else (n - 1) * s + k + op)
        else:
            assert out == (n * s if op is None else (n - 1) * s + k % 2 + op)
        if out <= 0:
            continue
        rng = rng_for("tref", s, k, padding, n, op)
        x, kern = rng.standard_normal((1, n, 2, 3)), rng.standard_normal((k, 2, 2, 3))
        args: dict[str, Any] = dict(strides=(s, 1), padding=padding, output_padding=None if op is None else (op, 0))
        a, b = ref_conv2d_transpose(x, kern, **args), ref_conv2d_transpose_dilated(x, kern, **args)
        assert a.shape == b.shape and a.shape[1] == out
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        # With output_padding chosen so TensorFlow's SAME conv_transpose is defined
        # (ceil(out / s) == n) the pad equals TF's forward-conv 'same' before-padding.
        if padding == "same" and op is not None and -(-out // s) == n:
            assert tconv_geometry(n, k, s, padding, op)[1] == max((n - 1) * s + k - out, 0) // 2


def test_conv2d_transpose_hand_example() -> None:
    x = np.array([1.0, 2.0], np.float32).reshape(1, 2, 1, 1)
    k = np.array([1.0, 10.0, 100.0], np.float32).reshape(3, 1, 1, 1)
    got = kernels.conv2d_transpose(x, k, strides=(2, 1))[0, :, 0, 0]
    np.testing.assert_array_equal(got, [1, 10, 102, 20, 200])
    got = kernels.conv2d_transpose(x, k, strides=(2, 1), padding="same")[0, :, 0, 0]
    np.testing.assert_array_equal(got, [1, 10, 102, 20])
    # stride 3 > kernel 1 'valid': out (n-1)*3 + 3 = 6, gaps are zero (bias only).
    k1 = np.array([5.0], np.float32).reshape(1, 1, 1, 1)
    got = kernels.conv2d_transpose(x, k1, np.array([0.5], np.float32), strides=(3, 1))[0, :, 0, 0]
    np.testing.assert_array_equal(got, [5.5, 0.5, 0.5, 10.5, 0.5, 0.5])
    # output_padding=2 with kernel 3, stride 3, 'valid': out = 3 + 3 + 2 = 8.
    got = kernels.conv2d_transpose(x, k, strides=(3, 1), output_padding=(2, 0))[0, :, 0, 0]
    np.testing.assert_array_equal(got, [1, 10, 100, 2, 20, 200, 0, 0])


def test_conv2d_transpose_zero_sized_output_is_an_error() -> None:
    # 'same', even kernel, output_padding 0, one input row: Keras's size rule gives 0 rows.
    x = np.ones((1, 1, 3, 2), np.float32)
    with pytest.raises(ValueError):
        kernels.conv2d_transpose(x, np.ones((2, 2, 4, 2), np.float32), strides=2, padding="same",
                                 output_padding=0)


# =========================================================================== pooling


@dataclass(frozen=True)
class PoolCase:
    hw: tuple[int, int]
    pool: tuple[int, int]
    strides: Any  # None | (sh, sw)
    padding: str
    kind: str
    channels: int

    def __str__(self) -> str:
        st = "none" if self.strides is None else "x".join(map(str, self.strides))
        return (f"{self.kind}-{self.hw[0]}x{self.hw[1]}-p{self.pool[0]}x{self.pool[1]}-s{st}-{self.padding}"
                f"-c{self.channels}")


def _pool_cases() -> list[PoolCase]:
    cases = []
    for hw, pool, st, p, kind in itertools.product([(1, 1), (4, 5), (5, 5), (7, 6), (9, 9)],
                                                   [(1, 1), (2, 2), (3, 3), (2, 3)],
                                                   [None, (1, 1), (2, 2), (3, 3), (1, 2)],
                                                   ("valid", "same"), ("max", "avg")):
        if p == "valid" and (hw[0] < pool[0] or hw[1] < pool[1]):
            continue
        cases.append(PoolCase(hw, pool, st, p, kind, _pick((hw, pool, st, p, kind), [1, 3, 17, 64])))
    return cases


# Rows of the 'valid' whole-row path: channel counts either side of its 32-channel switch
# (fewer: columns reduced row-wide, then picked), windows wider than, equal to and
# narrower than the stride, and the widest row it takes (w * c = 4096 floats).
POOL_ROW_CASES = [PoolCase(hw, pool, st, "valid", kind, c)
                  for kind in ("max", "avg")
                  for hw, pool, st, c in [((4, 100), (3, 2), (2, 3), 5), ((5, 61), (2, 3), (1, 2), 16),
                                          ((6, 30), (2, 2), None, 31), ((6, 30), (2, 2), None, 32),
                                          ((3, 256), (2, 4), (1, 3), 16), ((3, 128), (3, 3), (1, 1), 33),
                                          # few channels, each pixel stored as one 8-float vector: the
                                          # widest row, unit stride, one-column windows, exactly 8 channels
                                          ((3, 1024), (2, 2), (1, 1), 4), ((4, 37), (2, 1), (2, 1), 2),
                                          ((5, 21), (1, 3), (1, 2), 8)]]
POOL_CASES = _pool_cases() + POOL_ROW_CASES


def check_pool(case: PoolCase) -> None:
    rng = rng_for("pool", str(case))
    x = uniform(rng, (max(BATCHES), *case.hw, case.channels), 4.0)
    ref = ref_pool2d(x, case.pool, case.strides, case.padding, case.kind)
    fn = kernels.max_pool2d if case.kind == "max" else kernels.avg_pool2d
    for isa in ISAS:
        for b in BATCHES:
            got = fn(x[:b], case.pool, case.strides, case.padding, isa=isa)
            if case.kind == "max":  # a max is one of the inputs: exact
                assert got.dtype == np.float32
                np.testing.assert_array_equal(got, ref[:b].astype(np.float32), err_msg=str(case))
            else:
                assert_close(got, ref[:b], reduction=case.pool[0] * case.pool[1], err_msg=f"{case} {isa}")


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pool2d(case: PoolCase) -> None:
    check_pool(case)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("hw,pool,strides,c", [((28, 28), 2, None, 6), ((10, 10), 2, None, 16),
                                             ((7, 61), (2, 3), (1, 2), 5), ((5, 40), (3, 1), (2, 4), 1),
                                             ((3, 256), (2, 4), (1, 3), 16)])
def test_pool_few_channels_same_bits_on_every_isa(kind: str, hw: tuple[int, int], pool: Any, strides: Any,
                                                  c: int) -> None:
    """Valid pooling of < 32 channels (LeNet's 6 and 16, rows reduced first, then columns): every
    ISA's compilation of the row kernel keeps one order of operations, so the same bits."""
    x = uniform(rng_for("pool-few", kind, hw, c), (3, *hw, c), 4.0)
    fn = kernels.max_pool2d if kind == "max" else kernels.avg_pool2d
    base = fn(x, pool, strides, "valid", isa="generic")
    for isa in ISAS:
        assert_bitwise_equal(fn(x, pool, strides, "valid", isa=isa), base, f"{kind} {hw} {pool} c={c} {isa}")


def test_avg_pool_same_4x5_arange_exact() -> None:
    x = np.arange(20, dtype=np.float32).reshape(1, 4, 5, 1)
    got = kernels.avg_pool2d(x, 2, padding="same")
    np.testing.assert_array_equal(got[0, :, :, 0], [[3, 5, 6.5], [13, 15, 16.5]])
    # Max-pool 'same' never takes a padded cell, even when every real cell is negative.
    got = kernels.max_pool2d(-1.0 - x, 2, padding="same")
    np.testing.assert_array_equal(got[0, :, :, 0], [[-1, -3, -5], [-11, -13, -15]])


def test_pool_same_odd_sizes_with_stride_not_pool_size() -> None:
    # 3x3 window, stride 2, 'same', on 5x7: out 3x4; totals max((3-1)*2 + 3 - 5, 0) = 2 -> (1, 1)
    # and max((4-1)*2 + 3 - 7, 0) = 2 -> (1, 1).
    x = np.arange(35, dtype=np.float32).reshape(1, 5, 7, 1)
    got = kernels.avg_pool2d(x, 3, strides=2, padding="same")[0, :, :, 0]
    xi = x[0, :, :, 0].astype(np.float64)
    expected = np.array([[xi[max(r - 1, 0): r + 2, max(c - 1, 0): c + 2].mean() for c in range(0, 7, 2)]
                         for r in range(0, 5, 2)])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # 2x2 window, stride 3, 'same', on 7: out 3, total max(2*3 + 2 - 7, 0) = 1 -> (0, 1).
    x = np.arange(7, dtype=np.float32).reshape(1, 7, 1, 1)
    np.testing.assert_array_equal(kernels.max_pool2d(x, (2, 1), (3, 1), "same")[0, :, 0, 0], [1, 4, 6])
    np.testing.assert_array_equal(kernels.avg_pool2d(x, (2, 1), (3, 1), "same")[0, :, 0, 0], [0.5, 3.5, 6])


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 5, 4, 17), (2, 7, 7, 64), (1, 40, 40, 100)])
def test_global_pool(kind: str, shape: tuple[int, ...]) -> None:
    x = uniform(rng_for("gp", kind, shape), shape, 3.0)
    got = kernels.global_pool(x, kind)
    if kind == "max":
        np.testing.assert_array_equal(got, x.max(axis=(1, 2)))
    else:
        assert_close(got, x.astype(np.float64).mean(axis=(1, 2)), reduction=shape[1] * shape[2])


# =========================================================================== dense


@dataclass(frozen=True)
class DenseCase:
    lead: tuple[int, ...]  # x.shape[:-1]
    k: int
    units: int
    bias: bool
    act: str

    def __str__(self) -> str:
        lead = "x".join(map(str, self.lead)) or "vec"
        return f"{lead}-K{self.k}-u{self.units}-{'b' if self.bias else 'nb'}-{self.act}"


DENSE_LEADS = [(), (1,), (2,), (5,), (7,), (16,), (2, 3), (1, 1), (2, 2, 2)]
DENSE_K = [1, 3, 4, 17, 64, 130, 1027]
DENSE_UNITS = [1, 15, 16, 17, 33, 64, 100]
DENSE_GRID = [DenseCase(lead, k, u, _pick((lead, k, u, "b"), [True, False]), _pick((lead, k, u, "a"), ACT_IDS))
              for lead, k, u in itertools.product(DENSE_LEADS, DENSE_K, DENSE_UNITS)]
DENSE_AXES: dict[str, Callable[[Any], Any]] = {
    "lead": lambda c: c.lead, "k": lambda c: c.k, "units": lambda c: c.units, "bias": lambda c: c.bias,
    "act": lambda c: c.act,
}
DENSE_SAMPLE = _sample(DENSE_GRID, DENSE_AXES, 200, SAMPLE_SEED)


def check_dense(case: DenseCase) -> None:
    rng = rng_for("dense", str(case))
    x = uniform(rng, (*case.lead, case.k))
    kernel = uniform(rng, (case.k, case.units), 3.0 / math.sqrt(case.k))
    bias = uniform(rng, (case.units,), 0.5) if case.bias else None
    spec = FUSED_ACTS[case.act]
    pre = ref_dense(x, kernel, bias)
    mag = typical_magnitude(x, kernel, case.k)
    for isa in ISAS:
        got = kernels.dense(x, kernel, bias, activation=spec, isa=isa)
        assert_close_activated(got, pre, spec, reduction=case.k, scale=mag, err_msg=f"dense {case} {isa}")
    m = x.size // case.k
    cref = c_reference("dense", [m, case.k, case.units], x, kernel, bias, pre.shape, spec)
    assert_close_activated(cref, pre, spec, reduction=case.k, scale=mag, err_msg=f"C reference dense {case}")
    fast = kernels.dense(x, kernel, bias)
    cref_lin = cref if spec is None else c_reference("dense", [m, case.k, case.units], x, kernel, bias,
                                                     pre.shape, None)
    assert_close(fast, cref_lin.astype(np.float64), reduction=case.k, scale=mag,
                 err_msg=f"dense fast vs C ref {case}")


def test_dense_sample_covers_every_value() -> None:
    _covers_every_value(DENSE_SAMPLE, DENSE_GRID, DENSE_AXES)


@pytest.mark.parametrize("case", DENSE_SAMPLE, ids=str)
def test_dense(case: DenseCase) -> None:
    check_dense(case)


@pytest.mark.full_grid
@pytest.mark.parametrize("chunk", range(FULL_GRID_CHUNKS))
def test_dense_full_grid(chunk: int) -> None:
    run_chunk(check_dense, DENSE_GRID, chunk)


@pytest.mark.parametrize("lead", [(1,), (9,)])
def test_dense_large_k(lead: tuple[int, ...]) -> None:
    """Batch 1 (GEMV) and batch 9 (micro-kernel) with a big reduction, K % 4 != 0."""
    check_dense(DenseCase(lead, 4099, 37, True, "linear"))


def test_dense_packed_argument_matches() -> None:
    rng = rng_for("packed-dense")
    x, k = uniform(rng, (3, 50)), uniform(rng, (50, 21))
    assert_bitwise_equal(kernels.dense(x, k), kernels.dense(x, k, packed=packing.pack_dense(k)))


# =========================================================================== activations

ELEMENTWISE_SPECS: dict[str, ActSpec] = {
    "linear": "linear",
    "relu": "relu",
    "relu6": "relu6",
    "leaky_relu": "leaky_relu",
    "leaky_relu_0.3": ("leaky_relu", {"alpha": 0.3}),
    "elu": "elu",
    "elu_0.5": {"name": "elu", "alpha": 0.5},
    "selu": "selu",
    "sigmoid": "sigmoid",
    "hard_sigmoid_keras3": "hard_sigmoid",
    "hard_sigmoid_keras2": ("hard_sigmoid", {"slope": 0.2, "offset": 0.5}),
    "tanh": "tanh",
    "softplus": "softplus",
    "softsign": "softsign",
    "swish": "swish",
    "silu": "silu",
    "gelu": "gelu",
    "gelu_exact_explicit": ("gelu", {"approximate": False}),
    "gelu_tanh": ("gelu", {"approximate": True}),
    "exponential": "exponential",
    "hard_silu": "hard_silu",
    "mish": "mish",
}


def _activation_inputs(shape: tuple[int, ...], seed: object) -> np.ndarray:
    rng = rng_for("act-in", seed)
    grid = np.linspace(-12.0, 12.0, 4801)
    special = [0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 0.5, -0.5, 1, -1, 3, -3, 6, -6]
    vals = np.concatenate([grid, special, rng.standard_normal(int(np.prod(shape)) - grid.size - len(special)) * 4])
    return vals.astype(np.float32).reshape(shape)


@pytest.mark.parametrize("name", list(ELEMENTWISE_SPECS))
@pytest.mark.parametrize("shape", [(6000,), (3, 2000), (2, 3, 5, 200)])
def test_activation_elementwise(name: str, shape: tuple[int, ...]) -> None:
    spec = ELEMENTWISE_SPECS[name]
    x = _activation_inputs(shape, (name, shape))
    got = kernels.activation(x, spec)
    assert_close_elementwise(got, ref_activation(x, spec), x, err_msg=name)


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE_SPECS if n != "exponential"])
def test_activation_extreme_inputs_stay_finite(name: str) -> None:
    spec = ELEMENTWISE_SPECS[name]
    x = np.array([-3e38, -1e4, -1000, -100, -89, -88, -50, -20, 20, 50, 88, 89, 100, 1000, 1e4, 3e38],
                 dtype=np.float32)
    ref = ref_activation(x, spec)
    got = kernels.activation(x, spec)
    finite = np.isfinite(ref) & (np.abs(ref) <= np.finfo(np.float32).max)
    assert np.isfinite(got[finite]).all(), f"{name}: {got} for {x}"
    assert not np.isnan(got).any()
    assert_close_elementwise(got[finite], ref[finite], x[finite], err_msg=name)


def test_activation_exponential_overflow_like_keras() -> None:
    x = np.array([-1000, -104, 0, 88, 89, 1000], np.float32)
    got = kernels.activation(x, "exponential")
    np.testing.assert_array_equal(got[[0, 2]], [0.0, 1.0])
    assert np.isinf(got[4:]).all() and np.isfinite(got[:4]).all() and not np.isnan(got).any()


@pytest.mark.parametrize("max_value", [None, 6.0, 1.5])
@pytest.mark.parametrize("negative_slope", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("threshold", [0.0, 0.5, -1.0])
def test_relu_layer_semantics(max_value: float | None, negative_slope: float, threshold: float) -> None:
    params = {"max_value": max_value, "negative_slope": negative_slope, "threshold": threshold}
    x = np.concatenate([np.linspace(-8, 8, 1601), [threshold, np.nextafter(threshold, 9), 0.0, -0.0, 1.5, 6.0]])
    x = x.astype(np.float32)
    got = kernels.activation(x, ("relu", params))
    # Keras (relu / ReLU layer): x where x > threshold else 0, clipped to [0, max_value] when
    # a max is given, plus negative_slope * min(x - threshold, 0). Written out here longhand.
    xd = x.astype(np.float64)
    expected = np.where(xd > threshold, xd, 0.0)
    if max_value is not None:
        expected = np.minimum(np.maximum(expected, 0.0), max_value)
    expected += negative_slope * np.minimum(xd - threshold, 0.0)
    assert_close_elementwise(got, expected, x, err_msg=str(params))


def test_named_constants_match_keras() -> None:
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], np.float32)
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    xd = x.astype(np.float64)
    expect = {
        "selu": scale * np.where(xd > 0, xd, alpha * np.expm1(xd)),
        "relu6": np.clip(xd, 0, 6),
        "leaky_relu": np.where(xd > 0, xd, 0.2 * xd),  # the activation's default (the layer's is 0.3)
        "hard_sigmoid": np.clip(xd / 6 + 0.5, 0, 1),  # Keras 3 default
        "hard_silu": xd * np.clip(xd / 6 + 0.5, 0, 1),
        "gelu": np.array([-0.04550026389635842, -0.15426876936299347, 0.0, 0.34573123063700656,
                          1.9544997361036416]),
    }
    for name, e in expect.items():
        assert_close_elementwise(kernels.activation(x, name), e, x, err_msg=name)


def test_activation_spec_forms_agree() -> None:
    x = _activation_inputs((6000,), "forms")
    pairs = [
        ("elu", ("elu", {}), {"name": "elu"}, {"name": "elu", "alpha": 1.0}),
        (("relu", {"max_value": 6.0}), "relu6", {"name": "relu", "max_value": 6, "threshold": 0.0}),
        ("swish", "silu"),
        ("gelu", ("gelu", {"approximate": False})),
        (("leaky_relu", {"alpha": 0.2}), "leaky_relu", ("relu", {"negative_slope": 0.2})),
    ]
    for forms in pairs:
        outs = [kernels.activation(x, f) for f in forms]
        for f, o in zip(forms[1:], outs[1:]):
            assert_bitwise_equal(outs[0], o, f"{forms[0]!r} vs {f!r}")
    assert_bitwise_equal(kernels.activation(x, None), x)


@pytest.mark.parametrize("shape", [(1, 1), (4, 5), (3, 1000), (2, 3, 7), (17,)])
def test_softmax_matches_reference(shape: tuple[int, ...]) -> None:
    x = uniform(rng_for("softmax", shape), shape, 10.0)
    got = kernels.activation(x, "softmax")
    assert_close(got, ref_activation(x, "softmax"), reduction=shape[-1])
    np.testing.assert_allclose(got.astype(np.float64).sum(axis=-1), 1.0, rtol=1e-5)


def test_softmax_is_numerically_stable() -> None:
    x = np.array([[1000, -1000, 0], [-1000, -1000, -1000], [1e4, 1e4 - 1, -1e4], [3e38, -3e38, 0],
                  [88.5, 89.0, 90.0], [-3e38, -3e38, -3e38]], np.float32)
    got = kernels.activation(x, "softmax")
    assert np.isfinite(got).all()
    ref = ref_activation(x, "softmax")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got[0], [1, 0, 0])
    np.testing.assert_allclose(got[1], [1 / 3] * 3, rtol=1e-6)


# =========================================================================== glue ops


@pytest.mark.parametrize("padding", [((1, 1), (1, 1)), ((0, 2), (3, 0)), ((2, 0), (0, 0)), 2])
def test_zero_pad2d(padding: Any) -> None:
    x = uniform(rng_for("zp", padding), (2, 5, 4, 3))
    got = kernels.zero_pad2d(x, padding)
    pads = ((padding,) * 2, (padding,) * 2) if isinstance(padding, int) else padding
    assert_bitwise_equal(got, np.pad(x, ((0, 0), pads[0], pads[1], (0, 0))))


@pytest.mark.parametrize("size", [1, 2, (2, 3), (3, 1)])
def test_upsample_nearest2d(size: Any) -> None:
    x = uniform(rng_for("up", size), (2, 3, 5, 7))
    fh, fw = (size, size) if isinstance(size, int) else size
    assert_bitwise_equal(kernels.upsample_nearest2d(x, size), x.repeat(fh, axis=1).repeat(fw, axis=2))


@pytest.mark.parametrize("count", [1, 2, 3, 5])
@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid"])
def test_add(count: int, act: str) -> None:
    xs = [uniform(rng_for("add", count, i), (2, 5, 6, 17)) for i in range(count)]
    pre = np.sum([x.astype(np.float64) for x in xs], axis=0)
    assert_close_activated(kernels.add(xs, activation=FUSED_ACTS[act]), pre, FUSED_ACTS[act], reduction=count)


@pytest.mark.parametrize("widths", [[1], [3, 16], [17, 1, 64], [5] * 9])
@pytest.mark.parametrize("lead", [(4,), (2, 3, 5)])
def test_concat(widths: list[int], lead: tuple[int, ...]) -> None:
    xs = [uniform(rng_for("cat", tuple(widths), lead, i), (*lead, w)) for i, w in enumerate(widths)]
    assert_bitwise_equal(kernels.concat(xs), np.concatenate(xs, axis=-1))


@pytest.mark.parametrize("act", ["linear", "relu6", "softmax", "elu0.7"])
@pytest.mark.parametrize("shape", [(7,), (3, 17), (2, 4, 5, 64)])
def test_scale_shift(act: str, shape: tuple[int, ...]) -> None:
    rng = rng_for("ss", act, shape)
    x, scale, shift = uniform(rng, shape, 3.0), uniform(rng, shape[-1:], 2.0), uniform(rng, shape[-1:])
    pre = x.astype(np.float64) * scale + shift
    spec = FUSED_ACTS[act]
    assert_close_activated(kernels.scale_shift(x, scale, shift, activation=spec), pre, spec, reduction=2)


# =========================================================================== threads


def _run_with_threads(fn: Callable[[int], np.ndarray], what: str) -> None:
    base = fn(1)
    for t in (2, 3):
        assert_bitwise_equal(fn(t), base, f"{what}: num_threads={t} vs 1")


@pytest.mark.parametrize("isa", ISAS)
def test_threads_conv2d(isa: str) -> None:
    rng = rng_for("thr-conv")
    x, k, b = uniform(rng, (1, 40, 40, 64)), uniform(rng, (3, 3, 64, 64), 0.1), uniform(rng, (64,))
    _run_with_threads(lambda t: kernels.conv2d(x, k, b, padding="same", activation="relu", num_threads=t,
                                               isa=isa), "conv2d")
    # weights-outer loop order, grouped, and softmax applied after the parallel loop
    x2, k2 = uniform(rng, (2, 9, 11, 256)), uniform(rng, (3, 3, 128, 256), 0.05)
    _run_with_threads(lambda t: kernels.conv2d(x2, k2, None, padding="same", groups=2, activation="softmax",
                                               num_threads=t, isa=isa), "conv2d weights-outer")


@pytest.mark.parametrize("isa", ISAS)
def test_threads_conv2d_thin(isa: str) -> None:
    """The thin first-layer kernels (pixel lanes; LeNet-5's 5x5x1 -> 6 with tanh): rows split
    between threads (both shapes above the parallel threshold), each row bitwise the same."""
    rng = rng_for("thr-thin")
    x, k, b = uniform(rng, (24, 32, 32, 1)), uniform(rng, (5, 5, 1, 6), 0.4), uniform(rng, (6,))
    _run_with_threads(lambda t: kernels.conv2d(x, k, b, activation="tanh", num_threads=t, isa=isa), "thin valid")
    x3, k3 = uniform(rng, (20, 30, 29, 3)), uniform(rng, (3, 3, 3, 5), 0.4)
    _run_with_threads(lambda t: kernels.conv2d(x3, k3, b[:5], padding="same", activation="sigmoid", num_threads=t,
                                               isa=isa), "thin same, 3 channels")


@pytest.mark.parametrize("threads", [7, 100])
def test_threads_taking_work_from_each_other(threads: int) -> None:
    """src/work_share.h: a thread done with its own range takes items from the back of the
    others'. More threads than the 2 cores (so some start late and their ranges are taken)
    and, at 100 (capped to 64), more threads than items: each item still runs once, bitwise
    as on one thread, in every run."""
    rng = rng_for("thr-steal")
    cases = [
        ("pointwise", uniform(rng, (3, 7, 7, 96)), uniform(rng, (1, 1, 96, 1024), 0.1), {}),
        ("general", uniform(rng, (1, 20, 20, 32)), uniform(rng, (3, 3, 32, 200), 0.1), {"padding": "same"}),
        ("depthwise", uniform(rng, (1, 7, 9, 2048)), uniform(rng, (3, 3, 1, 2048)), {"padding": "same",
                                                                                    "groups": 2048}),
    ]
    for what, x, k, kw in cases:
        base = kernels.conv2d(x, k, None, activation="relu6", num_threads=1, **kw)
        for _ in range(5):
            got = kernels.conv2d(x, k, None, activation="relu6", num_threads=threads, **kw)
            assert_bitwise_equal(got, base, f"{what}: num_threads={threads} vs 1")


def test_threads_depthwise() -> None:
    rng = rng_for("thr-dw")
    x, k = uniform(rng, (2, 64, 64, 64)), uniform(rng, (3, 3, 1, 128))
    _run_with_threads(lambda t: kernels.conv2d(x, k, None, padding="same", groups=64, num_threads=t), "dw")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("batch", [1, 8])
def test_threads_dense(isa: str, batch: int) -> None:
    rng = rng_for("thr-dense", batch)
    x, k, b = uniform(rng, (batch, 4097)), uniform(rng, (4097, 1000), 0.05), uniform(rng, (1000,))
    _run_with_threads(lambda t: kernels.dense(x, k, b, activation="tanh", num_threads=t, isa=isa), "dense")


@pytest.mark.parametrize("isa", ISAS)
def test_threads_conv2d_transpose(isa: str) -> None:
    rng = rng_for("thr-tconv")
    x, k, b = uniform(rng, (1, 32, 32, 64)), uniform(rng, (4, 4, 64, 64), 0.1), uniform(rng, (64,))
    k3 = np.ascontiguousarray(k[:3, :3])
    _run_with_threads(lambda t: kernels.conv2d_transpose(x, k, b, strides=2, padding="same", num_threads=t,
                                                         isa=isa), "conv2d_transpose")
    _run_with_threads(lambda t: kernels.conv2d_transpose(x, k3, b, strides=3, output_padding=1,
                                                         activation="softmax", num_threads=t, isa=isa),
                      "conv2d_transpose s3")


@pytest.mark.parametrize("isa", ISAS)
def test_threads_global_pool_batch1_channel_blocks(isa: str) -> None:
    """Batch 1 splits over blocks of channels (100 = 3 x 32 + 4)."""
    x = uniform(rng_for("thr-gp1"), (1, 70, 70, 100), 3.0)
    for kind in ("avg", "max"):
        got = kernels.global_pool(x, kind, num_threads=1, isa=isa)
        if kind == "max":
            np.testing.assert_array_equal(got, x.max(axis=(1, 2)))
        else:
            assert_close(got, x.astype(np.float64).mean(axis=(1, 2)), reduction=70 * 70)
        _run_with_threads(lambda t, k=kind: kernels.global_pool(x, k, num_threads=t, isa=isa), f"global {kind} {isa}")


def test_threads_pool_and_elementwise() -> None:
    rng = rng_for("thr-pool")
    x = uniform(rng, (2, 128, 128, 32), 3.0)
    _run_with_threads(lambda t: kernels.max_pool2d(x, 3, 2, "same", num_threads=t), "max_pool2d")
    _run_with_threads(lambda t: kernels.avg_pool2d(x, 3, 2, "same", num_threads=t), "avg_pool2d")
    lenet = uniform(rng, (16, 28, 28, 6), 3.0)  # few channels, valid: whole-row reductions
    _run_with_threads(lambda t: kernels.avg_pool2d(lenet, 2, num_threads=t), "avg_pool2d few channels")
    _run_with_threads(lambda t: kernels.global_pool(x, "avg", num_threads=t), "global avg")
    _run_with_threads(lambda t: kernels.global_pool(x, "max", num_threads=t), "global max")
    _run_with_threads(lambda t: kernels.activation(x, "gelu", num_threads=t), "gelu")
    _run_with_threads(lambda t: kernels.activation(x, "softmax", num_threads=t), "softmax")
    _run_with_threads(lambda t: kernels.add([x, x, x], activation="relu", num_threads=t), "add")
    s = uniform(rng, (32,))
    _run_with_threads(lambda t: kernels.scale_shift(x, s, s, activation="mish", num_threads=t), "scale_shift")
    _run_with_threads(lambda t: kernels.zero_pad2d(x, ((1, 2), (3, 0)), num_threads=t), "zero_pad2d")
    _run_with_threads(lambda t: kernels.upsample_nearest2d(x, 2, num_threads=t), "upsample")
    x5 = np.ascontiguousarray(x[..., :5])
    _run_with_threads(lambda t: kernels.concat([x, x5], num_threads=t), "concat")


# =========================================================================== bad arguments

F32 = np.float32
X = np.ones((1, 5, 5, 3), F32)
K3 = np.ones((3, 3, 3, 4), F32)

BAD_CALLS: list[tuple[str, Callable[[], object], type, str]] = [
    ("conv rank", lambda: kernels.conv2d(X[0], K3), ValueError, "4 dimensions"),
    ("conv kernel rank", lambda: kernels.conv2d(X, K3[0]), ValueError, "4 dimensions"),
    ("conv channels", lambda: kernels.conv2d(X, np.ones((3, 3, 2, 4), F32)), ValueError, "input channels"),
    ("conv kernel too big", lambda: kernels.conv2d(X, np.ones((6, 2, 3, 4), F32)), ValueError, "larger than"),
    ("conv dilated kernel too big", lambda: kernels.conv2d(X, K3, dilation=3), ValueError, "larger than"),
    ("conv non-contiguous", lambda: kernels.conv2d(np.ones((1, 5, 10, 3), F32)[:, :, ::2], K3), ValueError,
     "contiguous"),
    ("conv float64", lambda: kernels.conv2d(X.astype(np.float64), K3), TypeError, "float32"),
    ("conv float64 kernel", lambda: kernels.conv2d(X, K3.astype(np.float64)), TypeError, "float32"),
    ("conv list input", lambda: kernels.conv2d(X.tolist(), K3), TypeError, "ndarray"),
    ("conv threads 0", lambda: kernels.conv2d(X, K3, num_threads=0), ValueError, ">= 1"),
    ("conv threads -1", lambda: kernels.conv2d(X, K3, num_threads=-1), ValueError, ">= 1"),
    ("conv threads float", lambda: kernels.conv2d(X, K3, num_threads=2.0), TypeError, "int"),
    ("conv padding string", lambda: kernels.conv2d(X, K3, padding="full"), ValueError, "padding"),
    ("conv padding negative", lambda: kernels.conv2d(X, K3, padding=((1, -1), (0, 0))), ValueError, "padding"),
    ("conv padding shape", lambda: kernels.conv2d(X, K3, padding=(1, 1)), ValueError, "padding"),
    ("conv strides 0", lambda: kernels.conv2d(X, K3, strides=0), ValueError, "strides"),
    ("conv dilation 0", lambda: kernels.conv2d(X, K3, dilation=(1, 0)), ValueError, "dilation"),
    ("conv groups", lambda: kernels.conv2d(np.ones((1, 5, 5, 4), F32), np.ones((3, 3, 2, 3), F32), groups=2),
     ValueError, "groups"),
    ("conv bias length", lambda: kernels.conv2d(X, K3, np.ones(3, F32)), ValueError, "bias has 3"),
    ("conv bias rank", lambda: kernels.conv2d(X, K3, np.ones((1, 4), F32)), ValueError, "bias"),
    ("conv isa", lambda: kernels.conv2d(X, K3, isa="sse2"), ValueError, "isa"),
    ("conv activation", lambda: kernels.conv2d(X, K3, activation="swishy"), ValueError, "unknown activation"),
    ("conv activation params", lambda: kernels.conv2d(X, K3, activation=("tanh", {"alpha": 1.0})), ValueError,
     "no parameters"),
    ("conv packed too small", lambda: kernels.conv2d(X, K3, packed=np.ones(7, F32)), ValueError, "weights"),
    ("conv empty", lambda: kernels.conv2d(np.ones((0, 5, 5, 3), F32), K3), ValueError, "empty"),
    ("tconv channels", lambda: kernels.conv2d_transpose(X, np.ones((2, 2, 4, 2), F32)), ValueError,
     "input channels"),
    ("tconv padding", lambda: kernels.conv2d_transpose(X, np.ones((2, 2, 4, 3), F32), padding=((1, 1), (1, 1))),
     ValueError, "padding"),
    ("tconv output_padding == stride",
     lambda: kernels.conv2d_transpose(X, np.ones((2, 2, 4, 3), F32), strides=2, output_padding=2), ValueError,
     "output_padding"),
    ("tconv output_padding > stride",
     lambda: kernels.conv2d_transpose(X, np.ones((2, 2, 4, 3), F32), strides=(2, 3), output_padding=(1, 3)),
     ValueError, "output_padding"),
    ("tconv output_padding negative",
     lambda: kernels.conv2d_transpose(X, np.ones((2, 2, 4, 3), F32), strides=2, output_padding=-1), ValueError,
     "output_padding"),
    ("tconv bias", lambda: kernels.conv2d_transpose(X, np.ones((2, 2, 4, 3), F32), np.ones(3, F32)), ValueError,
     "bias has 3"),
    ("tconv threads", lambda: kernels.conv2d_transpose(X, np.ones((2, 2, 4, 3), F32), num_threads=0),
     ValueError, ">= 1"),
    ("pool too big", lambda: kernels.max_pool2d(X, 6), ValueError, "larger than"),
    ("pool padding", lambda: kernels.avg_pool2d(X, 2, padding="causal"), ValueError, "padding"),
    ("pool size 0", lambda: kernels.avg_pool2d(X, 0), ValueError, "pool_size"),
    ("pool rank", lambda: kernels.max_pool2d(X[0]), ValueError, "4 dimensions"),
    ("pool float64", lambda: kernels.max_pool2d(X.astype(np.float64)), TypeError, "float32"),
    ("pool threads", lambda: kernels.max_pool2d(X, num_threads=-1), ValueError, ">= 1"),
    ("global pool kind", lambda: kernels.global_pool(X, "min"), ValueError, "kind"),
    ("dense features", lambda: kernels.dense(np.ones((2, 5), F32), np.ones((4, 3), F32)), ValueError, "features"),
    ("dense kernel rank", lambda: kernels.dense(np.ones((2, 5), F32), np.ones((5,), F32)), ValueError,
     "2 dimensions"),
    ("dense bias", lambda: kernels.dense(np.ones((2, 5), F32), np.ones((5, 3), F32), np.ones(5, F32)),
     ValueError, "bias has 5"),
    ("dense packed too small",
     lambda: kernels.dense(np.ones((2, 5), F32), np.ones((5, 3), F32), packed=np.ones(15, F32)), ValueError,
     "weights"),
    ("activation threads", lambda: kernels.activation(X, "relu", num_threads=0), ValueError, ">= 1"),
    ("activation float64", lambda: kernels.activation(X.astype(np.float64), "relu"), TypeError, "float32"),
    ("add shapes", lambda: kernels.add([X, np.ones((1, 5, 4, 3), F32)]), ValueError, "one shape"),
    ("add empty", lambda: kernels.add([]), ValueError, "at least one"),
    ("concat shapes", lambda: kernels.concat([X, np.ones((1, 4, 5, 3), F32)]), ValueError, "last axis"),
    ("concat empty", lambda: kernels.concat([]), ValueError, "at least one"),
    ("scale_shift shape", lambda: kernels.scale_shift(X, np.ones(3, F32), np.ones(4, F32)), ValueError, "shape"),
    ("zero_pad negative", lambda: kernels.zero_pad2d(X, ((1, 1), (1, -1))), ValueError, "non-negative"),
    ("upsample size", lambda: kernels.upsample_nearest2d(X, 0), ValueError, "size"),
]


@pytest.mark.parametrize("call,exc,match", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_arguments(call: Callable[[], object], exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_tconv_output_padding_numpy_int() -> None:
    k = np.ones((2, 2, 4, 3), F32)
    assert_bitwise_equal(kernels.conv2d_transpose(X, k, strides=2, output_padding=np.int64(1)),
                         kernels.conv2d_transpose(X, k, strides=2, output_padding=1))


def test_tconv_output_padding_wrong_length_message() -> None:
    with pytest.raises(ValueError, match="output_padding"):
        kernels.conv2d_transpose(X, np.ones((2, 2, 4, 3), F32), strides=2, output_padding=(1, 1, 1))


# =========================================================================== packing


def test_pack_conv2d_layout() -> None:
    """panel16: [groups][ceil(cout_g / 16)][kh][kw][cin_g][16], zero-padded per group."""
    kh, kw, cin_g, groups, cout_g = 2, 3, 3, 2, 20
    kernel = np.arange(kh * kw * cin_g * groups * cout_g, dtype=np.float32).reshape(kh, kw, cin_g, groups * cout_g)
    packed = packing.pack_conv2d(kernel + 1, groups)
    nb = 2
    assert packed.dtype == np.float32 and packed.ndim == 1
    assert packed.size == groups * nb * kh * kw * cin_g * 16
    for g, b, i, j, c, lane in itertools.product(range(groups), range(nb), range(kh), range(kw), range(cin_g),
                                                 range(16)):
        idx = ((((g * nb + b) * kh + i) * kw + j) * cin_g + c) * 16 + lane
        o = b * 16 + lane
        expected = kernel[i, j, c, g * cout_g + o] + 1 if o < cout_g else 0.0
        assert packed[idx] == expected, (g, b, i, j, c, lane)


def test_pack_conv2d_depthwise_layout() -> None:
    """cin_g == 1 with groups > 1: [kh][kw][cout], i.e. the Keras kernel in order."""
    kernel = np.arange(2 * 3 * 1 * 10, dtype=np.float32).reshape(2, 3, 1, 10)
    packed = packing.pack_conv2d(kernel, groups=5)
    for i, j, o in itertools.product(range(2), range(3), range(10)):
        assert packed[(i * 3 + j) * 10 + o] == kernel[i, j, 0, o]
    dk = np.arange(2 * 3 * 5 * 2, dtype=np.float32).reshape(2, 3, 5, 2)
    as_conv = packing.depthwise_as_conv(dk)
    for i, j, c, m in itertools.product(range(2), range(3), range(5), range(2)):
        assert as_conv[i, j, 0, c * 2 + m] == dk[i, j, c, m]
    np.testing.assert_array_equal(packing.pack_depthwise(dk), packing.pack_conv2d(as_conv, groups=5))


def test_pack_dense_layout() -> None:
    k_in, units = 5, 35
    kernel = np.arange(k_in * units, dtype=np.float32).reshape(k_in, units) + 1
    packed = packing.pack_dense(kernel)
    nb = 3
    assert packed.size == nb * k_in * 16
    for b, c, lane in itertools.product(range(nb), range(k_in), range(16)):
        o = b * 16 + lane
        assert packed[(b * k_in + c) * 16 + lane] == (kernel[c, o] if o < units else 0.0)


@pytest.mark.parametrize("kh,kw,sh,sw", [(3, 4, 2, 3), (1, 2, 3, 1), (4, 4, 2, 2), (2, 1, 1, 1)])
def test_pack_conv2d_transpose_layout(kh: int, kw: int, sh: int, sw: int) -> None:
    """Per output phase (rh, rw), rh-major, taps kh = rh + sh*i, kw = rw + sw*j, each phase a
    panel16 conv kernel (taps_h, taps_w, cin, cout); phases without taps take no space."""
    cout, cin = 18, 3
    kernel = np.arange(kh * kw * cout * cin, dtype=np.float32).reshape(kh, kw, cout, cin) + 1
    packed = packing.pack_conv2d_transpose(kernel, (sh, sw))
    nb = 2
    pos = 0
    for rh, rw in itertools.product(range(sh), range(sw)):
        th, tw = list(range(rh, kh, sh)), list(range(rw, kw, sw))
        for b, a, bb, c, lane in itertools.product(range(nb), range(len(th)), range(len(tw)), range(cin),
                                                   range(16)):
            idx = pos + (((b * len(th) + a) * len(tw) + bb) * cin + c) * 16 + lane
            o = b * 16 + lane
            assert packed[idx] == (kernel[th[a], tw[bb], o, c] if o < cout else 0.0), (rh, rw, b, a, bb, c, lane)
        pos += nb * len(th) * len(tw) * cin * 16
    assert packed.size == pos == _kernels.tconv_packed_size(cin, cout, kh, kw, sh, sw)
