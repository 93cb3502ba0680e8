"""Every activation kind on every instruction-set path this CPU has, against
float64 NumPy references written here (not calling pyconvinfer's formulas).

Error metric (docs/ACTIVATIONS.md): |got - ref| / max(|ref|, FLT_MIN), ref in
float64 at the same float32 input; results beyond float32's range must be the
exact +-inf, NaN inputs must give NaN (relu: 0, its clamp semantics). Bound:
1e-6 for every kind, over inputs that cover the whole float32 range (a dense
grid, log-spaced magnitudes down to denormals, random bit patterns, special
values). Thread invariance: 1, 2 and 3 threads give identical bits.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

from pyconvinfer import _kernels, kernels

BOUND = 1e-6
F32 = np.finfo(np.float32)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _isas() -> list[str]:
    have = kernels.resolve_isa(None)
    order = ["generic", "avx2", "avx512"]
    return [i for i in order if _kernels.effective_isa(i) == i and order.index(i) <= order.index(have)]


ISAS = _isas()


# --------------------------------------------------------------------------- float64 references

def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _times(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """x * s with the limit 0 where s == 0 (x = -inf)."""
    with np.errstate(invalid="ignore"):
        return np.where(s == 0, 0.0, x * s)


def _tanh_shrink(x: np.ndarray) -> np.ndarray:
    z = x * x
    series = x * z * (1 / 3 - z * (2 / 15 - z * (17 / 315 - z * 62 / 2835)))
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(x) < 1e-2, series, x - np.tanh(x))


def _gelu(x: np.ndarray) -> np.ndarray:
    phi = 0.5 * _erfc(-x / math.sqrt(2.0)).astype(np.float64)
    return _times(x, phi)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    # 0.5 (1 + tanh(u)) == sigmoid(2u): the same function, without the cancellation
    with np.errstate(over="ignore", invalid="ignore"):
        v = 2.0 * math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)
    return _times(x, _sigmoid(v))


def _expm1_neg(x: np.ndarray) -> np.ndarray:
    return np.expm1(np.minimum(x, 0.0))


def _squareplus(x: np.ndarray, b: float = 4.0) -> np.ndarray:
    s = np.where(np.abs(x) > 1e150, np.abs(x), np.sqrt(np.minimum(x * x, 1e300) + b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x >= 0, (x + s) / 2, b / (2 * (s - x)))


def _relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    y = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    if negative_slope == 0:
        return y  # 0 * (-inf) is not a NaN here: the term is absent
    return y + negative_slope * np.minimum(x - threshold, 0.0)


def _hard_sigmoid(x, slope=1 / 6, offset=0.5):
    # The kernel gets float32 parameters (as stored in a file); near the zero
    # crossing the result depends on them, so the reference uses the same values.
    slope, offset = float(np.float32(slope)), float(np.float32(offset))
    with np.errstate(invalid="ignore"):
        return np.clip(slope * x + offset, 0.0, 1.0)


REFS: dict[str, tuple[Any, Callable[..., np.ndarray]]] = {
    # name: (spec, reference(x, **params))
    "linear": ("linear", lambda x: x),
    "relu": ("relu", _relu),
    "relu6": ("relu6", lambda x: _relu(x, 6.0)),
    "relu_leaky_threshold_cap": ({"name": "relu", "max_value": 2.5, "negative_slope": 0.1, "threshold": 0.5},
                                 lambda x: _relu(x, 2.5, 0.1, 0.5)),
    "elu": ("elu", lambda x: np.where(x > 0, x, _expm1_neg(x))),
    "elu_0.5": ({"name": "elu", "alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * _expm1_neg(x))),
    "selu": ("selu", lambda x: 1.0507009873554804934 * np.where(x > 0, x, 1.6732632423543772848 * _expm1_neg(x))),
    "celu": ("celu", lambda x: np.maximum(x, 0) + _expm1_neg(x)),
    "celu_2.5": ({"name": "celu", "alpha": 2.5}, lambda x: np.maximum(x, 0) + 2.5 * _expm1_neg(x / 2.5)),
    "sigmoid": ("sigmoid", _sigmoid),
    "hard_sigmoid": ("hard_sigmoid", _hard_sigmoid),
    "hard_sigmoid_keras2": ({"name": "hard_sigmoid", "slope": 0.2, "offset": 0.5}, lambda x: _hard_sigmoid(x, 0.2)),
    "tanh": ("tanh", np.tanh),
    "tanh_shrink": ("tanh_shrink", _tanh_shrink),
    "softplus": ("softplus", _softplus),
    "log_sigmoid": ("log_sigmoid", lambda x: -_softplus(-x)),
    "softsign": ("softsign", lambda x: np.where(np.isinf(x), np.sign(x), x / (1 + np.abs(x)))),
    "swish": ("swish", lambda x: _times(x, _sigmoid(x))),
    "gelu": ("gelu", _gelu),
    "gelu_tanh": (("gelu", {"approximate": True}), _gelu_tanh),
    "exponential": ("exponential", np.exp),
    "hard_silu": ("hard_silu", lambda x: _times(x, np.clip((x + 3) / 6, 0.0, 1.0))),
    "mish": ("mish", lambda x: _times(x, np.tanh(_softplus(x)))),
    "hard_shrink": ("hard_shrink", lambda x: np.where(np.abs(x) > 0.5, x, 0.0)),
    "hard_shrink_2": ({"name": "hard_shrink", "threshold": 2.0}, lambda x: np.where(np.abs(x) > 2, x, 0.0)),
    "hard_tanh": ("hard_tanh", lambda x: np.clip(x, -1.0, 1.0)),
    "soft_shrink": ("soft_shrink", lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0))),
    "soft_shrink_1.5": ({"name": "soft_shrink", "threshold": 1.5},
                        lambda x: np.where(x > 1.5, x - 1.5, np.where(x < -1.5, x + 1.5, 0.0))),
    "sparse_plus": ("sparse_plus", lambda x: np.where(x <= -1, 0.0, np.where(x < 1, 0.25 * (x + 1) ** 2, x))),
    "sparse_sigmoid": ("sparse_sigmoid", lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, 1.0, 0.5 * (x + 1)))),
    "squareplus": ("squareplus", _squareplus),
    "squareplus_0": ({"name": "squareplus", "b": 0.0}, lambda x: _squareplus(x, 0.0)),
    "threshold": ({"name": "threshold", "threshold": 0.25, "default_value": -2.0},
                  lambda x: np.where(x > 0.25, x, -2.0)),
}


# --------------------------------------------------------------------------- inputs and the metric

def wide_inputs(n_random: int = 200_000, seed: int = 7) -> np.ndarray:
    """Dense grid, log-spaced magnitudes (denormal .. max), random bit patterns, specials."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-40.0, 40.0, 160_001)
    mags = 10.0 ** np.linspace(-45.5, 38.5, 40_001)
    bits = rng.integers(0, 2**32, n_random, dtype=np.uint64).astype(np.uint32).view(np.float32)
    bits = bits[~np.isnan(bits)].astype(np.float64)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, F32.max, -F32.max, F32.tiny, -F32.tiny, F32.smallest_subnormal,
               -F32.smallest_subnormal, 88.72, 88.73, 89.0, -87.3, -103.9, -104.0, -1e4, 1e4, 0.5, -0.5, 1, -1,
               3, -3, 6, -6, 2.5, -2.5, 15, -15, 30, -30, 0.25, 1.5, -1.5, 2, -2]
    near = np.array([1, -1, 3, -3, 0.5, -0.5, 2.5, -2.5, 0.25, 1.5, -1.5, 2, -2, 15, -15, 30, -30], np.float32)
    steps = np.concatenate([np.nextafter(near, np.float32(np.inf)), np.nextafter(near, np.float32(-np.inf))])
    x = np.concatenate([grid, mags, -mags, bits, special, steps.astype(np.float64)])
    return x.astype(np.float32)


