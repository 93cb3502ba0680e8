"""conv2d (direct, depthwise, grouped, Winograd) and conv2d_transpose."""

from __future__ import annotations

from .. import _kernels, packing
from ..shapes import conv_out_and_pads, tconv_out_and_pad
from .base import OpDef, Shape, Step, need_rank, positive_ints, prod, register


def _axis(n: int | None, k: int, s: int, d: int, pad) -> tuple[int | None, int]:
    if n is None:
        return None, 0
    out, before, _ = conv_out_and_pads(n, k, s, d, pad)
    if out < 1:
        raise ValueError(f"output size {out} < 1 (input {n}, kernel {k}, stride {s}, dilation {d}, padding {pad})")
    return out, before


def pads(attrs: dict) -> tuple:
    p = attrs["padding"]
    if p in ("valid", "same"):
        return p, p
    try:
        (t, b), (lft, r) = p
    except (TypeError, ValueError):
        raise ValueError(f"padding must be 'valid', 'same' or [[top, bottom], [left, right]], got {p!r}") from None
    if min(t, b, lft, r) < 0:
        raise ValueError(f"padding must be non-negative, got {p!r}")
    return (int(t), int(b)), (int(lft), int(r))


# ---- conv2d ----
def _conv_geometry(a: dict, s: Shape):
    h, w, c = s
    kh, kw = positive_ints(a, "kernel_size", 2, "conv2d")
    sh, sw = positive_ints(a, "strides", 2, "conv2d")
    dh, dw = positive_ints(a, "dilation", 2, "conv2d")
    ph, pw = pads(a)
    oh, pt = _axis(h, kh, sh, dh, ph)
    ow, pl = _axis(w, kw, sw, dw, pw)
    return oh, ow, pt, pl


def _conv_infer(a: dict, ins: list[Shape]) -> Shape:
    h, w, c = need_rank(ins, 3, "conv2d")
    (groups,) = positive_ints(a, "groups", 1, "conv2d")
    (filters,) = positive_ints(a, "filters", 1, "conv2d")
    if c != a["in_channels"]:
        raise ValueError(f"conv2d expects {a['in_channels']} input channels, got {c}")
    if c % groups or filters % groups:
        raise ValueError(f"groups={groups} must divide the input channels ({c}) and the filters ({filters})")
    oh, ow, _, _ = _conv_geometry(a, ins[0])
    return (oh, ow, filters)


def winograd_tile(a: dict) -> int:
    """0 for direct convolution, else the Winograd output tile m (2 or 4)."""
    algo = a.get("algorithm", "direct")
    if algo not in ("direct", "winograd2", "winograd4"):
        raise ValueError(f"unknown conv2d algorithm {algo!r}")
    return int(algo[-1]) if algo != "direct" else 0


def conv_ints(a: dict, in_shape: Shape, batch: int) -> list[int]:
    h, wd, c = in_shape
    oh, ow, pt, pl = _conv_geometry(a, in_shape)
    (kh, kw), (sh, sw), (dh, dw) = a["kernel_size"], a["strides"], a["dilation"]
    return [batch, h, wd, c, oh, ow, a["filters"], kh, kw, sh, sw, dh, dw, pt, pl, a["groups"]]


# Where a Winograd layer's U comes from: the file (the kernel is U), or the direct 3x3 kernel
# transformed each run into scratch as float16 or float32 U (src/winograd_weights.c).
WINOGRAD_WEIGHTS = {"file": 0, "runtime_float16": 1, "runtime_float32": 2}


def winograd_weights(a: dict) -> str:
    where = a.get("winograd_weights", "file")
    if where not in WINOGRAD_WEIGHTS:
        raise ValueError(f"winograd_weights must be one of {', '.join(WINOGRAD_WEIGHTS)}, got {where!r}")
    return where if winograd_tile(a) else "file"


def runtime_transform(a: dict) -> bool:
    """Winograd weights stored as the 3x3 kernel and transformed at run time (into scratch)."""
    return winograd_weights(a) != "file"


def _conv_step(a: dict, ins: list[Shape], out: Shape, batch: int) -> Step:
    ints = conv_ints(a, ins[0], batch)
    m = winograd_tile(a)
    if not m:
        return Step(ints=ints)
    # p[16]: where U comes from (WINOGRAD_WEIGHTS); run-time U goes to the start of the scratch, shared by the threads
    where = winograd_weights(a)
    shared = (_kernels.winograd_weights_floats(a["in_channels"], a["filters"], m, where.split("_")[1])
              if where != "file" else 0)
    return Step(ints=ints + [WINOGRAD_WEIGHTS[where]], algo=m,
                scratch_floats=_kernels.winograd_scratch_floats(ints, m), scratch_shared=shared)


