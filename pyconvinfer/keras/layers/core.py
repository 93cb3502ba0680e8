"""Handlers of the core layers: convolutions, dense, pooling, flatten/reshape,
identities, batch normalization, activation layers, padding, upsampling,
add and concatenate."""

from __future__ import annotations

import numpy as np

from ... import activations as acts
from ... import packing
from . import IDENTITY_LAYERS, Ctx, RawNode, handles
from . import node as _node
from . import use_bias as _use_bias


@handles("Conv2D", "Convolution2D", weighted=True)
def _conv2d(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    h, w, c = ctx.rank(3)
    kh, kw = ctx.pair("kernel_size")
    groups = int(ctx.cfg.get("groups", 1) or 1)
    filters = int(ctx.cfg["filters"])
    if c % groups or filters % groups:
        raise ctx.fail(f"groups={groups} must divide input channels {c} and filters {filters}")
    roles = ["kernel"] + (["bias"] if _use_bias(ctx) else [])
    wts = ctx.weights(arrays, roles, {"kernel": (kh, kw, c // groups, filters), "bias": (filters,)})
    attrs = {"kernel_size": [kh, kw], "strides": list(ctx.pair("strides", 1)),
             "dilation": list(ctx.pair("dilation_rate", 1)), "padding": ctx.padding(), "groups": groups,
             "filters": filters, "in_channels": c, "activation": ctx.activation()}
    return [_node(ctx, "conv2d", attrs, wts)]


@handles("DepthwiseConv2D", weighted=True)
def _depthwise(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    h, w, c = ctx.rank(3)
    kh, kw = ctx.pair("kernel_size")
    dm = int(ctx.cfg.get("depth_multiplier", 1))
    roles = ["kernel"] + (["bias"] if _use_bias(ctx) else [])
    wts = ctx.weights(arrays, roles, {"kernel": (kh, kw, c, dm), "bias": (c * dm,)})
    wts["kernel"] = packing.depthwise_as_conv(wts["kernel"])  # grouped conv, output c*dm+m
    attrs = {"kernel_size": [kh, kw], "strides": list(ctx.pair("strides", 1)),
             "dilation": list(ctx.pair("dilation_rate", 1)), "padding": ctx.padding(), "groups": c,
             "filters": c * dm, "in_channels": c, "activation": ctx.activation()}
    return [_node(ctx, "conv2d", attrs, wts)]


@handles("Conv2DTranspose", "Convolution2DTranspose", "Deconvolution2D", weighted=True)
def _tconv(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    h, w, c = ctx.rank(3)
    kh, kw = ctx.pair("kernel_size")
    if ctx.pair("dilation_rate", 1) != (1, 1):
        raise ctx.unsupported("dilation_rate", ctx.cfg.get("dilation_rate"), "1")
    if int(ctx.cfg.get("groups", 1) or 1) != 1:
        raise ctx.unsupported("groups", ctx.cfg.get("groups"), "1")
    filters = int(ctx.cfg["filters"])
    strides = ctx.pair("strides", 1)
    op = ctx.cfg.get("output_padding")
    if op is not None:
        op = [op, op] if isinstance(op, int) else [int(v) for v in op]
        for v, s in zip(op, strides):
            if not 0 <= v < s:
                raise ctx.unsupported("output_padding", op, "values >= 0 and smaller than the stride")
    roles = ["kernel"] + (["bias"] if _use_bias(ctx) else [])
    wts = ctx.weights(arrays, roles, {"kernel": (kh, kw, filters, c), "bias": (filters,)})
    attrs = {"kernel_size": [kh, kw], "strides": list(strides), "padding": ctx.padding(),
             "output_padding": op, "filters": filters, "in_channels": c, "activation": ctx.activation()}
    return [_node(ctx, "conv2d_transpose", attrs, wts)]


@handles("Dense", weighted=True)
def _dense(ctx: Ctx, arrays) -> list[RawNode]:
    s = ctx.in_shapes[0]
    if not s:
        raise ctx.fail("needs an input with a feature axis")
    k, units = s[-1], int(ctx.cfg["units"])
    roles = ["kernel"] + (["bias"] if _use_bias(ctx) else [])
    wts = ctx.weights(arrays, roles, {"kernel": (k, units), "bias": (units,)})
    return [_node(ctx, "dense", {"units": units, "in_features": k, "activation": ctx.activation()}, wts)]


def _pool(op: str):
    def handler(ctx: Ctx, arrays) -> list[RawNode]:
        ctx.channels_last()
        ctx.rank(3)
        ps = ctx.pair("pool_size", 2)
        st = ctx.cfg.get("strides")
        strides = ps if st is None else ctx.pair("strides")
        return [_node(ctx, op, {"pool_size": list(ps), "strides": list(strides), "padding": ctx.padding()})]
    return handler


handles("MaxPooling2D", "MaxPool2D")(_pool("max_pool2d"))
handles("AveragePooling2D", "AvgPool2D")(_pool("avg_pool2d"))


def _gpool(op: str):
    def handler(ctx: Ctx, arrays) -> list[RawNode]:
        ctx.channels_last()
        ctx.rank(3)
        return [_node(ctx, op, {"keepdims": bool(ctx.cfg.get("keepdims", False))})]
    return handler


handles("GlobalAveragePooling2D", "GlobalAvgPool2D")(_gpool("global_avg_pool"))
handles("GlobalMaxPooling2D", "GlobalMaxPool2D")(_gpool("global_max_pool"))


@handles("Flatten")
def _flatten(ctx: Ctx, arrays) -> list[RawNode]:
    if len(ctx.in_shapes[0]) > 1:
        ctx.channels_last()
    return [_node(ctx, "flatten", {})]


@handles("Reshape")
def _reshape(ctx: Ctx, arrays) -> list[RawNode]:
    return [_node(ctx, "reshape", {"target_shape": [int(d) for d in ctx.cfg["target_shape"]]})]


@handles(*sorted(IDENTITY_LAYERS), "__Identity__")
def _identity(ctx: Ctx, arrays) -> list[RawNode]:
    return [_node(ctx, "identity", {})]


@handles("BatchNormalization", weighted=True)
def _batchnorm(ctx: Ctx, arrays) -> list[RawNode]:
    s = ctx.in_shapes[0]
    rank = len(s)  # per sample; Keras counts the batch axis as 0
    axis = ctx.cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis == 0 or not -rank <= axis <= rank:
        raise ctx.unsupported("axis", ctx.cfg.get("axis"), f"one non-batch axis (1..{rank} or -1..-{rank})")
    if ctx.cfg.get("renorm"):
        raise ctx.unsupported("renorm", True, "False")
    if ctx.cfg.get("virtual_batch_size") is not None:
        raise ctx.unsupported("virtual_batch_size", ctx.cfg.get("virtual_batch_size"), "None")
    ax = axis - rank - 1 if axis > 0 else axis  # negative, per sample
    c = s[ax]
    if c is None:
        raise ctx.fail(f"normalizes axis {axis}, whose size is unknown")
    scale, center = bool(ctx.cfg.get("scale", True)), bool(ctx.cfg.get("center", True))
    roles = (["gamma"] if scale else []) + (["beta"] if center else []) + ["moving_mean", "moving_variance"]
    wts = ctx.weights(arrays, roles, {r: (c,) for r in roles})
    eps = float(ctx.cfg.get("epsilon", 1e-3))
    gamma = wts.get("gamma", np.ones(c, np.float32)).astype(np.float64)
    beta = wts.get("beta", np.zeros(c, np.float32)).astype(np.float64)
    inv = gamma / np.sqrt(wts["moving_variance"].astype(np.float64) + eps)
    shift = beta - wts["moving_mean"].astype(np.float64) * inv
    return [_node(ctx, "scale_shift", {"channels": c, "axis": ax, "activation": {"name": "linear"}, "epsilon": eps},
                  {"scale": inv.astype(np.float32), "shift": shift.astype(np.float32)})]


@handles("Activation")
def _activation(ctx: Ctx, arrays) -> list[RawNode]:
    spec = ctx.activation()
    return [_node(ctx, "activation", {"activation": spec})]


@handles("ReLU")
def _relu(ctx: Ctx, arrays) -> list[RawNode]:
    mv = ctx.cfg.get("max_value")
    spec = acts.normalize({"name": "relu", "max_value": mv,
                           "negative_slope": float(ctx.cfg.get("negative_slope", 0.0) or 0.0),
                           "threshold": float(ctx.cfg.get("threshold", 0.0) or 0.0)})
    return [_node(ctx, "activation", {"activation": spec})]


@handles("LeakyReLU")
def _leaky(ctx: Ctx, arrays) -> list[RawNode]:
    slope = ctx.cfg.get("negative_slope", ctx.cfg.get("alpha", 0.3))
    return [_node(ctx, "activation", {"activation": acts.normalize(("leaky_relu", {"alpha": float(slope)}))})]


@handles("ELU")
def _elu(ctx: Ctx, arrays) -> list[RawNode]:
    return [_node(ctx, "activation", {"activation": {"name": "elu", "alpha": float(ctx.cfg.get("alpha", 1.0))}})]


@handles("Softmax")
def _softmax(ctx: Ctx, arrays) -> list[RawNode]:
    axis = ctx.cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if axis not in (-1, len(ctx.in_shapes[0])):
        raise ctx.unsupported("axis", ctx.cfg.get("axis"), "the last axis (-1)")
    return [_node(ctx, "activation", {"activation": {"name": "softmax"}})]
