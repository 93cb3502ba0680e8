"""Shared test helpers: tolerances and independent float64 NumPy references.

Nothing in this module imports pyconvinfer. The padding arithmetic, output
sizes and activation formulas are written here from Keras's (TensorFlow's)
documented behaviour, so a mistake in ``pyconvinfer.shapes`` or
``pyconvinfer.activations`` cannot hide inside the reference.

Tolerances (one definition for every kernel test)
-------------------------------------------------
* float32 kernel vs float64 reference: ``|got - ref| <= RTOL * |ref| + atol`` with
  ``RTOL = 1e-5`` and ``atol = ATOL_FACTOR * sqrt(L) * scale`` where ``L`` is the
  reduction length of one output (taps x input channels of a conv, K of a dense,
  cells of a pooling window, 1 for element-wise ops) and ``scale = max|ref|``, or
  the expected output size ``sqrt(L) * rms(x) * rms(w)`` (``typical_magnitude``) when
  that is larger: a case whose few outputs happen to cancel must not shrink the
  tolerance below the rounding error of its large terms.
  Rationale: the rounding error of a float32 sum of ``L`` products grows like
  ``sqrt(L) * eps32 * magnitude`` (random-walk accumulation, any blocking / FMA
  order), with ``eps32 = 6e-8``; ``ATOL_FACTOR = 1e-6`` is ~17 ulps of headroom.
* fused activation f: the float32 pre-activation may be off by
  ``d = RTOL * |pre| + atol(pre)``; the result must then lie (within the tolerance
  above) between the smallest and largest of f(pre - d), f(pre), f(pre + d). This
  carries the error through steep activations (exponential) and accepts either side
  of a discontinuity (ReLU with a threshold) when the pre-activation rounds onto it.
  Softmax (not element-wise): ``atol = max(atol(ref), 2 * atol(pre))``.
* element-wise ops checked over wide input ranges (activations): the same RTOL, and
  ``atol = ATOL_FACTOR * max(1, |x|)`` per element (``assert_close_elementwise``), so
  a large value elsewhere in the array does not loosen the check of a small one.
* thread-count invariance: bitwise equality (compared as uint32 bit patterns, so
  -0.0 vs +0.0 and NaN payloads count as differences).
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Callable, Union

import numpy as np

RTOL = 1e-5
ATOL_FACTOR = 1e-6

Pads = tuple[tuple[int, int], tuple[int, int]]
PaddingArg = Union[str, Pads]
ActSpec = Union[str, tuple, dict, None]


# --------------------------------------------------------------------------- tolerances


def typical_magnitude(x: np.ndarray, w: np.ndarray, reduction: int) -> float:
    """Expected |output| of a sum of `reduction` products of random-sign x and w values."""
    def rms(a: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(np.asarray(a, dtype=np.float64))))) if a.size else 0.0
    return math.sqrt(max(int(reduction), 1)) * rms(x) * rms(w)


def atol_for(ref: np.ndarray, reduction: int, scale: float = 0.0) -> float:
    """ATOL_FACTOR * sqrt(reduction) * max(max|ref| (finite values), scale), as described above."""
    finite = np.abs(ref[np.isfinite(ref)])
    top = float(finite.max()) if finite.size else 0.0
    return ATOL_FACTOR * math.sqrt(max(int(reduction), 1)) * max(top, scale, 1e-30)


def assert_close(got: np.ndarray, ref: np.ndarray, *, reduction: int, scale: float = 0.0,
                 atol: float | None = None, err_msg: str = "") -> None:
    """float32 result `got` vs float64 reference `ref` within RTOL and atol_for(ref, reduction, scale)."""
    assert isinstance(got, np.ndarray), f"{err_msg}: result is {type(got).__name__}, not an ndarray"
    assert got.dtype == np.float32, f"{err_msg}: result dtype {got.dtype}, expected float32"
    assert got.shape == ref.shape, f"{err_msg}: shape {got.shape}, expected {ref.shape}"
    atol = atol_for(ref, reduction, scale) if atol is None else atol
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=RTOL, atol=atol,
                               err_msg=f"{err_msg} (rtol={RTOL}, atol={atol:.3g}, reduction={reduction})")


def assert_bitwise_equal(a: np.ndarray, b: np.ndarray, err_msg: str = "") -> None:
    """Exact equality of two float32 arrays, bit pattern by bit pattern."""
    assert a.dtype == b.dtype == np.float32, f"{err_msg}: dtypes {a.dtype}, {b.dtype}"
    assert a.shape == b.shape, f"{err_msg}: shapes {a.shape} vs {b.shape}"
    bits_a, bits_b = a.view(np.uint32), b.view(np.uint32)
    if not np.array_equal(bits_a, bits_b):
        diff = np.argwhere(bits_a != bits_b)
        first = tuple(int(i) for i in diff[0])
        raise AssertionError(f"{err_msg}: {len(diff)} elements differ bitwise; first at {first}: "
                             f"{a[first]!r} vs {b[first]!r}")


def assert_within(got: np.ndarray, ref: np.ndarray, tol: np.ndarray, err_msg: str = "") -> None:
    """|got - ref| <= tol element by element (tol an array: a bound per element)."""
    err = np.abs(np.asarray(got, np.float64) - ref)
    bad = ~(err <= tol)
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), err.shape)
        first = tuple(int(v) for v in i)
        raise AssertionError(f"{err_msg}: {int(bad.sum())} of {err.size} outside the bound; first at {first}: "
                             f"{got[i]!r} vs {ref[i]!r} (bound {tol[i]!r})")


def assert_close_elementwise(got: np.ndarray, ref: np.ndarray, x: np.ndarray, err_msg: str = "") -> None:
    """Element-wise variant of the shared tolerance (reduction length 1): the absolute part
    scales with each element's own input, ATOL_FACTOR * max(1, |x|), so that large values
    elsewhere in the array do not loosen the check of small ones."""
    assert got.dtype == np.float32 and got.shape == ref.shape
    atol = ATOL_FACTOR * np.maximum(1.0, np.abs(x.astype(np.float64)))
    err = np.abs(got.astype(np.float64) - ref)
    bad = ~(err <= RTOL * np.abs(ref) + atol) & ~(np.isinf(ref) & (got == ref))
    if bad.any():
        i = np.argwhere(bad)[0]
        t = tuple(int(v) for v in i)
        raise AssertionError(f"{err_msg}: {int(bad.sum())} elements off; first x={x[t]!r}: got {got[t]!r}, "
                             f"expected {ref[t]!r}")


# --------------------------------------------------------------------------- data


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded from `key` (stable across runs and processes, unlike hash())."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def uniform(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return (rng.uniform(-1.0, 1.0, size=shape) * scale).astype(np.float32)


# --------------------------------------------------------------------------- padding rules


def tf_same_pads(n: int, k_eff: int, s: int) -> tuple[int, int, int]:
    """(out, before, after) of TensorFlow/Keras 'same' along one axis.

    Written in TF's own form (nn_ops.cc): pad_along = max(K - s, 0) when n % s == 0,
    else max(K - n % s, 0); the odd cell goes after (bottom/right)."""
    out = (n + s - 1) // s
    along = max(k_eff - s, 0) if n % s == 0 else max(k_eff - n % s, 0)
    return out, along // 2, along - along // 2


def conv_geometry(n: int, k: int, s: int, d: int, padding: str | tuple[int, int]) -> tuple[int, int, int]:
    """(out, pad_before, pad_after) of Keras Conv2D along one axis; out <= 0 means invalid."""
    k_eff = d * (k - 1) + 1
    if padding == "same":
        out, before, after = tf_same_pads(n, k_eff, s)
        assert (n + before + after - k_eff) // s + 1 == out
        return out, before, after
    before, after = (0, 0) if padding == "valid" else padding
    span = n + before + after - k_eff
    return (span // s + 1 if span >= 0 else 0), before, after


def split_padding(padding: PaddingArg) -> tuple[Any, Any]:
    if isinstance(padding, str):
        return padding, padding
    return tuple(padding[0]), tuple(padding[1])


def tconv_geometry(n: int, k: int, s: int, padding: str, output_padding: int | None) -> tuple[int, int]:
    """(out, pad) of Keras Conv2DTranspose along one axis, for y[i*s + t - pad] += x[i] * k[t].

    Output size (keras conv_utils.deconv_output_length): valid (n-1)s + max(k, s), or
    (n-1)s + k + op; same n*s, or (n-1)s + k%2 + op. Pad: valid 0; same without
    output_padding the forward conv's TF 'same' before-pad for an input of n*s:
    max(k - s, 0) // 2; with output_padding Keras's JAX-backend rule
    P = k + k%2 - 2 + op, left = min(P//2 + P%2, k-1), pad = k-1-left."""
    if padding == "valid":
        out = (n - 1) * s + (max(k, s) if output_padding is None else k + output_padding)
        return out, 0
    assert padding == "same", padding
    if output_padding is None:
        return n * s, max(k - s, 0) // 2
    total = k + k % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, k - 1)
    return (n - 1) * s + k % 2 + output_padding, k - 1 - left


