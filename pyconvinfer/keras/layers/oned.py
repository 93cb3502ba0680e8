"""Handlers of the 1-D layers (Conv1D, pooling, padding, cropping, upsampling)
over (steps, channels): each runs on the 2-D op with a unit height, between an
expand_dims and a squeeze (both free: they only rename memory)."""

from __future__ import annotations

from . import Ctx, RawNode, handles, node, use_bias


def _one(ctx: Ctx, key: str, default=None) -> int:
    v = ctx.cfg.get(key, default)
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise ctx.unsupported(key, v, "one integer")
        v = v[0]
    if not isinstance(v, int):
        raise ctx.unsupported(key, v, "an integer")
    return v


def _wrap(ctx: Ctx, inner: list[RawNode]) -> list[RawNode]:
    return [node(ctx, "expand_dims", {"axis": 0}), *inner, node(ctx, "squeeze", {"axis": 0})]


def _rank2(ctx: Ctx) -> tuple:
    df = ctx.cfg.get("data_format") or "channels_last"
    if df != "channels_last":
        raise ctx.unsupported("data_format", df, "'channels_last'")
    s = ctx.in_shapes[0]
    if len(s) != 2:
        raise ctx.fail(f"expects a 2-D input per sample (steps, channels), got shape {tuple(s)}")
    return s


@handles("Conv1D", "Convolution1D", weighted=True)
def _conv1d(ctx: Ctx, arrays) -> list[RawNode]:
    steps, c = _rank2(ctx)
    k, s, d = _one(ctx, "kernel_size"), _one(ctx, "strides", 1), _one(ctx, "dilation_rate", 1)
    groups = int(ctx.cfg.get("groups", 1) or 1)
    filters = int(ctx.cfg["filters"])
    if c % groups or filters % groups:
        raise ctx.fail(f"groups={groups} must divide input channels {c} and filters {filters}")
    padding = str(ctx.cfg.get("padding", "valid")).lower()
    if padding not in ("valid", "same", "causal"):
        raise ctx.unsupported("padding", padding, "'valid', 'same', 'causal'")
    roles = ["kernel"] + (["bias"] if use_bias(ctx) else [])
    wts = ctx.weights(arrays, roles, {"kernel": (k, c // groups, filters), "bias": (filters,)})
    wts["kernel"] = wts["kernel"].reshape(1, k, c // groups, filters)
    nodes = []
    if padding == "causal":  # zeros before the sequence only, then a valid convolution
        nodes.append(node(ctx, "pad2d", {"padding": [[0, 0], [(k - 1) * d, 0]]}))
        padding = "valid"
    attrs = {"kernel_size": [1, k], "strides": [1, s], "dilation": [1, d], "padding": padding, "groups": groups,
             "filters": filters, "in_channels": c, "activation": ctx.activation()}
    return _wrap(ctx, nodes + [node(ctx, "conv2d", attrs, wts)])


def _pool1d(op: str):
    def handler(ctx: Ctx, arrays) -> list[RawNode]:
        _rank2(ctx)
        p = _one(ctx, "pool_size", 2)
        st = ctx.cfg.get("strides")
        s = p if st is None else _one(ctx, "strides")
        padding = str(ctx.cfg.get("padding", "valid")).lower()
        if padding not in ("valid", "same"):
            raise ctx.unsupported("padding", padding, "'valid', 'same'")
        return _wrap(ctx, [node(ctx, op, {"pool_size": [1, p], "strides": [1, s], "padding": padding})])
    return handler


handles("MaxPooling1D", "MaxPool1D")(_pool1d("max_pool2d"))
handles("AveragePooling1D", "AvgPool1D")(_pool1d("avg_pool2d"))


def _gpool1d(op: str):
    def handler(ctx: Ctx, arrays) -> list[RawNode]:
        _rank2(ctx)
        keep = bool(ctx.cfg.get("keepdims", False))
        # (steps, C) -> (1, steps, C) -> global pool: (C,) or (1, 1, C); Keras keepdims gives (1, C)
        nodes = [node(ctx, "expand_dims", {"axis": 0}), node(ctx, op, {"keepdims": keep})]
        return nodes + ([node(ctx, "squeeze", {"axis": 0})] if keep else [])
    return handler


handles("GlobalMaxPooling1D", "GlobalMaxPool1D")(_gpool1d("global_max_pool"))
handles("GlobalAveragePooling1D", "GlobalAvgPool1D")(_gpool1d("global_avg_pool"))


def _amounts(ctx: Ctx, key: str, default) -> tuple[int, int]:
    v = ctx.cfg.get(key, default)
    if isinstance(v, int):
        return v, v
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and x >= 0 for x in v):
        return int(v[0]), int(v[1])
    raise ctx.unsupported(key, v, "an int or a pair of non-negative ints")


@handles("ZeroPadding1D")
def _zeropad1d(ctx: Ctx, arrays) -> list[RawNode]:
    _rank2(ctx)
    a, b = _amounts(ctx, "padding", 1)
    return _wrap(ctx, [node(ctx, "pad2d", {"padding": [[0, 0], [a, b]]})])


@handles("Cropping1D")
def _crop1d(ctx: Ctx, arrays) -> list[RawNode]:
    steps, _ = _rank2(ctx)
    a, b = _amounts(ctx, "cropping", 1)
    if steps is not None and steps - a - b < 1:
        raise ctx.fail(f"cropping ({a}, {b}) leaves nothing of {steps} steps")
    return _wrap(ctx, [node(ctx, "pad2d", {"padding": [[0, 0], [-a, -b]]})])


@handles("UpSampling1D")
def _upsample1d(ctx: Ctx, arrays) -> list[RawNode]:
    _rank2(ctx)
    size = _one(ctx, "size", 2)
    return _wrap(ctx, [node(ctx, "resize2d", {"mode": "nearest", "factor": [1, size]})])