# Step parameter 17 (src/conv2d.c CONV_INT8): how the input is quantized when computing in int8
INT8_RANGE = {"measured": 1, "calibrated": 2}


def _conv_int8_step(a: dict, st: Step) -> Step | None:
    """Direct int8 convolution (src/conv2d_q8.c): the input quantized to uint8 over its range,
    measured each run or calibrated at conversion (attrs["input_range"], `convert --calibrate`).
    An int8 file's Winograd layers keep the 3x3 kernel (run-time U), which this reads directly."""
    ints = list(st.ints[:16])
    need = _kernels.conv2d_int8_scratch_floats(ints)
    if need < 0:
        return None
    rng = a.get("input_range")
    if rng is not None and not (isinstance(rng, (list, tuple)) and len(rng) == 2
                                and all(isinstance(v, (int, float)) for v in rng)):
        raise ValueError(f"input_range must be [lo, hi] (two numbers), got {rng!r}")
    if rng is None:
        return Step(ints=ints + [0, INT8_RANGE["measured"]], scratch_shared=need)
    return Step(ints=ints + [0, INT8_RANGE["calibrated"]], floats=[float(rng[0]), float(rng[1])],
                scratch_shared=need)


def _conv_pack(a: dict, role: str, arr):
    if role != "kernel":
        return packing.as_float32(arr)
    m = winograd_tile(a)
    return packing.pack_winograd(arr, m) if m and not runtime_transform(a) else packing.pack_conv2d(arr, a["groups"])


