"""Which activation tensors a plan keeps in uint8 between int8 convolutions.

A convolution computing in int8 quantizes its float32 input over its calibrated range
(`convert --calibrate`) before it sums. When every reader of a tensor is such a
convolution with one and the same range, the layer that produces the tensor can write
it already quantized: it applies the very quantizer the readers would (src/conv2d_q8.c),
so the results are bitwise those of the float32 tensor, and the tensor takes a quarter
of the memory traffic. Max pooling in between commutes with the (monotonic)
quantization, so it pools the uint8 values. Producers are convolutions with an
element-wise activation that compute either in int8 over a calibrated range of their own
(a fixed quantization: no float32 fallback at run time) or in float32 on the direct
GEMM path with one group (VGG16's 3-channel first layer); tensors the caller reads
(model outputs) stay float32. Measured ranges cannot chain: they are known only once
the float32 tensor is.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from . import _kernels
from . import activations as acts
from .ops.conv import INT8_RANGE

Range = tuple[float, float]


def _calibrated_int8(node: Any, step: Any) -> Range | None:
    """The calibrated input range of a conv2d step computing in int8, if it quantizes."""
    if node.op != "conv2d" or len(step.ints) <= 17 or step.ints[17] != INT8_RANGE["calibrated"]:
        return None
    rng = (float(step.floats[0]), float(step.floats[1]))
    valid = math.isfinite(rng[0]) and math.isfinite(rng[1]) and rng[0] <= rng[1]  # else the step itself is refused
    return rng if valid and _kernels.int8_quantization(*rng) is not None else None


def _can_write_uint8(node: Any, step: Any) -> bool:
    """Whether a step can quantize its output in its store (src/conv2d.c's validator agrees)."""
    if node.op != "conv2d" or not acts.element_wise(node.attrs.get("activation")):
        return False
    mode = step.ints[17] if len(step.ints) > 17 else 0
    if mode:
        return _calibrated_int8(node, step) is not None
    return step.algo == 0 and step.ints[15] == 1  # float32: direct, one group


def uint8_tensors(graph: Any, steps: dict[int, Any]) -> dict[str, Range]:
    """Tensor name -> the range it is quantized over, for the tensors to keep in uint8.
    steps: node index -> its prepared Step (alias nodes have none)."""
    nodes = graph.nodes
    readers: dict[str, list[int]] = defaultdict(list)
    for i, node in enumerate(nodes):
        for t in node.inputs:
            readers[t].append(i)
    outputs = set(graph.outputs)
    calibrated = {i: r for i, st in steps.items() if (r := _calibrated_int8(nodes[i], st)) is not None}

    def read_as(t: str) -> Range | None:
        """The one range every reader of t quantizes it over (None: some reader needs float32)."""
        if t in outputs or not readers[t]:
            return None
        ranges = {calibrated.get(i) if nodes[i].inputs == [t] else None for i in readers[t]}
        return ranges.pop() if len(ranges) == 1 and None not in ranges else None

    kept: dict[str, Range] = {}
    for i, st in steps.items():
        node = nodes[i]
        if not _can_write_uint8(node, st):
            continue
        t = node.output
        rng = read_as(t)
        if rng is not None:
            kept[t] = rng
            continue
        pools = readers[t]
        if t in outputs or not pools or any(nodes[j].op != "max_pool2d" or nodes[j].inputs != [t] for j in pools):
            continue
        ranges = {read_as(nodes[j].output) for j in pools}
        if len(ranges) == 1 and None not in ranges:
            rng = ranges.pop()
            kept[t] = rng
            kept.update((nodes[j].output, rng) for j in pools)
    return kept