X = wide_inputs()
X64 = X.astype(np.float64)


def rel_error(got: np.ndarray, ref: np.ndarray, x: np.ndarray, nan_to: float | None = None) -> float:
    """Max |got - ref| / max(|ref|, FLT_MIN); checks inf/NaN exactly (asserts)."""
    got64 = got.astype(np.float64)
    nan_in = np.isnan(x)
    if nan_to is None:
        assert np.isnan(got[nan_in]).all(), "NaN input must give NaN"
    else:
        assert (got[nan_in] == nan_to).all(), f"NaN input must give {nan_to}"
    ref = ref[~nan_in]
    got64 = got64[~nan_in]
    over = np.abs(ref) > float(F32.max) * (1 + 2.0**-25)  # rounds to inf in float32
    assert not np.isnan(ref).any(), "reference NaN on a non-NaN input"
    np.testing.assert_array_equal(got64[over], np.where(ref[over] > 0, np.inf, -np.inf))
    ok = ~over
    bad = x[~nan_in][ok][~np.isfinite(got64[ok])]
    assert bad.size == 0, f"non-finite result where the reference is finite, x = {bad[:5]}"
    err = np.abs(got64[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), float(F32.tiny))
    return float(err.max()) if err.size else 0.0


def measure(name: str, isa: str) -> tuple[float, float]:
    """(max error, input where it occurs) of REFS[name] on `isa`."""
    spec, ref_fn = REFS[name]
    got = kernels.activation(X, spec, isa=isa, num_threads=1)
    nan_to = 0.0 if name.startswith("relu") else None
    with np.errstate(all="ignore"):
        ref = ref_fn(X64)
    err = rel_error(got, ref, X, nan_to)
    keep = ~np.isnan(X)
    with np.errstate(invalid="ignore"):
        e = np.abs(got[keep].astype(np.float64) - ref[keep]) / np.maximum(np.abs(ref[keep]), float(F32.tiny))
    e[~np.isfinite(e)] = 0
    return err, float(X[keep][int(np.argmax(e))])