# --------------------------------------------------------------------------- references (float64)


def _pair(v: int | tuple[int, int] | None) -> tuple[Any, Any]:
    return (v, v) if v is None or isinstance(v, (int, np.integer)) else (v[0], v[1])


def ref_conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *,
               strides: int | tuple[int, int] = 1, dilation: int | tuple[int, int] = 1,
               padding: PaddingArg = "valid", groups: int = 1) -> np.ndarray:
    """Keras Conv2D (no activation) in float64: explicit zero padding, then a loop over
    taps, each a tensordot over the group's input channels."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    n, h, w, c = x.shape
    kh, kw, cin_g, cout = kernel.shape
    assert cin_g * groups == c and cout % groups == 0
    sh, sw = _pair(strides)
    dh, dw = _pair(dilation)
    ph, pw = split_padding(padding)
    oh, pt, pb = conv_geometry(h, kh, sh, dh, ph)
    ow, pl, pr = conv_geometry(w, kw, sw, dw, pw)
    assert oh > 0 and ow > 0, "kernel larger than the padded input"
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    xg = xp.reshape(n, h + pt + pb, w + pl + pr, groups, cin_g)
    kg = kernel.reshape(kh, kw, cin_g, groups, cout // groups)
    y = np.zeros((n, oh, ow, groups, cout // groups))
    for i in range(kh):
        for j in range(kw):
            patch = xg[:, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw]
            y += np.einsum("nhwgc,cgo->nhwgo", patch, kg[i, j])
    y = y.reshape(n, oh, ow, cout)
    return y + bias.astype(np.float64) if bias is not None else y


def ref_depthwise_conv2d(x: np.ndarray, dkernel: np.ndarray, bias: np.ndarray | None = None, *,
                         strides: int | tuple[int, int] = 1, dilation: int | tuple[int, int] = 1,
                         padding: PaddingArg = "valid") -> np.ndarray:
    """Keras DepthwiseConv2D, kernel (kh, kw, cin, dm): output channel c*dm + m is input
    channel c convolved with kernel[:, :, c, m]. Per-channel loop, independent of the
    grouped-conv reference."""
    x = np.asarray(x, dtype=np.float64)
    kh, kw, cin, dm = dkernel.shape
    outs = []
    for c in range(cin):
        for m in range(dm):
            k1 = np.asarray(dkernel[:, :, c: c + 1, m: m + 1], dtype=np.float64)
            outs.append(ref_conv2d(x[..., c: c + 1], k1, None, strides=strides, dilation=dilation,
                                   padding=padding)[..., 0])
    y = np.stack(outs, axis=-1)
    return y + bias.astype(np.float64) if bias is not None else y


def ref_conv2d_transpose(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *,
                         strides: int | tuple[int, int] = 1, padding: str = "valid",
                         output_padding: int | tuple[int, int] | None = None) -> np.ndarray:
    """Keras Conv2DTranspose by its scatter definition:
    y[n, i*sh + a - pt, j*sw + b - pl, o] += x[n, i, j, c] * kernel[a, b, o, c]."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    n, h, w, c = x.shape
    kh, kw, cout, cin = kernel.shape
    assert cin == c
    sh, sw = _pair(strides)
    oph, opw = _pair(output_padding)
    oh, pt = tconv_geometry(h, kh, sh, padding, oph)
    ow, pl = tconv_geometry(w, kw, sw, padding, opw)
    # full[t] collects every contribution to position t = i*s + a (before cropping by pad).
    fh, fw = (h - 1) * sh + kh, (w - 1) * sw + kw
    full = np.zeros((n, fh, fw, cout))
    for a in range(kh):
        for b in range(kw):
            contrib = np.einsum("nhwc,oc->nhwo", x, kernel[a, b])
            full[:, a: a + (h - 1) * sh + 1: sh, b: b + (w - 1) * sw + 1: sw] += contrib
    y = np.zeros((n, oh, ow, cout))
    # y[o] = full[o + pad] where that exists.
    h0, h1 = max(0, -pt), min(oh, fh - pt)
    w0, w1 = max(0, -pl), min(ow, fw - pl)
    if h1 > h0 and w1 > w0:
        y[:, h0:h1, w0:w1] = full[:, h0 + pt: h1 + pt, w0 + pl: w1 + pl]
    return y + bias.astype(np.float64) if bias is not None else y


