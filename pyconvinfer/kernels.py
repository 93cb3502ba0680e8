"""The C kernels as NumPy functions (float32, NHWC).

Each call validates its arguments, packs weights if needed, and runs one C
step with the GIL released. The step's parameters come from the op's
description (pyconvinfer/ops), exactly as a model's do. Models do not come
through here: a prepared Model runs all its layers in one C call (see
runtime.py); these functions serve tests, benchmarks and users who want a
single op.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from . import _kernels, packing, quantize
from . import activations as acts
from .ops import REGISTRY, ConstShape
from .shapes import conv_out_and_pads, pool_out_and_pads, tconv_out_and_pad

ALGORITHMS = ("direct", "winograd2", "winograd4")
ISAS: tuple[str, ...] = _kernels.ISA_NAMES  # every path's name, from the C table (dispatch.c)


def resolve_threads(num_threads: int | None) -> int:
    if num_threads is None:
        return _env_threads() or _kernels.default_threads()
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)):
        raise TypeError(f"num_threads must be an int, got {type(num_threads).__name__}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    return int(num_threads)


def available_isas() -> tuple[str, ...]:
    """The instruction-set paths this CPU and build can run."""
    return _kernels.available_isas()


def _env_threads() -> int | None:
    """OMP_NUM_THREADS as OpenMP reads it ("4", or "4,2" for nested levels: the
    first); None when unset or not a positive number."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def resolve_isa(isa: str | None) -> str:
    """None: the fastest path this CPU has; a name forces that path, which must be available.

    Paths are capabilities, not a rank: asking for one this CPU (or build) lacks is an
    error, never a silent substitute."""
    if isa is None:
        return _kernels.cpu_isa()
    if not isinstance(isa, str) or isa not in ISAS:
        raise ValueError(f"isa must be one of {ISAS} or None, got {isa!r}")
    available = available_isas()
    if isa not in available:
        raise ValueError(f"isa {isa!r} is not available on this CPU and build; available: {', '.join(available)}")
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


def _stored_kernel(op: str, attrs: dict, weights: dict, dtype: str) -> dict:
    """weights with the packed float32 "kernel" stored as `dtype` (quantize.py),
    an int8 kernel's per-channel scales as "kernel_scale"."""
    if quantize.check_dtype(dtype) == "float32":
        return weights
    packed = weights["kernel"]
    channels = REGISTRY[op].channels
    segments = channels(attrs, packed.size) if channels and dtype == "int8" else None
    data, scale = quantize.store(packed, dtype, segments)
    return {**weights, "kernel": data, "kernel_scale": scale}


def _run(op: str, attrs: dict, inputs: list[np.ndarray], out: np.ndarray, *, weights: dict | None = None,
         activation: acts.ActivationSpec = None, num_threads: int | None = None, isa: str | None = None,
         batched: bool = True, constants: Sequence[int] = (), weights_dtype: str = "float32",
         int8_compute: bool = False) -> np.ndarray:
    """Run one op as a model step would: parameters from its OpDef, per-sample
    shapes (axis 0 is the batch unless batched=False); inputs listed in
    `constants` are unbatched constant operands. weights_dtype: the precision
    the packed kernel is stored in (quantized here; see quantize.py). int8_compute: run the
    op's int8 step (an int8 kernel; ValueError where the shape has none)."""
    if weights_dtype != "float32":
        weights = _stored_kernel(op, attrs, weights or {}, weights_dtype)
    opdef = REGISTRY[op]
    batch = next(a.shape[0] for i, a in enumerate(inputs) if i not in constants) if batched else 1

    def per_sample(i: int, a: np.ndarray) -> tuple:
        if i in constants:
            return ConstShape(a.shape)
        return tuple(a.shape[1:]) if batched else tuple(a.shape)

    in_shapes = [per_sample(i, a) for i, a in enumerate(inputs)]
    out_shape = tuple(out.shape[1:]) if batched else tuple(out.shape)
    st = opdef.step(attrs, in_shapes, out_shape, batch)
    if int8_compute:
        st8 = opdef.int8_step(attrs, st) if opdef.int8_step and weights_dtype == "int8" else None
        if st8 is None:
            raise ValueError(f"{op} has no int8 compute path for this shape and weights ({weights_dtype})")
        st = st8
    threads = resolve_threads(num_threads)
    need = st.scratch_shared + st.scratch_floats * threads
    scratch = np.empty(need, dtype=np.float32) if need else None
    w = [None if (weights or {}).get(r) is None else weights[r] for r in opdef.weights]
    wdt = [_kernels.DTYPE_IDS[weights_dtype] if r == "kernel" else 0 for r in opdef.weights]
    kind, params = acts.encode(activation)
    regions = [*inputs, out] + [a for a in (*w, scratch) if a is not None]
    plan = _kernels.Plan(regions, [a is out or a is scratch for a in regions])
    plan.add(opdef.c_id, [a.reshape(-1) for a in inputs], out.reshape(-1), weights=w, ints=list(st.ints),
             in_flags=list(st.in_flags), rows=st.rows, count=st.count, algo=st.algo, act_kind=kind,
             act_params=params, floats=list(st.floats), scratch=scratch, weight_dtypes=wdt)
    plan.run(threads, resolve_isa(isa))
    return out


