"""Conversion pass: a ZeroPadding2D feeding only a convolution becomes the
convolution's own padding.

MobileNetV2 and EfficientNet pad before every stride-2 depthwise convolution
(`correct_pad`: one row and column more at the bottom/right than at the top/left)
and then convolve with padding 'valid'. As a separate step the pad copies the
whole activation (block_1_pad: 112x112x96 floats, ~0.2 ms); as the convolution's
padding the taps that fall outside the image are skipped, which is what the
zeros they would read contribute. The result is the same arithmetic on the
same values: the sums of the padded positions are skipped terms of exactly 0.
"""

from __future__ import annotations

from .layers import RawNode


def _amounts(node: RawNode) -> tuple[int, int, int, int] | None:
    """A pad2d node's (top, bottom, left, right) when it only adds zeros, else None."""
    try:
        (t, b), (lft, r) = node.attrs["padding"]
        vals = tuple(int(v) for v in (t, b, lft, r))
    except (KeyError, TypeError, ValueError):
        return None
    if min(vals) < 0 or float(node.attrs.get("value", 0.0)) != 0.0:
        return None  # cropping, or a non-zero fill: not what a convolution's padding adds
    return vals  # type: ignore[return-value]


def _conv_pads(conv: RawNode) -> tuple[int, int, int, int] | None:
    """A conv2d node's explicit (top, bottom, left, right); None for 'same' (depends on the size)."""
    p = conv.attrs.get("padding")
    if p == "valid":
        return 0, 0, 0, 0
    try:
        (t, b), (lft, r) = p
        return int(t), int(b), int(lft), int(r)
    except (TypeError, ValueError):
        return None


def fold_pads(nodes: list[RawNode], outputs: list[str]) -> list[RawNode]:
    """Fold every zero pad2d whose output feeds one conv2d (and is no model output)
    into that conv2d's explicit padding; returns the nodes without those pads."""
    users: dict[str, list[RawNode]] = {}
    for n in nodes:
        for t in n.inputs:
            users.setdefault(t, []).append(n)
    keep, dropped = set(outputs), set()
    for pad in nodes:
        if pad.op != "pad2d" or pad.output in keep or len(pad.inputs) != 1:
            continue
        consumers = users.get(pad.output, [])
        if len(consumers) != 1 or consumers[0].op != "conv2d" or consumers[0].inputs != [pad.output]:
            continue
        conv = consumers[0]
        extra, own = _amounts(pad), _conv_pads(conv)
        if extra is None or own is None:
            continue
        t, b, lft, r = (e + o for e, o in zip(extra, own))
        conv.attrs = dict(conv.attrs, padding=[[t, b], [lft, r]])
        conv.inputs = list(pad.inputs)
        conv.name = f"{pad.name}+{conv.name}"
        conv.layers = list(pad.layers) + list(conv.layers)
        dropped.add(id(pad))
    return [n for n in nodes if id(n) not in dropped]
