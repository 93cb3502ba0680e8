"""What describes an op: `OpDef`, and the registry of them.

An OpDef is the one place an op is described. From it come: the shape rule
(conversion and planning), the C step's parameters, the weight roles (in the
C step's weight-slot order) and how the converter packs each, the scratch a
step needs, whether it takes a fused activation or absorbs a following
per-channel scale, and how `info`/`bench` describe it. The C side of the same
op is a row of src/op_table.h; `c_id` ties the two together.

Shapes are per sample, without the batch axis; during conversion height and
width may be None, at plan time everything is concrete. A node input may be a
weight tensor (a constant operand): its shape then comes as a `ConstShape`,
which is not batched.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import _kernels

Shape = tuple  # of Optional[int]


class ConstShape(tuple):
    """The shape of a constant operand (a weight tensor used as an input): no batch axis."""


@dataclass(frozen=True)
class Step:
    """The parameters of one C step (their meaning per op: src/op_table.h's kernel files)."""

    ints: Sequence[int] = ()
    rows: int = 0
    count: int = 0
    in_flags: Sequence[int] = ()
    algo: int = 0
    floats: Sequence[float] = ()
    scratch_floats: int = 0  # per thread
    scratch_shared: int = 0  # once, before the per-thread parts (Winograd weights transformed at run time)


def _no_macs(attrs: dict, ins: list[Shape], out: Shape) -> int:
    return 0


def _no_description(attrs: dict) -> str:
    return ""


def _as_float32(attrs: dict, role: str, arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=np.float32)


@dataclass(frozen=True)
class OpDef:
    name: str
    infer: Callable[[dict, list[Shape]], Shape]
    # The C step for concrete shapes (attrs, input shapes, output shape, batch); None: the
    # output is the input's memory under another shape (flatten, reshape, identity).
    step: Callable[[dict, list[Shape], Shape, int], Step] | None = None
    c_op: str | None = None                 # the src/op_table.h op it runs as (default: name)
    weights: tuple[str, ...] = ()           # roles, in the C step's weight-slot order
    pack: Callable[[dict, str, np.ndarray], np.ndarray] = _as_float32  # Keras layout -> file layout
    pack_key: Callable[[dict], Any] = lambda attrs: ()  # attrs that change the packed form
    activation: bool = False                # takes an element-wise attrs["activation"] fused into its stores
    row_activation: bool = False            # also softmax / log_softmax (over the last axis) there
    # absorbs a following per-channel (last-axis) scale and shift into its weights:
    # (raw weights, scale, shift) -> new raw weights (None: it cannot)
    fold_scale: Callable[[dict, dict, np.ndarray, np.ndarray], dict | None] | None = None
    # conversion-time choices (e.g. the Winograd algorithm): (attrs, input shapes, options) -> None
    configure: Callable[[dict, list[Shape], dict], None] | None = None
    macs: Callable[[dict, list[Shape], Shape], int] = _no_macs
    describe: Callable[[dict], str] = _no_description
    keeps_params: bool = True               # weights count as parameters in summaries
    # the packed "kernel"'s output-channel layout for int8 scales (quantize.py segments):
    # (attrs, packed size) -> [(first element, P, R, L)]; None: the op has no quantizable kernel
    channels: Callable[[dict, int], list[tuple[int, int, int, int]]] | None = None
    # the step computing in int8 on an int8 kernel (a CPU with int8 dot products): (attrs, the
    # float32 step) -> that step, or None where its shape has no int8 path
    int8_step: Callable[[dict, Step], Step | None] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def alias(self) -> bool:
        return self.step is None

    @property
    def c_id(self) -> int:
        return _kernels.OP_IDS[self.c_op or self.name]


REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in REGISTRY:
        raise RuntimeError(f"op {opdef.name!r} registered twice")
    if opdef.step is not None and (opdef.c_op or opdef.name) not in _kernels.OP_IDS:
        raise RuntimeError(f"op {opdef.name!r}: no C op {(opdef.c_op or opdef.name)!r} in src/op_table.h")
    REGISTRY[opdef.name] = opdef
    return opdef


# ---- helpers shared by the shape rules ----
def prod(shape: Sequence[int | None]) -> int:
    # Python ints: a forged shape such as [2**32, 2**32] must not wrap around or overflow
    # (an open dimension, None, still raises TypeError: "size unknown").
    return math.prod(operator.index(d) for d in shape)


def need_rank(in_shapes: list[Shape], rank: int, op: str) -> Shape:
    s = in_shapes[0]
    if len(s) != rank:
        raise ValueError(f"{op} expects a {rank}-D input per sample, got shape {tuple(s)}")
    return s


def positive_ints(attrs: dict, key: str, count: int, op: str, minimum: int = 1) -> list[int]:
    """attrs[key] as `count` ints >= minimum (file attributes are not trusted)."""
    v = attrs[key]
    if isinstance(v, (int, np.integer)):
        v = [v] * count
    if not isinstance(v, (list, tuple)) or len(v) != count:
        raise ValueError(f"{op}: {key} must be {count} integers, got {v!r}")
    out = []
    for d in v:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < minimum:
            raise ValueError(f"{op}: {key} must be integers >= {minimum}, got {v!r}")
        out.append(int(d))
    return out


def known(shape: Shape) -> bool:
    return all(d is not None for d in shape)