def _conv_attrs(kernel_size, strides, dilation, padding, groups, cin, cout, algorithm="direct") -> dict:
    return {"kernel_size": list(kernel_size), "strides": list(strides), "dilation": list(dilation),
            "padding": padding if isinstance(padding, str) else [list(padding[0]), list(padding[1])],
            "groups": groups, "in_channels": cin, "filters": cout, "algorithm": algorithm}


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
           packed: np.ndarray | None = None, algorithm: str = "direct",
           weights_dtype: str = "float32", winograd_weights: str = "file", int8_compute: bool = False,
           input_range: tuple[float, float] | None = None) -> np.ndarray:
    """Keras Conv2D: x (N, H, W, C), kernel (kh, kw, C / groups, cout).

    Depthwise convolution is groups == C with kernel (kh, kw, 1, C * multiplier).
    algorithm: "direct", or "winograd2" / "winograd4" (F(2x2,3x3) / F(4x4,3x3);
    3x3 kernels, stride 1, dilation 1, one group only). weights_dtype:
    "float32", "float16", "bfloat16" or "int8" (per output channel): the packed
    kernel is stored so and widened by the C kernels (quantize.py).
    winograd_weights: "file" (U = G g G^T packed here, as the converter stores it)
    or "runtime_float16" / "runtime_float32" (the direct 3x3 kernel; the C step
    computes U into scratch in that precision). int8_compute (int8 weights, direct, one group,
    input channels a multiple of 4): compute in int8 on the input quantized to uint8 over its
    measured range, or over input_range (lo, hi) as a calibrated file would (src/conv2d_q8.c)."""
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
    y = np.empty((n, oh, ow, cout), dtype=np.float32)
    attrs = _conv_attrs((kh, kw), (sh, sw), (dh, dw), padding, groups, c, cout, algorithm)
    if winograd_weights not in ("file", "runtime_float16", "runtime_float32"):
        raise ValueError(f"winograd_weights must be 'file', 'runtime_float16' or 'runtime_float32', "
                         f"got {winograd_weights!r}")
    attrs["winograd_weights"] = winograd_weights
    if input_range is not None:
        attrs["input_range"] = [float(input_range[0]), float(input_range[1])]
    if algorithm != "direct":
        m = int(algorithm[-1])
        if (kh, kw, sh, sw, dh, dw, groups) != (3, 3, 1, 1, 1, 1, 1):
            raise ValueError("Winograd needs a 3x3 kernel, stride 1, dilation 1 and one group")
        if packed is None:
            packed = packing.pack_winograd(kernel, m) if winograd_weights == "file" else packing.pack_conv2d(kernel)
    elif packed is None:
        packed = packing.pack_conv2d(kernel, groups)
    return _run("conv2d", attrs, [x], y, weights={"kernel": packed, "bias": _bias(bias, cout)},
                activation=activation, num_threads=num_threads, isa=isa, weights_dtype=weights_dtype,
                int8_compute=int8_compute)


