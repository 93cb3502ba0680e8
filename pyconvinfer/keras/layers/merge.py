"""Handlers of the merge layers: Add, Subtract, Multiply, Maximum, Minimum,
Average (the element-wise `binary` op, Keras broadcasting) and Concatenate."""

from __future__ import annotations

from . import Ctx, RawNode, handles, node

_KINDS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Maximum": "maximum",
          "Minimum": "minimum", "Average": "average"}


def _merge(ctx: Ctx, arrays) -> list[RawNode]:
    kind = _KINDS[ctx.cls]
    if len(ctx.in_shapes) < 2:
        raise ctx.fail("needs at least two inputs")
    if kind == "subtract" and len(ctx.in_shapes) != 2:
        raise ctx.fail(f"needs exactly two inputs, got {len(ctx.in_shapes)}")
    return [node(ctx, "binary", {"kind": kind, "activation": {"name": "linear"}})]


handles(*_KINDS)(_merge)


@handles("Concatenate")
def _concat(ctx: Ctx, arrays) -> list[RawNode]:
    axis = int(ctx.cfg.get("axis", -1))
    rank = len(ctx.in_shapes[0])  # per sample; Keras counts the batch axis as 0
    if axis == 0 or not -rank <= axis <= rank:
        raise ctx.unsupported("axis", axis, f"a non-batch axis (1..{rank} or -1..-{rank})")
    return [node(ctx, "concat", {"axis": axis if axis < 0 else axis - rank - 1})]
