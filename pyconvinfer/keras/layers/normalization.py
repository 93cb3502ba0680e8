"""Handlers of LayerNormalization, ConvNeXt's LayerScale, SeparableConv2D and
PReLU: layers with weights that map onto existing ops."""

from __future__ import annotations

import numpy as np

from . import Ctx, RawNode, handles, node, use_bias


@handles("LayerNormalization", weighted=lambda cfg: cfg.get("scale", True) or cfg.get("center", True))
def _layer_norm(ctx: Ctx, arrays) -> list[RawNode]:
    s = ctx.in_shapes[0]
    rank = len(s)
    axis = ctx.cfg.get("axis", -1)
    axes = [axis] if isinstance(axis, int) else list(axis)
    if len(axes) != 1 or int(axes[0]) not in (-1, rank):
        raise ctx.unsupported("axis", axis, f"the last axis (-1 or {rank})")
    if ctx.cfg.get("rms_scaling"):
        raise ctx.unsupported("rms_scaling", True, "False")
    c = s[-1]
    scale, center = bool(ctx.cfg.get("scale", True)), bool(ctx.cfg.get("center", True))
    roles = (["gamma"] if scale else []) + (["beta"] if center else [])
    wts = ctx.weights(arrays, roles, {r: (c,) for r in roles})
    eps = float(ctx.cfg.get("epsilon", 1e-3))
    return [node(ctx, "layer_norm", {"channels": c, "epsilon": eps, "activation": {"name": "linear"}}, wts)]


@handles("LayerScale", weighted=True)
def _layer_scale(ctx: Ctx, arrays) -> list[RawNode]:
    """keras.applications.convnext.LayerScale: x * gamma over the last axis."""
    c = ctx.in_shapes[0][-1]
    if len(arrays) != 1 or tuple(arrays[0][1].shape) != (c,):
        raise ctx.fail(f"expected one weight of shape ({c},), the file has {[a.shape for _, a in arrays]}")
    return [node(ctx, "binary", {"kind": "multiply", "activation": {"name": "linear"}}, inputs=["$0", "gamma"],
                 constants={"gamma": arrays[0][1]})]


@handles("SeparableConv2D", "SeparableConvolution2D", weighted=True)
def _separable(ctx: Ctx, arrays) -> list[RawNode]:
    """A depthwise convolution (strides, dilation, padding) then a 1x1 convolution (bias, activation)."""
    ctx.channels_last()
    h, w, c = ctx.rank(3)
    kh, kw = ctx.pair("kernel_size")
    dm = int(ctx.cfg.get("depth_multiplier", 1))
    filters = int(ctx.cfg["filters"])
    roles = ["depthwise_kernel", "pointwise_kernel"] + (["bias"] if use_bias(ctx) else [])
    wts = ctx.weights(arrays, roles, {"depthwise_kernel": (kh, kw, c, dm), "pointwise_kernel": (1, 1, c * dm, filters),
                                      "bias": (filters,)})
    depthwise = {"kernel_size": [kh, kw], "strides": list(ctx.pair("strides", 1)),
                 "dilation": list(ctx.pair("dilation_rate", 1)), "padding": ctx.padding(), "groups": c,
                 "filters": c * dm, "in_channels": c, "activation": {"name": "linear"}}
    pointwise = {"kernel_size": [1, 1], "strides": [1, 1], "dilation": [1, 1], "padding": "valid", "groups": 1,
                 "filters": filters, "in_channels": c * dm, "activation": ctx.activation()}
    dk = wts["depthwise_kernel"].reshape(kh, kw, 1, c * dm)  # grouped-conv layout, output c*dm+m
    raw = {"kernel": wts["pointwise_kernel"]}
    if "bias" in wts:
        raw["bias"] = wts["bias"]
    return [node(ctx, "conv2d", depthwise, {"kernel": dk}), node(ctx, "conv2d", pointwise, raw)]


@handles("PReLU", weighted=True)
def _prelu(ctx: Ctx, arrays) -> list[RawNode]:
    """x > 0 ? x : alpha * x with alpha shaped like a sample, size 1 on the shared axes."""
    s = ctx.in_shapes[0]
    shared = ctx.cfg.get("shared_axes") or []
    shared = [shared] if isinstance(shared, int) else list(shared)
    if any(not 1 <= int(a) <= len(s) for a in shared):
        raise ctx.unsupported("shared_axes", shared, f"axes 1..{len(s)}")
    want = tuple(1 if i + 1 in shared else d for i, d in enumerate(s))
    if len(arrays) != 1:
        raise ctx.fail(f"expected one weight (alpha), the file has {len(arrays)}")
    alpha = np.asarray(arrays[0][1], dtype=np.float32)
    if None in want or tuple(alpha.shape) != want:
        raise ctx.fail(f"weight alpha has shape {alpha.shape}, expected {want}")
    return [node(ctx, "binary", {"kind": "prelu", "activation": {"name": "linear"}}, inputs=["$0", "alpha"],
                 constants={"alpha": alpha})]
