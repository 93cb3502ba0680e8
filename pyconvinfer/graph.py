"""Graph of Nodes: what the converter produces and the model file stores.

Tensors are named; a Node reads input tensors and writes one output tensor.
A node input may also name a weight tensor (a constant operand, e.g. the 3.0
of `x + 3.0`). Shapes are per sample (no batch axis); height and width may be
None when the Keras model left them open, and are fixed by the first predict
call. Every activation tensor has a dtype (float32 is the only one the
kernels compute in today; the file records it so that others can follow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TENSOR_DTYPES = ("float32",)  # activation tensors the kernels compute in


def input_dims(shape: Any) -> list:
    """A per-sample input shape from a file (a .pci header or a Keras config): up to 8
    positive JSON integers or null (open)."""
    if (not isinstance(shape, list) or len(shape) > 8
            or not all(d is None or (type(d) is int and d > 0) for d in shape)):
        raise ValueError(f"input shape {shape!r} is not a list of at most 8 positive integers or null")
    return list(shape)


def _dict(v: Any) -> dict:
    if not isinstance(v, dict):
        raise TypeError(f"expected an object, got {v!r:.60}")
    return dict(v)


@dataclass
class Node:
    name: str                      # the Keras layer(s) it came from, e.g. "conv1+bn1"
    op: str                        # a key of ops.REGISTRY
    inputs: list[str]              # tensor names
    output: str                    # tensor name
    attrs: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)  # role -> tensor-table name
    layers: list[str] = field(default_factory=list)        # Keras layers folded into it
    dtype: str = "float32"                                  # of the output tensor


@dataclass
class Graph:
    inputs: list[dict[str, Any]]   # [{"name": tensor, "shape": [H, W, C] with None allowed, "dtype": ...}]
    outputs: list[str]             # tensor names, in the model's output order
    nodes: list[Node]
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_header(self) -> dict[str, Any]:
        return {
            "format": "pyconvinfer",
            "metadata": self.metadata,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "nodes": [
                {"name": n.name, "op": n.op, "inputs": n.inputs, "output": n.output, "dtype": n.dtype,
                 "attrs": n.attrs, "weights": n.weights, "layers": n.layers}
                for n in self.nodes
            ],
        }

    @classmethod
    def from_header(cls, header: dict[str, Any], weights: dict[str, np.ndarray]) -> Graph:
        """Rebuild and check structure: every input defined before use, every
        weight present. Raises ValueError with what is wrong."""
        try:
            inputs = [{"name": str(i["name"]), "shape": input_dims(i["shape"]), "dtype": str(i.get("dtype", "float32"))}
                      for i in header["inputs"]]
            outputs = [str(o) for o in header["outputs"]]
            nodes = [
                Node(str(n["name"]), str(n["op"]), [str(t) for t in n["inputs"]], str(n["output"]),
                     _dict(n.get("attrs", {})), {str(k): str(v) for k, v in _dict(n.get("weights", {})).items()},
                     [str(x) for x in n.get("layers", [])], str(n.get("dtype", "float32")))
                for n in header["nodes"]
            ]
            metadata = _dict(header.get("metadata", {}))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise ValueError(f"graph header is malformed ({e!r})") from None
        g = cls(inputs, outputs, nodes, weights, metadata)
        g.check()
        return g

    def dtypes(self) -> dict[str, str]:
        """The dtype of every activation tensor (inputs and node outputs), in one pass."""
        out = {i["name"]: i.get("dtype", "float32") for i in self.inputs}
        out.update((n.output, n.dtype) for n in self.nodes)
        return out

    def check(self) -> None:
        if not self.inputs or not self.outputs:
            raise ValueError(f"the model has {len(self.inputs)} inputs and {len(self.outputs)} outputs; "
                             "it needs at least one of each")
        defined = {i["name"] for i in self.inputs}
        if len(defined) != len(self.inputs):
            raise ValueError("duplicate input names")
        names: set[str] = set()
        for i in self.inputs:
            if i.get("dtype", "float32") not in TENSOR_DTYPES:
                raise ValueError(f"input {i['name']!r} has dtype {i.get('dtype')!r}; supported: {TENSOR_DTYPES}")
        from . import activations as acts  # here: ops and activations import this module's users
        from .ops import REGISTRY

        for node in self.nodes:
            if node.op not in REGISTRY:
                raise ValueError(f"node {node.name!r} has unknown op {node.op!r}")
            params = node.attrs.get("params", 0)  # the converter's parameter count, for summaries
            if type(params) is not int or params < 0:
                raise ValueError(f"node {node.name!r}: params {params!r} is not a non-negative integer")
            try:  # what summaries read of the attributes (the kernels' own checks come at planning)
                REGISTRY[node.op].describe(node.attrs)
            except (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError) as e:
                shown = ", ".join(f"{k}={v!r}" for k, v in node.attrs.items())
                raise ValueError(f"node {node.name!r} ({node.op}): attributes are not valid "
                                 f"({type(e).__name__}: {e}): {shown[:300]}") from None
            if REGISTRY[node.op].activation and "activation" in node.attrs:
                try:  # a file's activation must be one the kernels know, with parameters of the right types
                    acts.encode(node.attrs["activation"])
                except (ValueError, KeyError, TypeError, IndexError, OverflowError) as e:
                    raise ValueError(f"node {node.name!r}: activation {node.attrs['activation']!r} is not valid "
                                     f"({type(e).__name__}: {e})") from None
            if node.name in names:
                raise ValueError(f"duplicate node name {node.name!r}")
            names.add(node.name)
            if node.dtype not in TENSOR_DTYPES:
                raise ValueError(f"node {node.name!r} output dtype {node.dtype!r}; supported: {TENSOR_DTYPES}")
            if not node.inputs:
                raise ValueError(f"node {node.name!r} has no inputs")
            for t in node.inputs:
                if t not in defined and t not in self.weights:
                    raise ValueError(f"node {node.name!r} reads tensor {t!r} before it is produced")
            if node.output in defined or node.output in self.weights:
                raise ValueError(f"tensor {node.output!r} is produced twice")
            defined.add(node.output)
            for role, w in node.weights.items():
                if w not in self.weights:
                    raise ValueError(f"node {node.name!r} needs weight {w!r} ({role}), not in the file")
        for o in self.outputs:
            if o not in defined:
                raise ValueError(f"output {o!r} is not produced by any node")
