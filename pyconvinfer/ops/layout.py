"""Ops that move values without arithmetic: flatten / reshape / identity
(aliases: no step), concat, signed pad2d (padding and cropping), resize2d
(nearest / bilinear) and transpose."""

from __future__ import annotations

import numpy as np

from .base import OpDef, Step, known, need_rank, positive_ints, prod, register


# ---- aliases: the output is the input's memory ----
def _flatten_infer(a, ins):
    if not known(ins[0]):
        raise ValueError("flatten needs a known input shape; the model's input height/width are unknown")
    return (prod(ins[0]),)


def _reshape_infer(a, ins):
    target = [int(d) for d in a["target_shape"]]
    if not known(ins[0]):
        raise ValueError("reshape needs a known input shape")
    total = prod(ins[0])
    if target.count(-1) > 1 or any(d < -1 or d == 0 for d in target):
        raise ValueError(f"bad reshape target {tuple(a['target_shape'])}")
    if target.count(-1) == 1:
        rest = prod([d for d in target if d != -1])
        if rest == 0 or total % rest:
            raise ValueError(f"cannot reshape {tuple(ins[0])} to {tuple(a['target_shape'])}")
        target[target.index(-1)] = total // rest
    if prod(target) != total:
        raise ValueError(f"cannot reshape {tuple(ins[0])} ({total} values) to {tuple(a['target_shape'])}")
    return tuple(target)


register(OpDef("flatten", _flatten_infer))
register(OpDef("reshape", _reshape_infer))
register(OpDef("identity", lambda a, ins: tuple(ins[0])))


# ---- concat ----
def _concat_axis(a: dict, ins) -> int:
    """The concat axis as an index into the per-sample shape (attrs store it negative)."""
    axis = int(a.get("axis", -1))
    rank = len(ins[0])
    if not -rank <= axis < 0:
        raise ValueError(f"concat axis {axis} out of range for rank {rank}")
    return rank + axis


def _concat_infer(a, ins):
    ax = _concat_axis(a, ins)
    if len({len(s) for s in ins}) != 1:
        raise ValueError(f"concatenate inputs have different ranks: {[tuple(s) for s in ins]}")
    out: list[int | None] = []
    for i, dims in enumerate(zip(*ins)):
        if i == ax:
            if any(d is None for d in dims):
                raise ValueError("concatenate along an axis of unknown size")
            out.append(sum(dims))
            continue
        sizes = {d for d in dims if d is not None}
        if len(sizes) > 1:
            raise ValueError(f"concatenate inputs do not match: {[tuple(s) for s in ins]}")
        out.append(sizes.pop() if sizes else None)
    return tuple(out)


def _concat_step(a, ins, out, batch) -> Step:
    # Along axis ax, each input is (outer, inner_i) with outer = batch * prod(shape[:ax]).
    ax = _concat_axis(a, ins)
    return Step(rows=batch * prod(out[:ax]), in_flags=[prod(s[ax:]) for s in ins])


register(OpDef("concat", _concat_infer, _concat_step))


# ---- pad2d: [[top, bottom], [left, right]], negative values crop ----
def _pad_amounts(a: dict, allow_negative: bool) -> tuple[int, int, int, int]:
    try:
        (t, b), (lft, r) = a["padding"]
        vals = [int(v) for v in (t, b, lft, r)]
    except (TypeError, ValueError):
        raise ValueError(f"padding must be [[top, bottom], [left, right]], got {a['padding']!r}") from None
    if not allow_negative and min(vals) < 0:
        raise ValueError(f"zero padding must be non-negative, got {a['padding']!r}")
    return vals[0], vals[1], vals[2], vals[3]


def _pad_infer_for(allow_negative: bool):
    def infer(a, ins):
        h, w, c = need_rank(ins, 3, "pad2d")
        t, b, lft, r = _pad_amounts(a, allow_negative)
        oh = None if h is None else h + t + b
        ow = None if w is None else w + lft + r
        if (oh is not None and oh < 1) or (ow is not None and ow < 1):
            raise ValueError(f"cropping {a['padding']} leaves nothing of a {h}x{w} input")
        return (oh, ow, c)
    return infer


def _pad_step(a, ins, out, batch) -> Step:
    h, w, c = ins[0]
    value = float(a.get("value", 0.0))
    if not np.isfinite(value):
        raise ValueError(f"pad2d value must be finite, got {value!r}")
    return Step(ints=[batch, h, w, c, *_pad_amounts(a, True)], floats=[value])


def _pad_describe(a: dict) -> str:
    (t, b), (lft, r) = a["padding"]
    verb = "crop" if min(t, b, lft, r) < 0 else "pad"
    return f"{verb} top {t} bottom {b} left {lft} right {r}"


register(OpDef("pad2d", _pad_infer_for(True), _pad_step, describe=_pad_describe))
# Files written before pad2d stored zero padding as "zero_pad2d" (same kernel).
register(OpDef("zero_pad2d", _pad_infer_for(False), _pad_step, c_op="pad2d", describe=_pad_describe))


# ---- resize2d: to a fixed size, or by integer factors; nearest or bilinear ----
def _resize_out(a: dict, h, w):
    if "size" in a:
        oh, ow = positive_ints(a, "size", 2, "resize2d")
        return oh, ow
    fh, fw = positive_ints(a, "factor", 2, "resize2d")
    return (None if h is None else h * fh), (None if w is None else w * fw)


def _resize_mode(a: dict) -> int:
    mode = a.get("mode", "nearest")
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"resize2d mode must be 'nearest' or 'bilinear', got {mode!r}")
    return int(mode == "bilinear")


