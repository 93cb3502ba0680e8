"""Stored weight precision: float16, bfloat16 and symmetric per-channel int8.

The converter packs a kernel in float32 first (packing.py), then stores it in the
precision asked for. The C kernels widen each stored weight to float32 in registers
(float16: IEEE binary16; bfloat16: the upper 16 bits of a float32; int8: q * scale
of its output channel, rounded to float32), so a model computes exactly what the
float32 kernels compute on `dequantize(stored)`: tests compare bitwise against that.

int8 scales are per output channel of the *packed* layout. A packed kernel is one
or more segments, each a (P, R, L) block: P groups of L channels (a 16-wide panel,
or all channels of a depthwise kernel), R weights per channel. Every segment of a
kernel shares one scale array of P * L floats (conv2d_transpose's phases are
segments of the same output channels). Scale = max |w| / 127 over the channel's
weights in every segment; a channel of zeros gets scale 0 (its q are 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WEIGHT_DTYPES = ("float32", "float16", "bfloat16", "int8")
# numpy's storage for each (bfloat16 has no numpy type: its bits, as uint16)
STORAGE = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2"), "bfloat16": np.dtype("<u2"),
           "int8": np.dtype("i1")}
INT8_MAX = 127

Segment = tuple[int, int, int, int]  # (first element, P, R, L)


def check_dtype(dtype: str) -> str:
    if dtype not in WEIGHT_DTYPES:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_DTYPES)}, got {dtype!r}")
    return dtype


def to_bfloat16(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits (uint16), rounding to nearest even; NaN stays NaN."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + (0x7FFF + ((bits >> 16) & 1))) >> 16  # uint32 arithmetic: no overflow for finite values
    nan = np.isnan(x)
    out = rounded.astype(np.uint16)
    if nan.any():
        out[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)  # keep it a (quiet) NaN
    return out


def bfloat16_to_float32(b: np.ndarray) -> np.ndarray:
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _segment_view(arr: np.ndarray, seg: Segment) -> np.ndarray:
    start, p, r, lanes = seg
    return arr[start:start + p * r * lanes].reshape(p, r, lanes)


def _check_segments(size: int, segments: Sequence[Segment]) -> tuple[int, int]:
    if not segments:
        raise ValueError("int8 needs the kernel's channel layout")
    p0, l0 = segments[0][1], segments[0][3]
    end = 0
    for start, p, r, lanes in segments:
        if (p, lanes) != (p0, l0) or start < end or start + p * r * lanes > size:
            raise ValueError(f"bad channel segments {list(segments)} for {size} weights")
        end = start + p * r * lanes
    return p0, l0


CHUNK = 1 << 22  # elements per step of the int8 loops: VGG16's fc1 (103 M weights) never needs a float64 copy


def _panel_chunks(seg: Segment):
    """(first, last) panel ranges of about CHUNK elements each."""
    _, p, r, lanes = seg
    step = max(1, CHUNK // max(1, r * lanes))
    for p0 in range(0, p, step):
        yield p0, min(p, p0 + step)


def int8_scales(packed: np.ndarray, segments: Sequence[Segment]) -> np.ndarray:
    """Per-channel scales (P * L float32) of a packed float32 kernel."""
    p, lanes = _check_segments(packed.size, segments)
    amax = np.zeros((p, lanes), dtype=np.float32)
    for seg in segments:
        v = _segment_view(packed, seg)
        if v.shape[1]:
            for p0, p1 in _panel_chunks(seg):
                np.maximum(amax[p0:p1], np.abs(v[p0:p1]).max(axis=1), out=amax[p0:p1])
    return (amax.astype(np.float64) / INT8_MAX).astype(np.float32).reshape(-1)


def quantize_int8(packed: np.ndarray, segments: Sequence[Segment]) -> tuple[np.ndarray, np.ndarray]:
    """Packed float32 -> (int8 q of the same layout, float32 scales P * L). Round half to even."""
    packed = np.ascontiguousarray(packed, dtype=np.float32).reshape(-1)
    if not np.isfinite(packed).all():
        raise ValueError("int8 cannot store a kernel with inf or NaN weights")
    scale = int8_scales(packed, segments)
    p, lanes = segments[0][1], segments[0][3]
    inv = np.divide(1.0, scale.astype(np.float64), out=np.zeros(scale.size), where=scale > 0).reshape(p, 1, lanes)
    q = np.zeros(packed.size, dtype=np.int8)  # elements outside every segment (none today) stay 0
    for seg in segments:
        src, dst = _segment_view(packed, seg), _segment_view(q, seg)
        for p0, p1 in _panel_chunks(seg):
            v = src[p0:p1].astype(np.float64) * inv[p0:p1]
            dst[p0:p1] = np.clip(np.rint(v), -INT8_MAX, INT8_MAX).astype(np.int8)
    return q, scale


def store(packed: np.ndarray, dtype: str, segments: Sequence[Segment] | None = None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """A packed float32 kernel in the stored precision: (data, int8 scales or None)."""
    packed = np.ascontiguousarray(packed, dtype=np.float32).reshape(-1)
    if check_dtype(dtype) == "float32":
        return packed, None
    if dtype == "float16":
        return packed.astype(np.float16), None
    if dtype == "bfloat16":
        return to_bfloat16(packed), None
    return quantize_int8(packed, segments or ())


def dequantize(data: np.ndarray, dtype: str, scale: np.ndarray | None = None,
               segments: Sequence[Segment] | None = None) -> np.ndarray:
    """What the kernels compute with: each stored weight widened to float32 (flat)."""
    data = np.asarray(data).reshape(-1)
    if check_dtype(dtype) == "float32":
        return data.astype(np.float32)
    if dtype == "float16":
        return data.astype(np.float32)
    if dtype == "bfloat16":
        return bfloat16_to_float32(data)
    if scale is None or not segments:
        raise ValueError("int8 weights need their scales and channel layout")
    _check_segments(data.size, segments)
    p, lanes = segments[0][1], segments[0][3]
    s = np.asarray(scale, dtype=np.float32).reshape(p, 1, lanes)
    out = np.zeros(data.size, dtype=np.float32)
    for seg in segments:
        _segment_view(out, seg)[...] = _segment_view(data, seg).astype(np.float32) * s  # float32 product, as in C
    return out


def quantize_weights(nodes: Sequence, tensors: dict[str, np.ndarray], dtype: str) -> dict[str, str]:
    """Store every node's quantizable "kernel" (ops with OpDef.channels) in `dtype`,
    replacing it in `tensors`; int8 kernels get a float32 "<kernel>_scale" tensor,
    which their nodes read as the "kernel_scale" weight. Biases, normalisation
    parameters and constants stay float32. A kernel shared by several nodes is
    stored once. Returns {int8 tensor: its scale tensor} (for the tensor table)."""
    from .ops import REGISTRY

    check_dtype(dtype)
    scales: dict[str, str] = {}
    done: dict[str, str | None] = {}
    for node in nodes:
        name = node.weights.get("kernel")
        channels = REGISTRY[node.op].channels
        if dtype == "float32" or name is None or channels is None:
            continue
        if name not in done:
            data, scale = store(tensors[name], dtype, channels(node.attrs, int(tensors[name].size)))
            tensors[name] = data
            done[name] = None
            if scale is not None:
                sname = name + "_scale"
                while sname in tensors:
                    sname += "_"
                tensors[sname] = scale
                scales[name] = done[name] = sname
        if done[name]:
            node.weights["kernel_scale"] = done[name]
    return scales
