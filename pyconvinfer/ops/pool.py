"""Pooling: max/avg over windows (one C op, pool2d) and global max/avg (global_pool)."""

from __future__ import annotations

from .base import OpDef, Step, need_rank, register
from .conv import _axis


def _pool_geometry(a, s):
    from .base import positive_ints

    h, w, c = s
    kh, kw = positive_ints(a, "pool_size", 2, "pooling")
    sh, sw = positive_ints(a, "strides", 2, "pooling")
    if a["padding"] not in ("valid", "same"):
        raise ValueError(f"pooling padding must be 'valid' or 'same', got {a['padding']!r}")
    oh, pt = _axis(h, kh, sh, 1, a["padding"])
    ow, pl = _axis(w, kw, sw, 1, a["padding"])
    return oh, ow, pt, pl


def _pool_infer(a, ins):
    h, w, c = need_rank(ins, 3, "pooling")
    oh, ow, _, _ = _pool_geometry(a, ins[0])
    return (oh, ow, c)


def _pool_step(is_max: int):
    def step(a, ins, out, batch) -> Step:
        h, wd, c = ins[0]
        oh, ow, pt, pl = _pool_geometry(a, ins[0])
        (kh, kw), (sh, sw) = a["pool_size"], a["strides"]
        return Step(ints=[batch, h, wd, c, oh, ow, kh, kw, sh, sw, pt, pl, is_max])
    return step


def _pool_describe(a: dict) -> str:
    (kh, kw), (sh, sw) = a["pool_size"], a["strides"]
    return f"{kh}x{kw} stride {sh}x{sw} {a['padding']}"


for _name, _is_max in (("max_pool2d", 1), ("avg_pool2d", 0)):
    register(OpDef(_name, _pool_infer, _pool_step(_is_max), c_op="pool2d", describe=_pool_describe))


def _gpool_infer(a, ins):
    h, w, c = need_rank(ins, 3, "global pooling")
    return (1, 1, c) if a.get("keepdims") else (c,)


def _gpool_step(is_max: int):
    def step(a, ins, out, batch) -> Step:
        h, wd, c = ins[0]
        return Step(ints=[batch, h * wd, c, is_max])
    return step


register(OpDef("global_avg_pool", _gpool_infer, _gpool_step(0), c_op="global_pool"))
register(OpDef("global_max_pool", _gpool_infer, _gpool_step(1), c_op="global_pool"))