def ref_conv2d_transpose_dilated(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *,
                                 strides: int | tuple[int, int] = 1, padding: str = "valid",
                                 output_padding: int | tuple[int, int] | None = None) -> np.ndarray:
    """Second, structurally different Conv2DTranspose reference (the algorithm of
    Keras's JAX backend): insert s-1 zeros between inputs, pad (left, right), and run
    a stride-1 valid correlation with the spatially flipped kernel (kh, kw, cin, cout).
    Used only to cross-check `ref_conv2d_transpose` (and thus `tconv_geometry`)."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    n, h, w, c = x.shape
    kh, kw, cout, _ = kernel.shape
    sh, sw = _pair(strides)
    oph, opw = _pair(output_padding)

    def lr(k: int, s: int, op: int | None) -> tuple[int, int]:
        if padding == "valid":
            op = max(k, s) - k if op is None else op
            return k - 1, k - 1 + op
        total = s + k - 2 if op is None else k + k % 2 - 2 + op
        left = min(total // 2 + total % 2, k - 1)
        return left, total - left

    (lt, rb), (ll, rr) = lr(kh, sh, oph), lr(kw, sw, opw)
    xd = np.zeros((n, (h - 1) * sh + 1, (w - 1) * sw + 1, c))
    xd[:, ::sh, ::sw] = x
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)
    return ref_conv2d(xd, flipped, bias, padding=((lt, rb), (ll, rr)))


def ref_pool2d(x: np.ndarray, pool_size: int | tuple[int, int], strides: int | tuple[int, int] | None,
               padding: str, kind: str) -> np.ndarray:
    """Keras MaxPooling2D / AveragePooling2D. 'same': padded cells are NaN here and are
    ignored (never win a max; an average divides by the count of real cells)."""
    x = np.asarray(x, dtype=np.float64)
    n, h, w, c = x.shape
    kh, kw = _pair(pool_size)
    sh, sw = _pair(pool_size if strides is None else strides)
    oh, pt, pb = conv_geometry(h, kh, sh, 1, padding)
    ow, pl, pr = conv_geometry(w, kw, sw, 1, padding)
    assert oh > 0 and ow > 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=np.nan)
    windows = np.empty((n, oh, ow, c, kh * kw))
    for i in range(kh):
        for j in range(kw):
            windows[..., i * kw + j] = xp[:, i: i + (oh - 1) * sh + 1: sh, j: j + (ow - 1) * sw + 1: sw]
    return np.nanmax(windows, axis=-1) if kind == "max" else np.nanmean(windows, axis=-1)


def ref_dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    y = np.asarray(x, dtype=np.float64) @ np.asarray(kernel, dtype=np.float64)
    return y + bias.astype(np.float64) if bias is not None else y


# --------------------------------------------------------------------------- activations

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _relu(x: np.ndarray, max_value: float | None = None, negative_slope: float = 0.0,
          threshold: float = 0.0) -> np.ndarray:
    """Keras relu / ReLU layer: (x if x > threshold else 0), clipped to [0, max_value] when
    max_value is given, plus negative_slope * min(x - threshold, 0)."""
    y = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    return y + negative_slope * np.minimum(x - threshold, 0.0)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _gelu(x: np.ndarray, approximate: bool = False) -> np.ndarray:
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


REF_ACTIVATIONS: dict[str, Callable[..., np.ndarray]] = {
    "linear": lambda x: x,
    "relu": _relu,
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "leaky_relu": lambda x, alpha=0.2: np.where(x >= 0, x, alpha * x),
    "elu": lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "sigmoid": _sigmoid,
    "hard_sigmoid": lambda x, slope=1.0 / 6.0, offset=0.5: np.clip(slope * x + offset, 0.0, 1.0),
    "tanh": np.tanh,
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "swish": lambda x: x * _sigmoid(x),
    "silu": lambda x: x * _sigmoid(x),
    "gelu": _gelu,
    "exponential": np.exp,
    "softmax": _softmax,
    "hard_silu": lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "mish": lambda x: x * np.tanh(_softplus(x)),
}


def parse_spec(spec: ActSpec) -> tuple[str, dict[str, Any]]:
    if spec is None:
        return "linear", {}
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict):
        params = dict(spec)
        return params.pop("name"), params
    return spec[0], dict(spec[1])


def ref_activation(x: np.ndarray, spec: ActSpec) -> np.ndarray:
    """float64 Keras activation (softmax over the last axis)."""
    name, params = parse_spec(spec)
    with np.errstate(over="ignore"):
        return REF_ACTIVATIONS[name](np.asarray(x, dtype=np.float64), **params)


def assert_close_activated(got: np.ndarray, pre: np.ndarray, spec: ActSpec, *, reduction: int,
                           scale: float = 0.0, err_msg: str = "") -> None:
    """`got` = f(float64 pre-activation reference `pre`), allowing for the float32 error of
    the pre-activation itself (see the module docstring); `scale` as in atol_for, for `pre`."""
    name = parse_spec(spec)[0]
    ref = ref_activation(pre, spec)
    if name == "linear":
        assert_close(got, ref, reduction=reduction, scale=scale, err_msg=err_msg)
        return
    if name == "softmax":
        atol = max(atol_for(ref, reduction), 2.0 * atol_for(pre, reduction, scale))
        assert_close(got, ref, reduction=reduction, atol=atol, err_msg=err_msg)
        return
    assert got.dtype == np.float32, f"{err_msg}: result dtype {got.dtype}, expected float32"
    assert got.shape == ref.shape, f"{err_msg}: shape {got.shape}, expected {ref.shape}"
    d = RTOL * np.abs(pre) + atol_for(pre, reduction, scale)
    lo_end, hi_end = ref_activation(pre - d, spec), ref_activation(pre + d, spec)
    lo = np.minimum(np.minimum(lo_end, hi_end), ref)
    hi = np.maximum(np.maximum(lo_end, hi_end), ref)
    g = got.astype(np.float64)
    outside = np.maximum(lo - g, g - hi)
    bad = ~(outside <= RTOL * np.abs(ref) + atol_for(ref, reduction))
    if bad.any():
        t = tuple(int(v) for v in np.argwhere(bad)[0])
        raise AssertionError(f"{err_msg}: {int(bad.sum())} of {bad.size} elements outside "
                             f"f([pre - d, pre + d]) + tolerance; first at {t}: got {got[t]!r}, expected "
                             f"{ref[t]!r} (pre-activation {pre[t]!r}, allowed [{lo[t]!r}, {hi[t]!r}])")


# --------------------------------------------------------------------------- bounds (C harness)


def close_bounds(ref: np.ndarray, *, reduction: int, scale: float = 0.0,
                 atol: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi] per element that assert_close(got, ref, ...) accepts (non-finite refs: exact;
    a NaN bound means the result must be NaN). tools/make_kernel_cases.py writes these for
    tests/c/kernel_harness.c, so the C harness applies the tests' own tolerances."""
    ref = np.asarray(ref, dtype=np.float64)
    atol = atol_for(ref, reduction, scale) if atol is None else atol
    tol = RTOL * np.abs(ref) + atol
    finite = np.isfinite(ref)
    return np.where(finite, ref - tol, ref), np.where(finite, ref + tol, ref)


