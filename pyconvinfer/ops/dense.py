"""dense: y = act(x @ W + b) on the last axis (any leading axes)."""

from __future__ import annotations

from .. import _kernels, packing
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


def _dense_int8_step(a: dict, st: Step) -> Step | None:
    """Batch 1 computing in int8 (src/dense_q8.c): the input row quantized to uint8 over its
    measured range; batches keep float32 (their GEMM reuses each weight across rows)."""
    m, k, n = st.ints[:3]
    need = _kernels.dense_int8_scratch_floats(m, k)
    return None if need < 0 else Step(ints=[m, k, n, 1], scratch_shared=need)


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
               describe=lambda a: f"{a['in_features']}->{a['units']}", channels=_dense_channels,
               int8_step=_dense_int8_step))
