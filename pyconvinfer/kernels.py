"""The C kernels as NumPy functions (float32, NHWC).

Each call validates its arguments, packs weights if needed, and runs one C
step with the GIL released. Models do not come through here: a prepared Model
runs all its layers in one C call (see runtime.py); these functions serve
tests, benchmarks and users who want a single op.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _kernels, packing
from . import activations as acts
from .shapes import conv_out_and_pads, pool_out_and_pads, tconv_out_and_pad

OP = {
    "conv2d": 1, "conv2d_transpose": 2, "max_pool2d": 3, "avg_pool2d": 4, "global_avg_pool": 5,
    "global_max_pool": 6, "dense": 7, "zero_pad2d": 8, "upsample_nearest": 9, "add": 10,
    "concat": 11, "scale_shift": 12, "activation": 13, "copy": 14, "conv2d_winograd": 15,
}
ALGORITHMS = ("direct", "winograd2", "winograd4")
ISAS = ("generic", "avx2", "avx512")


def resolve_threads(num_threads: int | None) -> int:
    if num_threads is None:
        return _kernels.default_threads()
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)):
        raise TypeError(f"num_threads must be an int, got {type(num_threads).__name__}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    return int(num_threads)


def resolve_isa(isa: str | None) -> str:
    if isa is None:
        return "avx512"
    if isa not in ISAS:
        raise ValueError(f"isa must be one of {ISAS}, got {isa!r}")
    return isa


def _array(x: object, name: str, ndim: int | Sequence[int]) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"{name} must be float32, got {x.dtype}")
    dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {x.shape}")
    if not x.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use numpy.ascontiguousarray)")
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    return x


def _pair(v: int | Sequence[int], name: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != 2 or any(not isinstance(i, (int, np.integer)) or i < 1 for i in t):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {v!r}")
    return int(t[0]), int(t[1])


def _padding(padding: object) -> tuple[object, object]:
    if padding in ("valid", "same"):
        return padding, padding
    try:
        (t, b), (lft, r) = padding  # type: ignore[misc]
    except (TypeError, ValueError):
        msg = f"padding must be 'valid', 'same' or ((top, bottom), (left, right)), got {padding!r}"
        raise ValueError(msg) from None
    if min(t, b, lft, r) < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return (int(t), int(b)), (int(lft), int(r))


def _run(op: str, ints: Sequence[int], inputs: list[np.ndarray], out: np.ndarray, *, w=None, b=None,
         w2=None, activation: acts.ActivationSpec = None, rows: int = 0, count: int = 0,
         cols: Sequence[int] = (), num_threads: int | None = None, isa: str | None = None, algo: int = 0,
         scratch: np.ndarray | None = None) -> np.ndarray:
    kind, params = acts.encode(activation)
    regions = [*inputs, out] + [a for a in (w, b, w2, scratch) if a is not None]
    plan = _kernels.Plan(regions, [a is out or a is scratch for a in regions])
    plan.add(OP[op], list(ints), inputs, out, w, b, w2, kind, params, rows, count, list(cols), algo, scratch)
    plan.run(resolve_threads(num_threads), resolve_isa(isa))
    return out


def _bias(bias: np.ndarray | None, n: int) -> np.ndarray | None:
    if bias is None:
        return None
    bias = _array(bias, "bias", 1)
    if bias.shape[0] != n:
        raise ValueError(f"bias has {bias.shape[0]} values, expected {n} (one per output channel)")
    return bias


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *, strides=1, dilation=1,
           padding="valid", groups: int = 1, activation: acts.ActivationSpec = None,
           num_threads: int | None = None, isa: str | None = None,
           packed: np.ndarray | None = None, algorithm: str = "direct") -> np.ndarray:
    """Keras Conv2D: x (N, H, W, C), kernel (kh, kw, C / groups, cout).

    Depthwise convolution is groups == C with kernel (kh, kw, 1, C * multiplier).
    algorithm: "direct", or "winograd2" / "winograd4" (F(2x2,3x3) / F(4x4,3x3);
    3x3 kernels, stride 1, dilation 1, one group only)."""
    x = _array(x, "x", 4)
    kernel = _array(kernel, "kernel", 4)
    n, h, w, c = x.shape
    kh, kw, cin_g, cout = kernel.shape
    if not isinstance(groups, (int, np.integer)) or groups < 1 or c % groups or cout % groups:
        raise ValueError(f"groups={groups} must divide the input channels ({c}) and the filters ({cout})")
    if cin_g * groups != c:
        raise ValueError(f"kernel expects {cin_g * groups} input channels ({cin_g} x {groups} groups), x has {c}")
    sh, sw = _pair(strides, "strides")
    dh, dw = _pair(dilation, "dilation")
    ph, pw = _padding(padding)
    oh, pt, _ = conv_out_and_pads(h, kh, sh, dh, ph)
    ow, pl, _ = conv_out_and_pads(w, kw, sw, dw, pw)
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    ints = [n, h, w, c, oh, ow, cout, kh, kw, sh, sw, dh, dw, pt, pl, groups]
    y = np.empty((n, oh, ow, cout), dtype=np.float32)
    if algorithm != "direct":
        m = int(algorithm[-1])
        if (kh, kw, sh, sw, dh, dw, groups) != (3, 3, 1, 1, 1, 1, 1):
            raise ValueError("Winograd needs a 3x3 kernel, stride 1, dilation 1 and one group")
        if packed is None:
            packed = packing.pack_winograd(kernel, m)
        threads = resolve_threads(num_threads)
        scratch = np.empty(_kernels.winograd_scratch_floats(ints, m) * threads, dtype=np.float32)
        return _run("conv2d_winograd", ints, [x], y, w=packed, b=_bias(bias, cout), activation=activation,
                    num_threads=threads, isa=isa, algo=m, scratch=scratch)
    if packed is None:
        packed = packing.pack_conv2d(kernel, groups)
    return _run("conv2d", ints, [x], y,
                w=packed, b=_bias(bias, cout), activation=activation, num_threads=num_threads, isa=isa)


def conv2d_transpose(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *, strides=1,
                     padding: str = "valid", output_padding=None, activation: acts.ActivationSpec = None,
                     num_threads: int | None = None, isa: str | None = None) -> np.ndarray:
    """Keras Conv2DTranspose: x (N, H, W, C), kernel (kh, kw, cout, C)."""
    x = _array(x, "x", 4)
    kernel = _array(kernel, "kernel", 4)
    n, h, w, c = x.shape
    kh, kw, cout, cin = kernel.shape
    if cin != c:
        raise ValueError(f"kernel expects {cin} input channels, x has {c}")
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    sh, sw = _pair(strides, "strides")
    oph = opw = None
    if output_padding is not None:
        ops = (output_padding,) * 2 if isinstance(output_padding, (int, np.integer)) else tuple(output_padding)
        if len(ops) != 2 or not all(isinstance(v, (int, np.integer)) and 0 <= v < s_ for v, s_ in zip(ops, (sh, sw))):
            raise ValueError(f"output_padding must be an int or a pair, each >= 0 and smaller than the stride "
                             f"{(sh, sw)}; got {output_padding!r}")
        oph, opw = int(ops[0]), int(ops[1])
    oh, pt = tconv_out_and_pad(h, kh, sh, padding, oph)
    ow, pl = tconv_out_and_pad(w, kw, sw, padding, opw)
    packed = packing.pack_conv2d_transpose(kernel, (sh, sw))
    if packed.size == 0:
        packed = np.zeros(1, dtype=np.float32)
    y = np.empty((n, oh, ow, cout), dtype=np.float32)
    return _run("conv2d_transpose", [n, h, w, c, oh, ow, cout, kh, kw, sh, sw, pt, pl], [x], y, w=packed,
                b=_bias(bias, cout), activation=activation, num_threads=num_threads, isa=isa)


def _pool(op: str, x: np.ndarray, pool_size, strides, padding: str, num_threads, isa) -> np.ndarray:
    x = _array(x, "x", 4)
    n, h, w, c = x.shape
    kh, kw = _pair(pool_size, "pool_size")
    sh, sw = _pair(pool_size if strides is None else strides, "strides")
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    oh, pt, _ = pool_out_and_pads(h, kh, sh, padding)
    ow, pl, _ = pool_out_and_pads(w, kw, sw, padding)
    y = np.empty((n, oh, ow, c), dtype=np.float32)
    return _run(op, [n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl], [x], y, num_threads=num_threads, isa=isa)


def max_pool2d(x, pool_size=2, strides=None, padding="valid", *, num_threads=None, isa=None) -> np.ndarray:
    return _pool("max_pool2d", x, pool_size, strides, padding, num_threads, isa)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid", *, num_threads=None, isa=None) -> np.ndarray:
    return _pool("avg_pool2d", x, pool_size, strides, padding, num_threads, isa)


def global_pool(x: np.ndarray, kind: str = "avg", *, num_threads=None) -> np.ndarray:
    """(N, H, W, C) -> (N, C): mean or max over H and W."""
    x = _array(x, "x", 4)
    if kind not in ("avg", "max"):
        raise ValueError(f"kind must be 'avg' or 'max', got {kind!r}")
    n, h, w, c = x.shape
    y = np.empty((n, c), dtype=np.float32)
    return _run("global_avg_pool" if kind == "avg" else "global_max_pool", [n, h * w, c], [x], y,
                num_threads=num_threads)


def dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *,
          activation: acts.ActivationSpec = None, num_threads=None, isa=None,
          packed: np.ndarray | None = None) -> np.ndarray:
    """Keras Dense on the last axis: x (..., in), kernel (in, units)."""
    x = _array(x, "x", (1, 2, 3, 4, 5))
    kernel = _array(kernel, "kernel", 2)
    k, units = kernel.shape
    if x.shape[-1] != k:
        raise ValueError(f"x has {x.shape[-1]} features on its last axis, kernel expects {k}")
    m = x.size // k
    if packed is None:
        packed = packing.pack_dense(kernel)
    y = np.empty(x.shape[:-1] + (units,), dtype=np.float32)
    return _run("dense", [m, k, units], [x], y, w=packed, b=_bias(bias, units), activation=activation,
                num_threads=num_threads, isa=isa)


def activation(x: np.ndarray, spec: acts.ActivationSpec, *, num_threads=None, isa=None) -> np.ndarray:
    """Any activation over the last axis (softmax, log_softmax: per row; glu
    halves it); returns a new array. `isa` forces an instruction-set path."""
    x = _array(x, "x", (1, 2, 3, 4, 5))
    if acts.shape_class(spec) == "halves":
        return glu(x, num_threads=num_threads, isa=isa)
    y = np.empty_like(x)
    cols = x.shape[-1]
    return _run("activation", [cols], [x], y, activation=spec, rows=x.size // cols, num_threads=num_threads,
                isa=isa)


def glu(x: np.ndarray, *, num_threads=None, isa=None) -> np.ndarray:
    """Keras glu over the last axis: a * sigmoid(b) where [a | b] = x; the last axis halves."""
    x = _array(x, "x", (1, 2, 3, 4, 5))
    if x.shape[-1] % 2:
        raise ValueError(f"glu needs an even last axis, got shape {x.shape}")
    y = np.empty(x.shape[:-1] + (x.shape[-1] // 2,), dtype=np.float32)
    return _kernels.glu_rows(x, y, resolve_threads(num_threads), resolve_isa(isa))


def zero_pad2d(x: np.ndarray, padding=((1, 1), (1, 1)), *, num_threads=None) -> np.ndarray:
    x = _array(x, "x", 4)
    (t, b), (lft, r) = _padding(padding) if not isinstance(padding, int) else ((padding,) * 2, (padding,) * 2)
    n, h, w, c = x.shape
    y = np.empty((n, h + t + b, w + lft + r, c), dtype=np.float32)
    return _run("zero_pad2d", [n, h, w, c, t, b, lft, r], [x], y, num_threads=num_threads)


def upsample_nearest2d(x: np.ndarray, size=2, *, num_threads=None) -> np.ndarray:
    x = _array(x, "x", 4)
    fh, fw = _pair(size, "size")
    n, h, w, c = x.shape
    y = np.empty((n, h * fh, w * fw, c), dtype=np.float32)
    return _run("upsample_nearest", [n, h, w, c, fh, fw], [x], y, num_threads=num_threads)


def add(xs: Sequence[np.ndarray], *, activation: acts.ActivationSpec = None, num_threads=None) -> np.ndarray:
    xs = [_array(x, f"xs[{i}]", (1, 2, 3, 4, 5)) for i, x in enumerate(xs)]
    if not xs:
        raise ValueError("add needs at least one input")
    for i, x in enumerate(xs[1:], 1):
        if x.shape != xs[0].shape:
            raise ValueError(f"add inputs must have one shape: xs[0] is {xs[0].shape}, xs[{i}] is {x.shape}")
    if acts.shape_class(activation) != "elementwise":  # the add step has no row length
        raise ValueError(f"add: activation {acts.normalize(activation)['name']!r} works over the last axis; "
                         "apply it with kernels.activation after the add")
    y = np.empty_like(xs[0])
    return _run("add", [], xs, y, count=y.size, activation=activation, num_threads=num_threads)


def concat(xs: Sequence[np.ndarray], *, num_threads=None) -> np.ndarray:
    """Concatenate along the last axis."""
    xs = [_array(x, f"xs[{i}]", (1, 2, 3, 4, 5)) for i, x in enumerate(xs)]
    if not xs:
        raise ValueError("concat needs at least one input")
    lead = xs[0].shape[:-1]
    for i, x in enumerate(xs):
        if x.shape[:-1] != lead:
            raise ValueError(f"concat inputs must match except on the last axis: {xs[0].shape} vs xs[{i}] {x.shape}")
    cols = [x.shape[-1] for x in xs]
    y = np.empty(lead + (sum(cols),), dtype=np.float32)
    rows = int(np.prod(lead, dtype=np.int64))
    return _run("concat", [], xs, y, rows=rows, cols=cols, num_threads=num_threads)


def scale_shift(x: np.ndarray, scale: np.ndarray, shift: np.ndarray, *,
                activation: acts.ActivationSpec = None, num_threads=None) -> np.ndarray:
    """Per-channel x * scale + shift on the last axis (batch normalisation at inference)."""
    x = _array(x, "x", (1, 2, 3, 4, 5))
    c = x.shape[-1]
    scale, shift = _array(scale, "scale", 1), _array(shift, "shift", 1)
    if scale.shape != (c,) or shift.shape != (c,):
        raise ValueError(f"scale and shift must have shape ({c},), got {scale.shape} and {shift.shape}")
    y = np.empty_like(x)
    return _run("scale_shift", [c], [x], y, w=scale, w2=shift, rows=x.size // c, activation=activation,
                num_threads=num_threads)