# --------------------------------------------------------------------------- tests

def test_kind_table_comes_from_c() -> None:
    from pyconvinfer import activations
    assert activations.KINDS == _kernels.ACT_KINDS
    legacy = ["linear", "relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus", "softsign", "swish",
              "gelu", "gelu_tanh", "exponential", "softmax", "hard_silu", "mish"]
    assert [activations.KINDS[n] for n in legacy] == list(range(16)), "stored ids 0..15 must never change"
    assert len(set(activations.KINDS.values())) == len(activations.KINDS)
    assert _kernels.ACT_SHAPES["softmax"] == _kernels.ACT_SHAPES["log_softmax"] == "row"
    assert _kernels.ACT_SHAPES["glu"] == "halves"


def test_every_elementwise_kind_is_tested() -> None:
    from pyconvinfer import activations
    tested = {activations.normalize(spec)["name"] for spec, _ in REFS.values()}
    elementwise = {n for n, s in activations.SHAPES.items() if s == "elementwise"}
    assert elementwise <= tested, sorted(elementwise - tested)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", list(REFS))
def test_accuracy(name: str, isa: str) -> None:
    err, where = measure(name, isa)
    assert err <= BOUND, f"{name} on {isa}: max relative error {err:.3g} at x = {where!r}"


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", list(REFS))
def test_thread_invariance(name: str, isa: str) -> None:
    spec, _ = REFS[name]
    x = X[:120_000].reshape(40, 3000)  # > 2e6 / 8 elements: the threaded path runs
    runs = [kernels.activation(x, spec, isa=isa, num_threads=t).view(np.uint32) for t in (1, 2, 3)]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def _ref_rows(x: np.ndarray, log: bool) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    np.put_along_axis(e, np.argmax(x, axis=-1)[..., None], 0.0, axis=-1)  # the max's 1, added by log1p
    lse = np.log1p(e.sum(axis=-1, keepdims=True))
    return (x - m) - lse if log else np.exp(x - m - lse)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
