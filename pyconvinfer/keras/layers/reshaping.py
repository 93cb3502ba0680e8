"""Handlers of the layers that move values: ZeroPadding2D, Cropping2D,
CenterCrop, UpSampling2D, Resizing and Permute (pad2d, resize2d, transpose)."""

from __future__ import annotations

import numpy as np

from . import Ctx, RawNode, handles, node


def _pairs(ctx: Ctx, key: str, default) -> list[list[int]]:
    """Keras's int | (sym_h, sym_w) | ((top, bottom), (left, right)) forms."""
    p = ctx.cfg.get(key, default)
    try:
        if isinstance(p, int):
            return [[p, p], [p, p]]
        if len(p) == 2 and all(isinstance(v, int) for v in p):
            return [[p[0], p[0]], [p[1], p[1]]]
        return [[int(p[0][0]), int(p[0][1])], [int(p[1][0]), int(p[1][1])]]
    except (TypeError, IndexError, ValueError):
        raise ctx.unsupported(key, p, "an int, a pair, or a pair of pairs") from None


@handles("ZeroPadding2D")
def _zeropad(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    ctx.rank(3)
    pads = _pairs(ctx, "padding", 1)
    if min(v for pair in pads for v in pair) < 0:
        raise ctx.unsupported("padding", ctx.cfg.get("padding"), "non-negative amounts")
    return [node(ctx, "pad2d", {"padding": pads})]


@handles("Cropping2D")
def _crop(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    h, w, _ = ctx.rank(3)
    crops = _pairs(ctx, "cropping", 0)
    if min(v for pair in crops for v in pair) < 0:
        raise ctx.unsupported("cropping", ctx.cfg.get("cropping"), "non-negative amounts")
    (t, b), (lft, r) = crops
    if (h is not None and h - t - b < 1) or (w is not None and w - lft - r < 1):
        raise ctx.fail(f"cropping {crops} leaves nothing of a {h}x{w} input")
    return [node(ctx, "pad2d", {"padding": [[-t, -b], [-lft, -r]]})]


def _f32_div_int(a: int, b: int) -> int:
    """int(float32(a) / b), Keras's float32 arithmetic for these crops and pads."""
    return int(np.float32(a) / np.float32(b))


def aspect_crop(h: int, w: int, th: int, tw: int) -> list[list[int]]:
    """The centred crop of an h x w image to the target's aspect ratio, as keras's
    smart_resize and Resizing(crop_to_aspect_ratio=True) compute it (negative pads)."""
    ch = max(min(h, _f32_div_int(w * th, tw)), 1)
    cw = max(min(w, _f32_div_int(h * tw, th)), 1)
    top, left = _f32_div_int(h - ch, 2), _f32_div_int(w - cw, 2)
    return [[-top, -(h - ch - top)], [-left, -(w - cw - left)]]


def aspect_pad(h: int, w: int, th: int, tw: int) -> list[list[int]]:
    """Resizing(pad_to_aspect_ratio=True): the same margin on both sides of the short axis."""
    ph = max(h, _f32_div_int(w * th, tw))
    pw = max(w, _f32_div_int(h * tw, th))
    top, left = _f32_div_int(ph - h, 2), _f32_div_int(pw - w, 2)
    return [[top, top], [left, left]]


def _crop_then_resize(ctx: Ctx, h, w, th: int, tw: int, mode: str, pad: bool = False,
                      fill: float = 0.0) -> list[RawNode]:
    if h is None or w is None:
        raise ctx.fail("cropping or padding to the aspect ratio needs a known input height and width")
    pads = aspect_pad(h, w, th, tw) if pad else aspect_crop(h, w, th, tw)
    nodes = [node(ctx, "pad2d", {"padding": pads, "value": fill})] if any(v for p in pads for v in p) else []
    return nodes + [node(ctx, "resize2d", {"mode": mode, "size": [th, tw]})]


@handles("CenterCrop")
def _center_crop(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    h, w, _ = ctx.rank(3)
    th, tw = int(ctx.cfg["height"]), int(ctx.cfg["width"])
    if h is None or w is None:
        raise ctx.fail("needs a known input height and width (the crop depends on them)")
    if h >= th and w >= tw:
        t, lft = (h - th) // 2, (w - tw) // 2
        return [node(ctx, "pad2d", {"padding": [[-t, -(h - th - t)], [-lft, -(w - tw - lft)]]})]
    return _crop_then_resize(ctx, h, w, th, tw, "bilinear")  # Keras: smart_resize when the input is smaller


_INTERPOLATIONS = ("nearest", "bilinear")


@handles("UpSampling2D")
def _upsample(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    ctx.rank(3)
    interp = ctx.cfg.get("interpolation", "nearest")
    if interp not in _INTERPOLATIONS:
        raise ctx.unsupported("interpolation", interp, "'nearest', 'bilinear'")
    return [node(ctx, "resize2d", {"mode": interp, "factor": list(ctx.pair("size", 2))})]


@handles("Resizing")
def _resizing(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    h, w, _ = ctx.rank(3)
    th, tw = int(ctx.cfg["height"]), int(ctx.cfg["width"])
    interp = ctx.cfg.get("interpolation", "bilinear")
    if interp not in _INTERPOLATIONS:
        raise ctx.unsupported("interpolation", interp, "'nearest', 'bilinear'")
    if ctx.cfg.get("antialias"):
        raise ctx.unsupported("antialias", True, "False")
    if ctx.cfg.get("pad_to_aspect_ratio"):
        if ctx.cfg.get("fill_mode", "constant") != "constant":
            raise ctx.unsupported("fill_mode", ctx.cfg.get("fill_mode"), "'constant'")
        fill = float(ctx.cfg.get("fill_value", 0.0) or 0.0)
        return _crop_then_resize(ctx, h, w, th, tw, interp, pad=True, fill=fill)
    if ctx.cfg.get("crop_to_aspect_ratio"):
        return _crop_then_resize(ctx, h, w, th, tw, interp)
    return [node(ctx, "resize2d", {"mode": interp, "size": [th, tw]})]


@handles("Permute")
def _permute(ctx: Ctx, arrays) -> list[RawNode]:
    dims = [int(d) for d in ctx.cfg["dims"]]
    rank = len(ctx.in_shapes[0])
    if sorted(dims) != list(range(1, rank + 1)):
        raise ctx.unsupported("dims", dims, f"a permutation of 1..{rank}")
    return [node(ctx, "transpose", {"perm": [d - 1 for d in dims]})]