def _resize_infer(a, ins):
    h, w, c = need_rank(ins, 3, "resize2d")
    _resize_mode(a)
    oh, ow = _resize_out(a, h, w)
    return (oh, ow, c)


def _resize_step(a, ins, out, batch) -> Step:
    h, w, c = ins[0]
    oh, ow = _resize_out(a, h, w)
    return Step(ints=[batch, h, w, c, oh, ow, _resize_mode(a)])


def _resize_describe(a: dict) -> str:
    how = f"to {a['size'][0]}x{a['size'][1]}" if "size" in a else f"x{a['factor'][0]}x{a['factor'][1]}"
    return f"{a.get('mode', 'nearest')} {how}"


register(OpDef("resize2d", _resize_infer, _resize_step, describe=_resize_describe,
               macs=lambda a, i, o: prod(o) * (4 if a.get("mode") == "bilinear" else 0) if known(o) else 0))


def _upsample_legacy(a: dict) -> dict:
    return {"mode": "nearest", "factor": a["size"]}


# Files written before resize2d stored nearest upsampling as "upsample_nearest2d" {"size": [fh, fw]}.
register(OpDef("upsample_nearest2d", lambda a, ins: _resize_infer(_upsample_legacy(a), ins),
               lambda a, ins, out, batch: _resize_step(_upsample_legacy(a), ins, out, batch), c_op="resize2d",
               describe=lambda a: _resize_describe(_upsample_legacy(a))))


# ---- transpose (per-sample axes; the batch axis stays first) ----
def _perm(a: dict, rank: int) -> list[int]:
    perm = [int(p) for p in a["perm"]]
    if sorted(perm) != list(range(rank)):
        raise ValueError(f"transpose perm {perm} is not a permutation of the {rank} per-sample axes")
    return perm


def _transpose_infer(a, ins):
    s = ins[0]
    return tuple(s[p] for p in _perm(a, len(s)))


def _transpose_step(a, ins, out, batch) -> Step:
    s = ins[0]
    perm = [0] + [p + 1 for p in _perm(a, len(s))]
    dims = [batch, *s]
    # merge axes that stay neighbours in the same order; drop size-1 axes
    keep = [ax for ax in range(len(dims)) if dims[ax] != 1] or [0]
    order = [ax for ax in perm if ax in keep]
    groups: list[list[int]] = []
    for ax in order:
        if groups and groups[-1][-1] + 1 == ax:
            groups[-1].append(ax)
        else:
            groups.append([ax])
    by_input = sorted(groups)
    new_dims = [prod([dims[ax] for ax in g]) for g in by_input]
    new_perm = [by_input.index(g) for g in groups]
    if len(new_dims) > 8:
        raise ValueError("transpose of more than 8 axes is not supported")
    return Step(ints=[len(new_dims), *new_dims, *new_perm], count=prod(dims))


register(OpDef("transpose", _transpose_infer, _transpose_step, describe=lambda a: f"perm {a['perm']}"))


# ---- expand_dims / squeeze: a size-1 axis in or out (aliases; 1-D layers run as 2-D) ----
def _expand_infer(a, ins):
    s = list(ins[0])
    axis = int(a["axis"])
    if not 0 <= axis <= len(s):
        raise ValueError(f"expand_dims axis {axis} out of range for a {len(s)}-D input")
    return tuple(s[:axis] + [1] + s[axis:])


def _squeeze_infer(a, ins):
    s = list(ins[0])
    axis = int(a["axis"])
    if not 0 <= axis < len(s) or s[axis] != 1:
        raise ValueError(f"squeeze axis {axis} of shape {tuple(s)} is not of size 1")
    return tuple(s[:axis] + s[axis + 1:])


register(OpDef("expand_dims", _expand_infer))
register(OpDef("squeeze", _squeeze_infer))


# ---- slice: per per-sample axis [start, stop) with step >= 1 (Python semantics, resolved here) ----
def _slice_bounds(a: dict, shape) -> list[tuple[int, int, int]]:
    """(start, count, step) per per-sample axis; attrs["slices"] holds [start, stop, step]
    per leading axis (None = default), like Python slices; missing trailing axes are whole."""
    specs = list(a["slices"])
    if len(specs) > len(shape):
        raise ValueError(f"{len(specs)} slices for a {len(shape)}-D input")
    out = []
    for axis, n in enumerate(shape):
        start, stop, step = specs[axis] if axis < len(specs) else (None, None, None)
        step = 1 if step is None else int(step)
        if step < 1:
            raise ValueError(f"slice step {step} on axis {axis + 1}: only positive steps are supported")
        if n is None:
            if (start, stop) != (None, None):
                raise ValueError(f"slicing axis {axis + 1} of unknown size")
            out.append((0, -1, step))
            continue
        lo, hi, _ = slice(start, stop, step).indices(n)
        count = max(0, -(-(hi - lo) // step))
        if count < 1:
            raise ValueError(f"slice {specs[axis]} of axis {axis + 1} (size {n}) is empty")
        out.append((lo, count, step))
    return out


def _slice_infer(a, ins):
    return tuple(None if c == -1 else c for _, c, _ in _slice_bounds(a, ins[0]))


def _slice_step(a, ins, out, batch) -> Step:
    bounds = _slice_bounds(a, ins[0])
    in_dims = [batch, *ins[0]]
    starts = [0] + [b[0] for b in bounds]
    steps = [1] + [b[2] for b in bounds]
    outs = [batch, *out]
    r = len(in_dims)
    if r > 8:
        raise ValueError("slicing more than 8 axes is not supported")
    return Step(ints=[r, *in_dims, *starts, *steps, *outs], count=prod(outs))


register(OpDef("slice", _slice_infer, _slice_step, describe=lambda a: f"slices {a['slices']}"))