def conv2d_transpose(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *, strides=1,
                     padding: str = "valid", output_padding=None, activation: acts.ActivationSpec = None,
                     num_threads: int | None = None, isa: str | None = None,
                     weights_dtype: str = "float32") -> np.ndarray:
    """Keras Conv2DTranspose: x (N, H, W, C), kernel (kh, kw, cout, C).
    weights_dtype: the stored precision of the packed kernel (see conv2d)."""
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
    attrs = {"kernel_size": [kh, kw], "strides": [sh, sw], "padding": padding,
             "output_padding": None if oph is None else [oph, opw], "filters": cout, "in_channels": c}
    return _run("conv2d_transpose", attrs, [x], y, weights={"kernel": packed, "bias": _bias(bias, cout)},
                activation=activation, num_threads=num_threads, isa=isa, weights_dtype=weights_dtype)


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
    attrs = {"pool_size": [kh, kw], "strides": [sh, sw], "padding": padding}
    return _run(op, attrs, [x], y, num_threads=num_threads, isa=isa)


def max_pool2d(x, pool_size=2, strides=None, padding="valid", *, num_threads=None, isa=None) -> np.ndarray:
    return _pool("max_pool2d", x, pool_size, strides, padding, num_threads, isa)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid", *, num_threads=None, isa=None) -> np.ndarray:
    return _pool("avg_pool2d", x, pool_size, strides, padding, num_threads, isa)


def global_pool(x: np.ndarray, kind: str = "avg", *, num_threads=None, isa=None) -> np.ndarray:
    """(N, H, W, C) -> (N, C): mean or max over H and W."""
    x = _array(x, "x", 4)
    if kind not in ("avg", "max"):
        raise ValueError(f"kind must be 'avg' or 'max', got {kind!r}")
    n, h, w, c = x.shape
    y = np.empty((n, c), dtype=np.float32)
    return _run("global_avg_pool" if kind == "avg" else "global_max_pool", {}, [x], y, num_threads=num_threads,
                isa=isa)


def dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *,
          activation: acts.ActivationSpec = None, num_threads=None, isa=None,
          packed: np.ndarray | None = None, weights_dtype: str = "float32", int8_compute: bool = False) -> np.ndarray:
    """Keras Dense on the last axis: x (..., in), kernel (in, units).
    weights_dtype: the stored precision of the packed kernel (see conv2d). int8_compute
    (int8 weights, one row): compute in int8 on the row quantized to uint8 over its
    measured range (src/dense_q8.c)."""
    x = _array(x, "x", (1, 2, 3, 4, 5))
    kernel = _array(kernel, "kernel", 2)
    k, units = kernel.shape
    if x.shape[-1] != k:
        raise ValueError(f"x has {x.shape[-1]} features on its last axis, kernel expects {k}")
    if packed is None:
        packed = packing.pack_dense(kernel)
    y = np.empty(x.shape[:-1] + (units,), dtype=np.float32)
    return _run("dense", {"in_features": k, "units": units}, [x], y,
                weights={"kernel": packed, "bias": _bias(bias, units)}, activation=activation,
                num_threads=num_threads, isa=isa, batched=x.ndim > 1, weights_dtype=weights_dtype,
                int8_compute=int8_compute)


def activation(x: np.ndarray, spec: acts.ActivationSpec, *, num_threads=None, isa=None) -> np.ndarray:
    """Any activation over the last axis (softmax, log_softmax: per row; glu
    halves it); returns a new array. `isa` forces an instruction-set path."""
    x = _array(x, "x", (1, 2, 3, 4, 5))
    if acts.shape_class(spec) == "halves":
        return glu(x, num_threads=num_threads, isa=isa)
    y = np.empty_like(x)
    return _run("activation", {}, [x], y, activation=spec, num_threads=num_threads, isa=isa, batched=x.ndim > 1)


