"""Keras layers -> graph nodes. Each handler checks every option first and
raises ConversionError naming the layer, its class and the unsupported option.

Handlers receive raw weights in Keras layouts; packing happens after the
graph-level passes (batch-norm folding, activation fusion) in convert.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import activations as acts
from .. import packing
from ..errors import ConversionError


@dataclass
class RawNode:
    name: str
    op: str
    inputs: list[str]
    output: str
    attrs: dict[str, Any]
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # role -> Keras-layout array
    layers: list[str] = field(default_factory=list)


IDENTITY_LAYERS = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                   "GaussianDropout", "AlphaDropout", "ActivityRegularization"}
WEIGHTED_LAYERS = {"Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "Dense", "BatchNormalization",
                   "Convolution2D", "Deconvolution2D"}


class Ctx:
    """What a handler knows: the layer, its input shapes, the Keras generation."""

    def __init__(self, layer: str, cls: str, cfg: dict, in_shapes: list[tuple], generation: int):
        self.layer, self.cls, self.cfg, self.in_shapes, self.generation = layer, cls, cfg, in_shapes, generation

    def fail(self, what: str) -> ConversionError:
        return ConversionError(f"layer {self.layer!r} ({self.cls}): {what}")

    def unsupported(self, option: str, value: Any, allowed: str) -> ConversionError:
        return self.fail(f"unsupported option {option}={value!r} (supported: {allowed})")

    def pair(self, key: str, default: Any = None) -> tuple[int, int]:
        v = self.cfg.get(key, default)
        if isinstance(v, int):
            return (v, v)
        if isinstance(v, (list, tuple)) and len(v) == 2:
            return (int(v[0]), int(v[1]))
        raise self.unsupported(key, v, "an int or a pair")

    def channels_last(self) -> None:
        df = self.cfg.get("data_format") or "channels_last"
        if df != "channels_last":
            raise self.unsupported("data_format", df, "'channels_last'")

    def padding(self) -> str:
        p = str(self.cfg.get("padding", "valid")).lower()
        if p not in ("valid", "same"):
            raise self.unsupported("padding", p, "'valid', 'same'")
        return p

    def activation(self, key: str = "activation") -> dict:
        return keras_activation(self.cfg.get(key), self.generation, self)

    def rank(self, r: int) -> tuple:
        s = self.in_shapes[0]
        if len(s) != r:
            raise self.fail(f"expects a {r}-D input per sample (H, W, C), got shape {tuple(s)}")
        return s

    def weights(self, arrays: list[tuple[str, np.ndarray]], roles: list[str],
                shapes: dict[str, tuple]) -> dict[str, np.ndarray]:
        """Assign arrays to roles: by weight name where the file has names, else by order."""
        if len(arrays) != len(roles):
            raise self.fail(f"expected {len(roles)} weights ({', '.join(roles)}), the file has {len(arrays)}"
                            + (f": {[n for n, _ in arrays]}" if arrays else ""))
        named = {}
        for wname, arr in arrays:
            role = weight_role(wname)
            if role in roles and role not in named:
                named[role] = arr
        out = named if len(named) == len(roles) else dict(zip(roles, (a for _, a in arrays)))
        for role in roles:
            want, got = tuple(shapes[role]), tuple(out[role].shape)
            if want != got:
                raise self.fail(f"weight {role} has shape {got}, expected {want}")
        return {r: np.asarray(a, dtype=np.float32) for r, a in out.items()}


_ROLE_ALIASES = {"depthwise_kernel": "kernel", "w": "kernel", "b": "bias"}


def weight_role(wname: str) -> str:
    """'conv2d/kernel:0', 'block1_conv1_W_1:0', 'layers/conv2d/vars/0' -> 'kernel', 'kernel', '0'."""
    last = wname.split("/")[-1]
    last = last.split(":")[0]
    for suffix in ("_W", "_b"):
        base = last.rsplit("_", 1)
        if len(base) == 2 and base[1].isdigit() and base[0].endswith(suffix):
            last = base[0]
    if last.endswith("_W"):
        return "kernel"
    if last.endswith("_b"):
        return "bias"
    low = last.lower()
    return _ROLE_ALIASES.get(low, low)


def keras_activation(spec: Any, generation: int, ctx: Ctx | None = None) -> dict:
    """A Keras activation config (string, or Keras 3 serialized dict) -> normalized spec.

    Every Keras 3 activation is accepted by name, with Keras's defaults (the
    parameters of celu, hard_shrink, soft_shrink, squareplus take their
    defaults: a saved config holds only the name). `threshold` has no defaults
    and is refused by name. glu and log_softmax come back as their specs
    ({"name": "glu"} / {"name": "log_softmax"}): the caller routes them (glu
    halves the last axis, so it cannot fuse into a conv)."""
    if isinstance(spec, dict):
        cfg = spec.get("config")
        name = cfg if isinstance(cfg, str) else (cfg or {}).get("name") or spec.get("class_name")
    else:
        name = spec
    if name in (None, "linear"):
        return {"name": "linear"}
    name = str(name)
    if name == "hard_sigmoid" and generation == 2:
        return acts.normalize({"name": "hard_sigmoid", "slope": 0.2, "offset": 0.5})
    try:
        return acts.normalize(name)
    except ValueError as e:
        if name in acts.KINDS:  # a known kind whose Keras form cannot be stored (threshold's arguments)
            msg = f"activation {name!r} cannot be converted: {e}"
        else:
            supported = ", ".join(sorted(set(acts.KINDS) | set(acts.ALIASES)))
            msg = f"unsupported activation {name!r} (supported: {supported})"
        raise (ctx.fail(msg) if ctx else ConversionError(msg)) from None


Handler = Callable[[Ctx, list[tuple[str, np.ndarray]]], list[RawNode]]
HANDLERS: dict[str, Handler] = {}


def handles(*classes: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for c in classes:
            HANDLERS[c] = fn
        return fn
    return deco


def _node(ctx: Ctx, op: str, attrs: dict, raw: dict | None = None) -> RawNode:
    return RawNode(ctx.layer, op, [], "", attrs, raw or {}, [ctx.layer])


def _use_bias(ctx: Ctx) -> bool:
    return bool(ctx.cfg.get("use_bias", True))


@handles("Conv2D", "Convolution2D")
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


@handles("DepthwiseConv2D")
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


@handles("Conv2DTranspose", "Convolution2DTranspose", "Deconvolution2D")
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


@handles("Dense")
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


HANDLERS["MaxPooling2D"] = HANDLERS["MaxPool2D"] = _pool("max_pool2d")
HANDLERS["AveragePooling2D"] = HANDLERS["AvgPool2D"] = _pool("avg_pool2d")


def _gpool(op: str):
    def handler(ctx: Ctx, arrays) -> list[RawNode]:
        ctx.channels_last()
        ctx.rank(3)
        return [_node(ctx, op, {"keepdims": bool(ctx.cfg.get("keepdims", False))})]
    return handler


HANDLERS["GlobalAveragePooling2D"] = HANDLERS["GlobalAvgPool2D"] = _gpool("global_avg_pool")
HANDLERS["GlobalMaxPooling2D"] = HANDLERS["GlobalMaxPool2D"] = _gpool("global_max_pool")


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


@handles("BatchNormalization")
def _batchnorm(ctx: Ctx, arrays) -> list[RawNode]:
    s = ctx.in_shapes[0]
    axis = ctx.cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis not in (-1, len(s)):  # Keras 2 stores [3] for NHWC
        raise ctx.unsupported("axis", ctx.cfg.get("axis"), "the last axis (-1)")
    if ctx.cfg.get("renorm"):
        raise ctx.unsupported("renorm", True, "False")
    c = s[-1]
    scale, center = bool(ctx.cfg.get("scale", True)), bool(ctx.cfg.get("center", True))
    roles = (["gamma"] if scale else []) + (["beta"] if center else []) + ["moving_mean", "moving_variance"]
    wts = ctx.weights(arrays, roles, {r: (c,) for r in roles})
    eps = float(ctx.cfg.get("epsilon", 1e-3))
    gamma = wts.get("gamma", np.ones(c, np.float32)).astype(np.float64)
    beta = wts.get("beta", np.zeros(c, np.float32)).astype(np.float64)
    inv = gamma / np.sqrt(wts["moving_variance"].astype(np.float64) + eps)
    shift = beta - wts["moving_mean"].astype(np.float64) * inv
    return [_node(ctx, "scale_shift", {"channels": c, "activation": {"name": "linear"}, "epsilon": eps},
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


@handles("ZeroPadding2D")
def _zeropad(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    ctx.rank(3)
    p = ctx.cfg.get("padding", 1)
    if isinstance(p, int):
        pads = [[p, p], [p, p]]
    elif len(p) == 2 and all(isinstance(v, int) for v in p):
        pads = [[p[0], p[0]], [p[1], p[1]]]
    else:
        pads = [[int(p[0][0]), int(p[0][1])], [int(p[1][0]), int(p[1][1])]]
    return [_node(ctx, "zero_pad2d", {"padding": pads})]


@handles("UpSampling2D")
def _upsample(ctx: Ctx, arrays) -> list[RawNode]:
    ctx.channels_last()
    ctx.rank(3)
    interp = ctx.cfg.get("interpolation", "nearest")
    if interp != "nearest":
        raise ctx.unsupported("interpolation", interp, "'nearest'")
    return [_node(ctx, "upsample_nearest2d", {"size": list(ctx.pair("size", 2))})]


@handles("Add")
def _add(ctx: Ctx, arrays) -> list[RawNode]:
    if len(ctx.in_shapes) < 2:
        raise ctx.fail("needs at least two inputs")
    return [_node(ctx, "add", {"activation": {"name": "linear"}})]


@handles("Concatenate")
def _concat(ctx: Ctx, arrays) -> list[RawNode]:
    axis = int(ctx.cfg.get("axis", -1))
    rank = len(ctx.in_shapes[0])  # per sample; Keras counts the batch axis as 0
    if axis == 0 or not -rank <= axis <= rank:
        raise ctx.unsupported("axis", axis, f"a non-batch axis (1..{rank} or -1..-{rank})")
    return [_node(ctx, "concat", {"axis": axis if axis < 0 else axis - rank - 1})]