def _conv_channels(a: dict, size: int) -> list[tuple[int, int, int, int]]:
    """int8 scale layout of the packed kernel: per 16-wide panel (per Winograd position
    too: positions differ in magnitude), or per channel of a depthwise kernel."""
    nr = packing.NR
    kh, kw = a["kernel_size"]
    groups, cin, cout = a["groups"], a["in_channels"], a["filters"]
    m = winograd_tile(a)
    if m and not runtime_transform(a):
        return [(0, (m + 2) ** 2 * -(-cout // nr), cin, nr)]
    if groups > 1 and cin == groups:
        return [(0, 1, kh * kw, cout)]
    return [(0, groups * -(-(cout // groups) // nr), kh * kw * (cin // groups), nr)]


def _conv_fold_scale(a: dict, raw: dict, scale, shift) -> dict | None:
    """Batch norm after a convolution: scale each output channel's kernel, shift its bias."""
    import numpy as np

    k = raw["kernel"].astype(np.float64) * scale  # the last axis is the output channel
    b = raw.get("bias", np.zeros_like(scale)).astype(np.float64) * scale + shift
    return {"kernel": k.astype(np.float32), "bias": b.astype(np.float32)}


def choose_algorithm(attrs: dict, in_shape: Shape, policy: str) -> str:
    """Winograd for 3x3 stride-1 convolutions where it pays (policy "auto"):
    F(4x4) on maps of 56x56 and more (or of unknown size), F(2x2) down to
    28x28 (4x fewer weights than F(4x4): the weights of VGG16's block 4 stay
    near their direct size), direct below and for thin inputs. "off": direct."""
    if policy == "off":
        return "direct"
    if policy not in ("auto", "winograd2", "winograd4"):
        raise ValueError(f"winograd must be 'auto', 'off', 'winograd2' or 'winograd4', got {policy!r}")
    eligible = (list(attrs["kernel_size"]) == [3, 3] and list(attrs["strides"]) == [1, 1]
                and list(attrs["dilation"]) == [1, 1] and attrs["groups"] == 1 and attrs["in_channels"] >= 16
                and attrs["filters"] >= 16)
    if not eligible:
        return "direct"
    if policy != "auto":
        return policy
    h, w = in_shape[0], in_shape[1]
    if h is None or w is None or h * w >= 56 * 56:
        return "winograd4"
    return "winograd2" if h * w >= 28 * 28 else "direct"


def _conv_configure(a: dict, ins: list[Shape], options: dict) -> None:
    a["algorithm"] = choose_algorithm(a, ins[0], options.get("winograd", "auto"))
    if a["algorithm"] != "direct" and options.get("weights", "float32") != "float32":
        # A reduced-precision file keeps the 3x3 kernel and computes U per run (docs/PRECISION.md):
        # U stored in bfloat16 / int8 multiplies their rounding error by the transforms' gain, and
        # is 16/9 (F(2x2)) or 4x (F(4x4)) the kernel's size. F(2x2) U fits float16 (error ~ the
        # direct convolution's), F(4x4)'s needs float32 ...
        if a["algorithm"] == "winograd2":
            a["winograd_weights"] = "runtime_float16"
        elif options["weights"] != "float16":
            a["winograd_weights"] = "runtime_float32"
        # float16 keeps F(4x4)'s U in the file (float16 U: ~4e-3 per layer, within its 1e-2 bound;
        # computing float32 U per run cost VGG16 ~6% at 2 threads)


def _conv_macs(a, ins, out) -> int:
    kh, kw = a["kernel_size"]
    return prod(out) * kh * kw * (a["in_channels"] // a["groups"])


def _conv_describe(a: dict) -> str:
    kh, kw = a["kernel_size"]
    sh, sw = a["strides"]
    parts = [f"{kh}x{kw}", f"stride {sh}x{sw}" if (sh, sw) != (1, 1) else ""]
    if tuple(a["dilation"]) != (1, 1):
        parts.append(f"dilation {a['dilation'][0]}x{a['dilation'][1]}")
    g = a["groups"]
    parts.append("depthwise" if g > 1 and g == a["in_channels"] else (f"{g} groups" if g > 1 else ""))
    parts.append(f"{a['in_channels']}->{a['filters']}")
    return " ".join(p for p in parts if p)


register(OpDef("conv2d", _conv_infer, _conv_step, weights=("kernel", "bias", "kernel_scale"), pack=_conv_pack,
               pack_key=lambda a: (a.get("algorithm", "direct"), runtime_transform(a), a["groups"]),
               activation=True, row_activation=True,
               fold_scale=_conv_fold_scale, configure=_conv_configure, macs=_conv_macs, describe=_conv_describe,
               channels=_conv_channels, int8_step=_conv_int8_step))


# ---- conv2d_transpose ----
def _tconv_geometry(a: dict, s: Shape):
    h, w, _ = s
    kh, kw = positive_ints(a, "kernel_size", 2, "conv2d_transpose")
    sh, sw = positive_ints(a, "strides", 2, "conv2d_transpose")
    op = a.get("output_padding") or (None, None)
    oh, pt = (None, 0) if h is None else tconv_out_and_pad(h, kh, sh, a["padding"], op[0])
    ow, pl = (None, 0) if w is None else tconv_out_and_pad(w, kw, sw, a["padding"], op[1])
    return oh, ow, pt, pl


def _tconv_infer(a, ins):
    h, w, c = need_rank(ins, 3, "conv2d_transpose")
    if c != a["in_channels"]:
        raise ValueError(f"conv2d_transpose expects {a['in_channels']} input channels, got {c}")
    (filters,) = positive_ints(a, "filters", 1, "conv2d_transpose")
    oh, ow, _, _ = _tconv_geometry(a, ins[0])
    return (oh, ow, filters)


def _tconv_step(a, ins, out, batch) -> Step:
    h, wd, c = ins[0]
    oh, ow, pt, pl = _tconv_geometry(a, ins[0])
    (kh, kw), (sh, sw) = a["kernel_size"], a["strides"]
    return Step(ints=[batch, h, wd, c, oh, ow, a["filters"], kh, kw, sh, sw, pt, pl])


def _tconv_pack(a: dict, role: str, arr):
    if role != "kernel":
        return packing.as_float32(arr)
    packed = packing.pack_conv2d_transpose(arr, tuple(a["strides"]))
    return packed if packed.size else packing.as_float32([0.0] * 16)


def _tconv_channels(a: dict, size: int) -> list[tuple[int, int, int, int]]:
    """One segment per output phase (packing.pack_conv2d_transpose), sharing the channels' scales."""
    (kh, kw), (sh, sw) = a["kernel_size"], a["strides"]
    nb, cin, segs, start = -(-a["filters"] // packing.NR), a["in_channels"], [], 0
    for rh in range(min(sh, kh)):
        for rw in range(min(sw, kw)):
            taps = len(range(rh, kh, sh)) * len(range(rw, kw, sw))
            if taps:
                segs.append((start, nb, taps * cin, packing.NR))
                start += nb * taps * cin * packing.NR
    return segs


def _tconv_macs(a, ins, out):
    kh, kw = a["kernel_size"]
    return prod(ins[0]) * kh * kw * a["filters"]


def _tconv_describe(a: dict) -> str:
    kh, kw = a["kernel_size"]
    sh, sw = a["strides"]
    return f"{kh}x{kw} stride {sh}x{sw} {a['in_channels']}->{a['filters']}"


register(OpDef("conv2d_transpose", _tconv_infer, _tconv_step, weights=("kernel", "bias", "kernel_scale"),
               pack=_tconv_pack,
               pack_key=lambda a: tuple(a["strides"]), activation=True, row_activation=True, macs=_tconv_macs,
               describe=_tconv_describe, channels=_tconv_channels))