def activated_bounds(pre: np.ndarray, spec: ActSpec, *, reduction: int,
                     scale: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi] per element that assert_close_activated(got, pre, spec, ...) accepts."""
    name = parse_spec(spec)[0]
    ref = ref_activation(pre, spec)
    if name == "linear":
        return close_bounds(ref, reduction=reduction, scale=scale)
    if name == "softmax":
        atol = max(atol_for(ref, reduction), 2.0 * atol_for(pre, reduction, scale))
        return close_bounds(ref, reduction=reduction, atol=atol)
    d = RTOL * np.abs(pre) + atol_for(pre, reduction, scale)
    lo_end, hi_end = ref_activation(pre - d, spec), ref_activation(pre + d, spec)
    lo = np.minimum(np.minimum(lo_end, hi_end), ref)
    hi = np.maximum(np.maximum(lo_end, hi_end), ref)
    t = RTOL * np.abs(ref) + atol_for(ref, reduction)
    return lo - t, hi + t


def elementwise_bounds(ref: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi] per element that assert_close_elementwise(got, ref, x) accepts."""
    ref = np.asarray(ref, dtype=np.float64)
    tol = RTOL * np.abs(ref) + ATOL_FACTOR * np.maximum(1.0, np.abs(x.astype(np.float64)))
    finite = np.isfinite(ref)
    return np.where(finite, ref - tol, ref), np.where(finite, ref + tol, ref)


# --------------------------------------------------------------------------- subprocesses


def child_env(**extra: str) -> dict:
    """Environment for a child Python that must import the very pyconvinfer these tests
    import (the installed one in CI, the in-place build in a checkout). Run the child with
    cwd outside the source tree: `python -m` puts the cwd first on sys.path, and the tree's
    pyconvinfer/ has no compiled extension after a plain clone."""
    import os
    from pathlib import Path

    import pyconvinfer

    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = str(Path(pyconvinfer.__file__).resolve().parents[1])
    return env
