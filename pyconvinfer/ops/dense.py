"""dense: y = act(x @ W + b) on the last axis (any leading axes)."""

from __future__ import annotations

from .. import packing
from .base import OpDef, Step, prod, register


def _dense_infer(a, ins):
    s = ins[0]
    if not s or s[-1] != a["in_features"]:
        raise ValueError(f"dense expects {a['in_features']} features on the last axis, got shape {tuple(s)}")
    if any(d is None for d in s):
        raise ValueError("dense needs a fully known input shape (Flatten after an input of unknown size?)")
    if not isinstance(a["units"], int) or a["units"] < 1:
        raise ValueError(f"dense units must be a positive integer, got {a['units']!r}")
    return tuple(s[:-1]) + (a["units"],)


def _dense_step(a, ins, out, batch) -> Step:
    k = a["in_features"]
    return Step(ints=[batch * prod(ins[0]) // k, k, a["units"]])


def _dense_pack(a: dict, role: str, arr):
    return packing.pack_dense(arr) if role == "kernel" else packing.as_float32(arr)


def _dense_channels(a: dict, size: int) -> list[tuple[int, int, int, int]]:
    return [(0, -(-a["units"] // packing.NR), a["in_features"], packing.NR)]


def _dense_fold_scale(a: dict, raw: dict, scale, shift) -> dict:
    from .conv import _conv_fold_scale

    return _conv_fold_scale(a, raw, scale, shift)


register(OpDef("dense", _dense_infer, _dense_step, weights=("kernel", "bias", "kernel_scale"), pack=_dense_pack,
               activation=True,
               row_activation=True,
               fold_scale=_dense_fold_scale, macs=lambda a, i, o: prod(i[0]) * a["units"],
               describe=lambda a: f"{a['in_features']}->{a['units']}", channels=_dense_channels))