def pad2d(x: np.ndarray, padding=((1, 1), (1, 1)), *, value: float = 0.0, num_threads=None) -> np.ndarray:
    """Padding with `value` (zeros by default); negative amounts crop (Cropping2D).
    padding: an int or ((top, bottom), (left, right))."""
    x = _array(x, "x", 4)
    if isinstance(padding, (int, np.integer)):
        padding = ((padding, padding), (padding, padding))
    try:
        (t, b), (lft, r) = padding
        t, b, lft, r = int(t), int(b), int(lft), int(r)
    except (TypeError, ValueError):
        raise ValueError(f"padding must be an int or ((top, bottom), (left, right)), got {padding!r}") from None
    n, h, w, c = x.shape
    if h + t + b < 1 or w + lft + r < 1:
        raise ValueError(f"cropping {padding!r} leaves nothing of a {h}x{w} input")
    y = np.empty((n, h + t + b, w + lft + r, c), dtype=np.float32)
    return _run("pad2d", {"padding": [[t, b], [lft, r]], "value": float(value)}, [x], y, num_threads=num_threads)


def glu(x: np.ndarray, *, num_threads=None, isa=None) -> np.ndarray:
    """Keras glu over the last axis: a * sigmoid(b) where [a | b] = x; the last axis halves."""
    x = _array(x, "x", (1, 2, 3, 4, 5))
    if x.shape[-1] % 2:
        raise ValueError(f"glu needs an even last axis, got shape {x.shape}")
    y = np.empty(x.shape[:-1] + (x.shape[-1] // 2,), dtype=np.float32)
    return _run("glu", {}, [x], y, num_threads=num_threads, isa=isa, batched=x.ndim > 1)


def zero_pad2d(x: np.ndarray, padding=((1, 1), (1, 1)), *, num_threads=None) -> np.ndarray:
    if not isinstance(padding, int):
        _padding(padding)  # non-negative
    elif padding < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return pad2d(x, padding, num_threads=num_threads)


def resize2d(x: np.ndarray, size: Sequence[int], mode: str = "nearest", *, num_threads=None) -> np.ndarray:
    """tf.image.resize (half-pixel centres, no antialiasing): x (N, H, W, C) -> (N, *size, C)."""
    x = _array(x, "x", 4)
    oh, ow = _pair(size, "size")
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=np.float32)
    return _run("resize2d", {"size": [oh, ow], "mode": mode}, [x], y, num_threads=num_threads)


def upsample_nearest2d(x: np.ndarray, size=2, *, num_threads=None) -> np.ndarray:
    x = _array(x, "x", 4)
    fh, fw = _pair(size, "size")
    n, h, w, c = x.shape
    y = np.empty((n, h * fh, w * fw, c), dtype=np.float32)
    return _run("resize2d", {"factor": [fh, fw], "mode": "nearest"}, [x], y, num_threads=num_threads)


def binary(kind: str, xs: Sequence[np.ndarray], *, constants: Sequence[int] = (),
           activation: acts.ActivationSpec = None, num_threads=None, isa=None) -> np.ndarray:
    """Element-wise `kind` (add, subtract, multiply, divide, maximum, minimum, average,
    prelu) over inputs with Keras/NumPy broadcasting; axis 0 is the batch. Inputs whose
    index is in `constants` are unbatched constants, right-aligned to the output."""
    xs = [_array(x, f"xs[{i}]", (0, 1, 2, 3, 4, 5, 6)) if i in constants else _array(x, f"xs[{i}]", (1, 2, 3, 4, 5))
          for i, x in enumerate(xs)]
    if not xs:
        raise ValueError(f"{kind} needs at least one input")
    if not acts.element_wise(activation):  # the step broadcasts over collapsed axes: no row length
        raise ValueError(f"{kind}: activation {acts.normalize(activation)['name']!r} works over the last axis; "
                         "apply it with kernels.activation afterwards")
    tensors = [x for i, x in enumerate(xs) if i not in constants]
    if not tensors:
        raise ValueError(f"{kind} needs at least one batched input")
    batch = tensors[0].shape[0]
    if any(x.shape[0] != batch for x in tensors):
        raise ValueError(f"{kind}: inputs have different batch sizes: {[x.shape for x in tensors]}")
    from .ops.elementwise import _binary_infer

    shapes = [ConstShape(x.shape) if i in constants else tuple(x.shape[1:]) for i, x in enumerate(xs)]
    out = _binary_infer({"kind": kind}, shapes)
    y = np.empty((batch, *out), dtype=np.float32)
    return _run("binary", {"kind": kind}, list(xs), y, activation=activation, num_threads=num_threads,
                constants=constants, isa=isa)


def add(xs: Sequence[np.ndarray], *, activation: acts.ActivationSpec = None, num_threads=None) -> np.ndarray:
    xs = [_array(x, f"xs[{i}]", (1, 2, 3, 4, 5)) for i, x in enumerate(xs)]
    if not xs:
        raise ValueError("add needs at least one input")
    for i, x in enumerate(xs[1:], 1):
        if x.shape != xs[0].shape:
            raise ValueError(f"add inputs must have one shape: xs[0] is {xs[0].shape}, xs[{i}] is {x.shape}")
    return binary("add", xs, activation=activation, num_threads=num_threads)


def concat(xs: Sequence[np.ndarray], *, num_threads=None) -> np.ndarray:
    """Concatenate along the last axis."""
    xs = [_array(x, f"xs[{i}]", (1, 2, 3, 4, 5)) for i, x in enumerate(xs)]
    if not xs:
        raise ValueError("concat needs at least one input")
    lead = xs[0].shape[:-1]
    for i, x in enumerate(xs):
        if x.shape[:-1] != lead:
            raise ValueError(f"concat inputs must match except on the last axis: {xs[0].shape} vs xs[{i}] {x.shape}")
    y = np.empty(lead + (sum(x.shape[-1] for x in xs),), dtype=np.float32)
    return _run("concat", {"axis": -1}, xs, y, num_threads=num_threads, batched=xs[0].ndim > 1)


def scale_shift(x: np.ndarray, scale: np.ndarray | None, shift: np.ndarray | None, *, axis: int = -1,
                activation: acts.ActivationSpec = None, num_threads=None) -> np.ndarray:
    """Per-channel x * scale + shift along `axis` of x (batch normalisation at inference).
    Axis 0 is the batch (for a 1-D x, the only axis is the channels)."""
    x = _array(x, "x", (1, 2, 3, 4, 5))
    ax = axis % x.ndim
    batched = x.ndim > 1
    if batched and ax == 0:
        raise ValueError("scale_shift acts on a per-sample axis, not the batch axis 0")
    c = x.shape[ax]
    for name, v in (("scale", scale), ("shift", shift)):
        if v is not None and _array(v, name, 1).shape != (c,):
            raise ValueError(f"{name} must have shape ({c},), got {v.shape}")
    y = np.empty_like(x)
    return _run("scale_shift", {"channels": c, "axis": ax - batched}, [x], y, weights={"scale": scale, "shift": shift},
                activation=activation, num_threads=num_threads, batched=batched)


def layer_norm(x: np.ndarray, gamma: np.ndarray | None = None, beta: np.ndarray | None = None, *,
               epsilon: float = 1e-3, num_threads=None) -> np.ndarray:
    """Keras LayerNormalization over the last axis."""
    x = _array(x, "x", (2, 3, 4, 5))
    c = x.shape[-1]
    for name, v in (("gamma", gamma), ("beta", beta)):
        if v is not None and _array(v, name, 1).shape != (c,):
            raise ValueError(f"{name} must have shape ({c},), got {v.shape}")
    y = np.empty_like(x)
    return _run("layer_norm", {"channels": c, "epsilon": float(epsilon)}, [x], y,
                weights={"gamma": gamma, "beta": beta}, num_threads=num_threads)


def transpose(x: np.ndarray, perm: Sequence[int], *, num_threads=None) -> np.ndarray:
    """Permute the per-sample axes of x (axis 0, the batch, stays first); perm counts from 0."""
    x = _array(x, "x", (2, 3, 4, 5, 6))
    from .ops.layout import _transpose_infer

    out = _transpose_infer({"perm": list(perm)}, [tuple(x.shape[1:])])
    y = np.empty((x.shape[0], *out), dtype=np.float32)
    return _run("transpose", {"perm": list(perm)}, [x], y, num_threads=num_threads)
