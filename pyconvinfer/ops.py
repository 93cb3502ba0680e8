"""The op registry: per op, its shape rule, its MAC count and how it becomes
a C step. The one place to add an op (plus the converter's mapping to it).

Shapes here are per sample, without the batch axis. During conversion height
and width may be None; at plan time everything is concrete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import activations as acts
from .kernels import OP
from .shapes import conv_out_and_pads, tconv_out_and_pad

Shape = tuple  # of Optional[int]


@dataclass(frozen=True)
class OpDef:
    infer: Callable[[dict, list[Shape]], Shape]
    build: Callable[..., None] | None  # None: the output aliases the input (no compute)
    macs: Callable[[dict, list[Shape], Shape], int] = lambda a, i, o: 0


def _prod(shape: Sequence[int | None]) -> int:
    return int(np.prod([d for d in shape], dtype=np.int64))


def _need_rank(in_shapes: list[Shape], rank: int, op: str) -> Shape:
    s = in_shapes[0]
    if len(s) != rank:
        raise ValueError(f"{op} expects a {rank}-D input per sample, got shape {tuple(s)}")
    return s


def _axis(n: int | None, k: int, s: int, d: int, pad) -> tuple[int | None, int]:
    if n is None:
        return None, 0
    out, before, _ = conv_out_and_pads(n, k, s, d, pad)
    if out < 1:
        raise ValueError(f"output size {out} < 1 (input {n}, kernel {k}, stride {s}, dilation {d}, padding {pad})")
    return out, before


def _pads(attrs: dict) -> tuple[Any, Any]:
    p = attrs["padding"]
    return (p, p) if isinstance(p, str) else (tuple(p[0]), tuple(p[1]))


# ---- conv2d ----
def _conv_geometry(a: dict, s: Shape):
    h, w, c = s
    (kh, kw), (sh, sw), (dh, dw) = a["kernel_size"], a["strides"], a["dilation"]
    ph, pw = _pads(a)
    oh, pt = _axis(h, kh, sh, dh, ph)
    ow, pl = _axis(w, kw, sw, dw, pw)
    return oh, ow, pt, pl


def _conv_infer(a: dict, ins: list[Shape]) -> Shape:
    h, w, c = _need_rank(ins, 3, "conv2d")
    if c != a["in_channels"]:
        raise ValueError(f"conv2d expects {a['in_channels']} input channels, got {c}")
    oh, ow, _, _ = _conv_geometry(a, ins[0])
    return (oh, ow, a["filters"])


def winograd_tile(a: dict) -> int:
    """0 for direct convolution, else the Winograd output tile m (2 or 4)."""
    algo = a.get("algorithm", "direct")
    return int(algo[-1]) if algo.startswith("winograd") else 0


def conv_ints(a: dict, in_shape: Shape, batch: int) -> list[int]:
    h, wd, c = in_shape
    oh, ow, pt, pl = _conv_geometry(a, in_shape)
    (kh, kw), (sh, sw), (dh, dw) = a["kernel_size"], a["strides"], a["dilation"]
    return [batch, h, wd, c, oh, ow, a["filters"], kh, kw, sh, sw, dh, dw, pt, pl, a["groups"]]


def _conv_build(plan, a, ins, out, w, in_shapes, out_shape, batch, scratch=None):
    kind, params = acts.encode(a.get("activation"))
    ints = conv_ints(a, in_shapes[0], batch)
    m = winograd_tile(a)
    if m:
        plan.add(OP["conv2d_winograd"], ints, ins, out, w["kernel"], w.get("bias"), None, kind, params,
                 0, 0, (), m, scratch)
    else:
        plan.add(OP["conv2d"], ints, ins, out, w["kernel"], w.get("bias"), None, kind, params)


def _conv_macs(a, ins, out) -> int:
    kh, kw = a["kernel_size"]
    return _prod(out) * kh * kw * (a["in_channels"] // a["groups"])


# ---- conv2d_transpose ----
def _tconv_geometry(a: dict, s: Shape):
    h, w, _ = s
    (kh, kw), (sh, sw) = a["kernel_size"], a["strides"]
    op = a.get("output_padding") or (None, None)
    oh, pt = (None, 0) if h is None else tconv_out_and_pad(h, kh, sh, a["padding"], op[0])
    ow, pl = (None, 0) if w is None else tconv_out_and_pad(w, kw, sw, a["padding"], op[1])
    return oh, ow, pt, pl


def _tconv_infer(a, ins):
    h, w, c = _need_rank(ins, 3, "conv2d_transpose")
    if c != a["in_channels"]:
        raise ValueError(f"conv2d_transpose expects {a['in_channels']} input channels, got {c}")
    oh, ow, _, _ = _tconv_geometry(a, ins[0])
    return (oh, ow, a["filters"])


def _tconv_build(plan, a, ins, out, w, in_shapes, out_shape, batch):
    h, wd, c = in_shapes[0]
    oh, ow, pt, pl = _tconv_geometry(a, in_shapes[0])
    (kh, kw), (sh, sw) = a["kernel_size"], a["strides"]
    kind, params = acts.encode(a.get("activation"))
    plan.add(OP["conv2d_transpose"], [batch, h, wd, c, oh, ow, a["filters"], kh, kw, sh, sw, pt, pl],
             ins, out, w["kernel"], w.get("bias"), None, kind, params)


def _tconv_macs(a, ins, out):
    kh, kw = a["kernel_size"]
    return _prod(ins[0]) * kh * kw * a["filters"]


# ---- pooling ----
def _pool_geometry(a, s):
    h, w, c = s
    (kh, kw), (sh, sw) = a["pool_size"], a["strides"]
    oh, pt = _axis(h, kh, sh, 1, a["padding"])
    ow, pl = _axis(w, kw, sw, 1, a["padding"])
    return oh, ow, pt, pl


def _pool_infer(a, ins):
    h, w, c = _need_rank(ins, 3, "pooling")
    oh, ow, _, _ = _pool_geometry(a, ins[0])
    return (oh, ow, c)


def _pool_builder(opname: str):
    def build(plan, a, ins, out, w, in_shapes, out_shape, batch):
        h, wd, c = in_shapes[0]
        oh, ow, pt, pl = _pool_geometry(a, in_shapes[0])
        (kh, kw), (sh, sw) = a["pool_size"], a["strides"]
        plan.add(OP[opname], [batch, h, wd, c, oh, ow, kh, kw, sh, sw, pt, pl], ins, out)
    return build


def _gpool_infer(a, ins):
    h, w, c = _need_rank(ins, 3, "global pooling")
    return (1, 1, c) if a.get("keepdims") else (c,)


def _gpool_builder(opname: str):
    def build(plan, a, ins, out, w, in_shapes, out_shape, batch):
        h, wd, c = in_shapes[0]
        plan.add(OP[opname], [batch, h * wd, c], ins, out)
    return build


# ---- dense ----
def _dense_infer(a, ins):
    s = ins[0]
    if not s or s[-1] != a["in_features"]:
        raise ValueError(f"dense expects {a['in_features']} features on the last axis, got shape {tuple(s)}")
    if any(d is None for d in s):
        raise ValueError("dense needs a fully known input shape (Flatten after an input of unknown size?)")
    return tuple(s[:-1]) + (a["units"],)


def _dense_build(plan, a, ins, out, w, in_shapes, out_shape, batch):
    k = a["in_features"]
    m = batch * _prod(in_shapes[0]) // k
    kind, params = acts.encode(a.get("activation"))
    plan.add(OP["dense"], [m, k, a["units"]], ins, out, w["kernel"], w.get("bias"), None, kind, params)


# ---- shape-only ops (aliases) ----
def _flatten_infer(a, ins):
    if any(d is None for d in ins[0]):
        raise ValueError("flatten needs a known input shape; the model's input height/width are unknown")
    return (_prod(ins[0]),)


def _reshape_infer(a, ins):
    target = list(a["target_shape"])
    total = _prod(ins[0]) if all(d is not None for d in ins[0]) else None
    if total is None:
        raise ValueError("reshape needs a known input shape")
    if target.count(-1) == 1:
        known = _prod([d for d in target if d != -1])
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {tuple(ins[0])} to {tuple(a['target_shape'])}")
        target[target.index(-1)] = total // known
    if _prod(target) != total:
        raise ValueError(f"cannot reshape {tuple(ins[0])} ({total} values) to {tuple(a['target_shape'])}")
    return tuple(target)


# ---- element-wise and glue ----
def _same_infer(a, ins):
    return tuple(ins[0])


def _act_build(plan, a, ins, out, w, in_shapes, out_shape, batch):
    s = in_shapes[0]
    kind, params = acts.encode(a.get("activation"))
    plan.add(OP["activation"], [s[-1]], ins, out, None, None, None, kind, params, batch * _prod(s[:-1]))


def _scale_shift_build(plan, a, ins, out, w, in_shapes, out_shape, batch):
    s = in_shapes[0]
    kind, params = acts.encode(a.get("activation"))
    plan.add(OP["scale_shift"], [s[-1]], ins, out, w["scale"], None, w["shift"], kind, params,
             batch * _prod(s[:-1]))


def _scale_shift_infer(a, ins):
    if ins[0][-1] != a["channels"]:
        raise ValueError(f"batch normalization expects {a['channels']} channels, got {ins[0][-1]}")
    return tuple(ins[0])


def _pad_infer(a, ins):
    h, w, c = _need_rank(ins, 3, "zero_pad2d")
    (t, b), (lft, r) = a["padding"]
    return (None if h is None else h + t + b, None if w is None else w + lft + r, c)


def _pad_build(plan, a, ins, out, w, in_shapes, out_shape, batch):
    h, wd, c = in_shapes[0]
    (t, b), (lft, r) = a["padding"]
    plan.add(OP["zero_pad2d"], [batch, h, wd, c, t, b, lft, r], ins, out)


def _up_infer(a, ins):
    h, w, c = _need_rank(ins, 3, "upsample")
    fh, fw = a["size"]
    return (None if h is None else h * fh, None if w is None else w * fw, c)


def _up_build(plan, a, ins, out, w, in_shapes, out_shape, batch):
    h, wd, c = in_shapes[0]
    fh, fw = a["size"]
    plan.add(OP["upsample_nearest"], [batch, h, wd, c, fh, fw], ins, out)


def _merge_shapes(ins: list[Shape], skip_axis: int | None, op: str) -> list[int | None]:
    ranks = {len(s) for s in ins}
    if len(ranks) != 1:
        raise ValueError(f"{op} inputs have different ranks: {[tuple(s) for s in ins]}")
    out: list[int | None] = []
    for ax, dims in enumerate(zip(*ins)):
        if skip_axis is not None and ax == skip_axis:
            out.append(None)
            continue
        known = {d for d in dims if d is not None}
        if len(known) > 1:
            raise ValueError(f"{op} inputs do not match: {[tuple(s) for s in ins]}")
        out.append(known.pop() if known else None)
    return out


def _add_infer(a, ins):
    return tuple(_merge_shapes(ins, None, "add"))


def _add_build(plan, a, ins, out, w, in_shapes, out_shape, batch):
    kind, params = acts.encode(a.get("activation"))
    plan.add(OP["add"], [], ins, out, None, None, None, kind, params, 0, batch * _prod(out_shape))


def _concat_axis(a: dict, ins: list[Shape]) -> int:
    """The concat axis as an index into the per-sample shape (attrs store it negative)."""
    axis = int(a.get("axis", -1))
    rank = len(ins[0])
    if not -rank <= axis < 0:
        raise ValueError(f"concat axis {axis} out of range for rank {rank}")
    return rank + axis


def _concat_infer(a, ins):
    ax = _concat_axis(a, ins)
    shape = _merge_shapes(ins, ax, "concatenate")
    if any(s[ax] is None for s in ins):
        raise ValueError("concatenate along an axis of unknown size")
    shape[ax] = sum(s[ax] for s in ins)
    return tuple(shape)


def _concat_build(plan, a, ins, out, w, in_shapes, out_shape, batch):
    # Along axis ax, each input is (outer, inner_i) with outer = batch * prod(shape[:ax]).
    ax = _concat_axis(a, in_shapes)
    outer = batch * _prod(out_shape[:ax])
    plan.add(OP["concat"], [], ins, out, None, None, None, 0, (0.0, 0.0, 0.0), outer, 0,
             [_prod(s[ax:]) for s in in_shapes])


REGISTRY: dict[str, OpDef] = {
    "conv2d": OpDef(_conv_infer, _conv_build, _conv_macs),
    "conv2d_transpose": OpDef(_tconv_infer, _tconv_build, _tconv_macs),
    "max_pool2d": OpDef(_pool_infer, _pool_builder("max_pool2d")),
    "avg_pool2d": OpDef(_pool_infer, _pool_builder("avg_pool2d")),
    "global_avg_pool": OpDef(_gpool_infer, _gpool_builder("global_avg_pool")),
    "global_max_pool": OpDef(_gpool_infer, _gpool_builder("global_max_pool")),
    "dense": OpDef(_dense_infer, _dense_build, lambda a, i, o: _prod(i[0]) * a["units"]),
    "flatten": OpDef(_flatten_infer, None),
    "reshape": OpDef(_reshape_infer, None),
    "identity": OpDef(_same_infer, None),
    "activation": OpDef(_same_infer, _act_build),
    "scale_shift": OpDef(_scale_shift_infer, _scale_shift_build),
    "zero_pad2d": OpDef(_pad_infer, _pad_build),
    "upsample_nearest2d": OpDef(_up_infer, _up_build),
    "add": OpDef(_add_infer, _add_build),
    "concat": OpDef(_concat_infer, _concat_build),
}


def infer_shapes(graph, input_shapes: dict[str, Shape]) -> dict[str, Shape]:
    """Shapes of every tensor, given per-sample input shapes. Raises ValueError
    naming the node whose shape rule fails."""
    shapes = dict(input_shapes)
    for node in graph.nodes:
        opdef = REGISTRY.get(node.op)
        if opdef is None:
            raise ValueError(f"node {node.name!r}: unknown op {node.op!r} (file from a newer pyconvinfer?)")
        try:
            shapes[node.output] = tuple(opdef.infer(node.attrs, [shapes[t] for t in node.inputs]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"node {node.name!r} ({node.op}): malformed attributes ({e!r})") from None
        except ValueError as e:
            raise ValueError(f"node {node.name!r} ({node.op}): {e}") from None
    return shapes