@pytest.mark.parametrize("cols", [1, 3, 16, 17, 100, 1000])
def test_row_kinds(kind: str, cols: int, isa: str) -> None:
    rng = np.random.default_rng(cols)
    x = (rng.standard_normal((37, cols)) * np.array([[0.1], [3], [30]] * 12 + [[100]])).astype(np.float32)
    x[0, 0] = 80.0  # one dominant logit
    got = kernels.activation(x, kind, isa=isa)
    ref = _ref_rows(x.astype(np.float64), kind == "log_softmax")
    err = np.abs(got - ref) / np.maximum(np.abs(ref), float(F32.tiny))
    assert err.max() <= BOUND, f"{kind} {isa} cols={cols}: {err.max():.3g}"
    big = np.tile(x, (-(-300_000 // x.size), 1))  # >= 2.5e5 elements: the threaded path runs
    runs = [kernels.activation(big, kind, isa=isa, num_threads=t).view(np.uint32) for t in (1, 2, 3)]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", [(2, 2), (5, 34), (3, 4, 200), (1, 2 * 16 + 2)])
def test_glu(shape: tuple[int, ...], isa: str) -> None:
    x = wide_inputs(1000, seed=len(shape))[: int(np.prod(shape))].reshape(shape)
    x = np.where(np.isinf(x) | np.isnan(x), 1.0, x).astype(np.float32)
    got = kernels.activation(x, "glu", isa=isa)
    assert got.shape == shape[:-1] + (shape[-1] // 2,)
    a, b = np.split(x.astype(np.float64), 2, axis=-1)
    with np.errstate(all="ignore"):
        ref = a * _sigmoid(b)
    err = np.abs(got - ref) / np.maximum(np.abs(ref), float(F32.tiny))
    over = np.abs(ref) > F32.max
    assert err[~over].max() <= BOUND
    big = np.tile(x.reshape(-1, shape[-1]), (max(1, 300_000 // x.size), 1))
    runs = [kernels.glu(big, isa=isa, num_threads=t).view(np.uint32) for t in (1, 2, 3)]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


@pytest.mark.parametrize("isa", ISAS)
def test_no_warnings_on_extreme_inputs(isa: str) -> None:
    """inf, NaN, FLT_MAX and denormals raise no Python warning on any kind."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for spec, _ in REFS.values():
            kernels.activation(X, spec, isa=isa)
        for kind in ("softmax", "log_softmax", "glu"):
            kernels.activation(X[: X.size // 2 * 2].reshape(-1, 2), kind, isa=isa)


def test_add_refuses_row_kinds() -> None:
    a = np.ones((2, 4), np.float32)
    for kind in ("softmax", "log_softmax", "glu"):
        with pytest.raises(ValueError, match="over the last axis"):
            kernels.add([a, a], activation=kind)


def test_glu_rejects_odd_axis() -> None:
    with pytest.raises(ValueError, match="even last axis"):
        kernels.activation(np.ones((2, 3), np.float32), "glu")


@pytest.mark.parametrize("isa", ISAS)
def test_fused_activation_uses_vector_path(isa: str) -> None:
    """A conv with a fused tanh gives the standalone activation's bits on the same ISA."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 12, 12, 3)).astype(np.float32)
    k = rng.standard_normal((3, 3, 3, 20)).astype(np.float32)
    for spec, _ in REFS.values():
        plain = kernels.conv2d(x, k, isa=isa, num_threads=1)
        fused = kernels.conv2d(x, k, activation=spec, isa=isa, num_threads=1)
        np.testing.assert_array_equal(fused.view(np.uint32),
                                      kernels.activation(plain, spec, isa=isa, num_threads=1).view(np.uint32))


@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
@pytest.mark.parametrize("batch", [1, 5])
def test_row_kinds_fused_into_dense_and_conv(kind: str, batch: int) -> None:
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 40)).astype(np.float32)
    k = (rng.standard_normal((40, 37)) * 3).astype(np.float32)
    pre = x.astype(np.float64) @ k.astype(np.float64)
    got = kernels.dense(x, k, activation=kind, num_threads=1)
    # the float32 pre-activation is off by ~1e-6 relative: compare through it
    ref = _ref_rows(kernels.dense(x, k, num_threads=1).astype(np.float64), kind == "log_softmax")
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-7)
    assert np.abs(got - _ref_rows(pre, kind == "log_softmax")).max() < 1e-4
    img = rng.standard_normal((batch, 6, 6, 3)).astype(np.float32)
    kc = rng.standard_normal((3, 3, 3, 21)).astype(np.float32)
    plain = kernels.conv2d(img, kc, num_threads=1)
    fused = kernels.conv2d(img, kc, activation=kind, num_threads=1)
    np.testing.assert_allclose(fused, _ref_rows(plain.astype(np.float64), kind == "log_softmax"), rtol=2e-6,
                               atol=1e-7)


@pytest.mark.parametrize("config,expected", [
    ("celu", {"name": "celu", "alpha": 1.0}),
    ("hard_shrink", {"name": "hard_shrink", "threshold": 0.5}),
    ("soft_shrink", {"name": "soft_shrink", "threshold": 0.5}),
    ("squareplus", {"name": "squareplus", "b": 4.0}),
    ("sparse_plus", {"name": "sparse_plus"}),
    ("tanh_shrink", {"name": "tanh_shrink"}),
    ("hard_tanh", {"name": "hard_tanh"}),
    ("log_sigmoid", {"name": "log_sigmoid"}),
    ("sparse_sigmoid", {"name": "sparse_sigmoid"}),
    ("log_softmax", {"name": "log_softmax"}),
    ("glu", {"name": "glu"}),
    ("silu", {"name": "swish"}),
    ("hard_swish", {"name": "hard_silu"}),
    ({"module": "keras.activations", "class_name": "function", "config": "celu", "registered_name": "celu"},
     {"name": "celu", "alpha": 1.0}),
    ({"module": "keras.activations", "class_name": "function", "config": "glu", "registered_name": "glu"},
     {"name": "glu"}),
])
def test_keras_activation_accepts_keras3_names(config: Any, expected: dict) -> None:
    from pyconvinfer.keras.layers import keras_activation
    assert keras_activation(config, 3) == expected


def test_keras_activation_refuses_clearly() -> None:
    from pyconvinfer.errors import ConversionError
    from pyconvinfer.keras.layers import keras_activation
    with pytest.raises(ConversionError, match="'threshold' cannot be converted.*needs threshold"):
        keras_activation("threshold", 3)
    with pytest.raises(ConversionError, match="unsupported activation 'softermax'.*supported: celu"):
        keras_activation("softermax", 3)


def ref_sparsemax_keras(x: np.ndarray) -> np.ndarray:
    """Keras 3's sparsemax, written from keras/src/backend/numpy/nn.py in float32: note the
    threshold sums the running sums over the support (where the paper takes the k-th one)."""
    z = -np.sort(-x, axis=-1)
    cum = np.cumsum(z, axis=-1, dtype=np.float32)
    r = np.arange(1, x.shape[-1] + 1, dtype=np.float32)
    support = z - (cum - np.float32(1)) / r > 0
    k = support.sum(-1, keepdims=True).astype(np.float32)
    tau = (np.where(support, cum, np.float32(0)).sum(-1, keepdims=True, dtype=np.float32) - np.float32(1)) / k
    return np.maximum(x - tau, 0).astype(np.float32)


@pytest.mark.parametrize("cols", [1, 4, 17, 300])
def test_sparsemax_is_keras3s(cols: int) -> None:
    x = np.random.default_rng(cols).standard_normal((5, cols)).astype(np.float32) * 2
    got = kernels.activation(x, "sparsemax")
    np.testing.assert_allclose(got, ref_sparsemax_keras(x), rtol=1e-5, atol=1e-5)
    assert np.array_equal(kernels.activation(x, "sparsemax", num_threads=3).view(np.uint32), got.view(np.uint32))


@pytest.mark.parametrize("spec,msg", [
    ("threshold", "needs threshold"),
    ({"name": "threshold", "threshold": 1.0}, "needs default_value"),
    ({"name": "celu", "alpha": 0.0}, "alpha must be > 0"),
    ({"name": "squareplus", "b": -1.0}, "b must be >= 0"),
    ({"name": "hard_shrink", "lambd": 1.0}, "unknown"),
    ({"name": "soft_shrink", "threshold": "x"}, "must be a number"),
    ({"name": "log_softmax", "axis": 1}, "only axis=-1"),
    ({"name": "tanh_shrink", "alpha": 1}, "takes no parameters"),
])
def test_bad_parameters_are_clear_errors(spec: Any, msg: str) -> None:
    from pyconvinfer import activations
    with pytest.raises(ValueError, match=msg):
        activations.encode(spec)


def test_encode_parameters() -> None:
    from pyconvinfer import activations as a
    assert a.encode({"name": "threshold", "threshold": 0.5, "default_value": -1})[1] == (0.5, -1.0, 0.0)
    assert a.encode("celu") == (a.KINDS["celu"], (1.0, 0.0, 0.0))
    assert a.encode("squareplus")[1] == (4.0, 0.0, 0.0)
    assert a.encode(("soft_shrink", {"threshold": 0.25}))[1] == (0.25, 0.0, 0.0)
    assert a.normalize({"name": "glu", "axis": -1}) == {"name": "glu"}


def error_table() -> str:
    """The measured-error table of docs/ACTIVATIONS.md (python tests/test_activations.py)."""
    lines = ["| case | " + " | ".join(ISAS) + " |", "|---|" + "---:|" * len(ISAS)]
    for name in REFS:
        lines.append(f"| {name} | " + " | ".join(f"{measure(name, isa)[0]:.2e}" for isa in ISAS) + " |")
    for kind in ("softmax", "log_softmax"):
        errs = []
        for isa in ISAS:
            worst = 0.0
            for cols in (1, 3, 16, 17, 100, 1000):
                rng = np.random.default_rng(cols)
                x = (rng.standard_normal((37, cols)) * np.array([[0.1], [3], [30]] * 12 + [[100]])).astype(np.float32)
                x[0, 0] = 80.0
                ref = _ref_rows(x.astype(np.float64), kind == "log_softmax")
                got = kernels.activation(x, kind, isa=isa)
                worst = max(worst, float((np.abs(got - ref) / np.maximum(np.abs(ref), float(F32.tiny))).max()))
            errs.append(worst)
        lines.append(f"| {kind} (rows of 1..1000 logits) | " + " | ".join(f"{e:.2e}" for e in errs) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(f"inputs: {X.size} float32 values")
    print(error_table())


@pytest.mark.parametrize("isa", ISAS)
def test_swish_fast_path_gives_the_general_paths_bits(isa: str) -> None:
    """Vectors whose lanes all lie in [-80, 80] take a shorter swish (no clamp, no
    2^64 shift: act_vec.h); with one lane in 4 out of range (1e3) every vector takes
    the general path. The lanes both runs share must match bit for bit."""
    x = np.linspace(-80.0, 80.0, 16 * 4096, dtype=np.float32)
    x[:64] = np.float32(80.0)  # the bound itself
    fast = kernels.activation(x, "swish", isa=isa, num_threads=1)
    mixed = x.copy()
    mixed[::4] = np.float32(1e3)
    general = kernels.activation(mixed, "swish", isa=isa, num_threads=1)
    keep = np.arange(x.size) % 4 != 0
    np.testing.assert_array_equal(fast[keep].view(np.uint32), general[keep].view(np.uint32))
    assert (general[::4] == np.float32(1e3)).all()
