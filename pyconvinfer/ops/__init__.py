"""The op registry: one `OpDef` per op (see base.py), registered by the
modules below; `infer_shapes` runs the shape rules over a graph."""

from __future__ import annotations

import numpy as np

from . import conv, dense, elementwise, layout, pool  # noqa: F401  (each registers its ops)
from .base import REGISTRY, ConstShape, OpDef, Shape, Step, prod, register
from .conv import choose_algorithm, conv_ints, winograd_tile

__all__ = ["REGISTRY", "ConstShape", "OpDef", "Shape", "Step", "choose_algorithm", "conv_ints", "infer_shapes",
           "prod", "register", "winograd_tile"]


def infer_shapes(graph, input_shapes: dict[str, Shape]) -> dict[str, Shape]:
    """Shapes of every tensor, given per-sample input shapes; constant operands
    (weight tensors read as inputs) get a ConstShape. Raises ValueError naming
    the node whose shape rule fails."""
    shapes: dict[str, Shape] = dict(input_shapes)
    for node in graph.nodes:
        opdef = REGISTRY.get(node.op)
        if opdef is None:
            raise ValueError(f"node {node.name!r}: unknown op {node.op!r} (file from a newer pyconvinfer?)")
        ins = []
        for t in node.inputs:
            if t in shapes:
                ins.append(shapes[t])
            elif t in graph.weights:
                ins.append(ConstShape(graph.weights[t].shape))
            else:
                raise ValueError(f"node {node.name!r}: input {t!r} is neither a tensor nor a weight")
        try:
            shapes[node.output] = tuple(opdef.infer(node.attrs, ins))
        except (KeyError, TypeError, ZeroDivisionError, OverflowError, AttributeError, IndexError) as e:
            raise ValueError(f"node {node.name!r} ({node.op}): malformed attributes ({e!r})") from None
        except ValueError as e:
            raise ValueError(f"node {node.name!r} ({node.op}): {e}") from None
        out = shapes[node.output]
        if not all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)) for d in out):
            # attributes of the wrong type (a float size, say) must not reach the arena plan
            raise ValueError(f"node {node.name!r} ({node.op}): malformed attributes (output shape {out})")
        shapes[node.output] = tuple(None if d is None else int(d) for d in out)
    return shapes
