"""Handlers of operator layers: what `x + 3.0`, `x * y`, `tf.nn.relu6(x)` or
`keras.ops.mean(x, axis=(1, 2))` become when written inside a model.

tf.keras saves them as TFOpLambda / SlicingOpLambda layers (config
"function", e.g. "__operators__.add", the second operand in the call's
kwargs "y"); Keras 3 as layers of module keras.src.ops.* (handler key
"ops.<Class>", the operands in the call's args, options in the config).
Operands are tensors ("$k") or constants (numbers, lists), on either side.
Anything else is refused with its name and function."""

from __future__ import annotations

import numpy as np

from ... import activations as acts
from . import Ctx, RawNode, handles, node

_BINARY = {"add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "divide",
           "truediv": "divide", "maximum": "maximum", "minimum": "minimum", "sub": "subtract", "mul": "multiply"}
_ACTIVATIONS = {"relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid",
                "silu": "swish", "swish": "swish", "hard_silu": "hard_silu", "hard_swish": "hard_silu",
                "tanh": "tanh", "gelu": "gelu", "elu": "elu", "selu": "selu", "softplus": "softplus"}

# tf.keras TFOpLambda "function" -> the operation (and whether its operands come reversed: 3.0 - x)
_TF_FUNCTIONS = {
    "__operators__.add": ("add", False), "math.add": ("add", False), "__operators__.radd": ("add", True),
    "math.subtract": ("subtract", False), "__operators__.sub": ("subtract", False),
    "__operators__.rsub": ("subtract", True),
    "math.multiply": ("multiply", False), "__operators__.mul": ("multiply", False),
    "__operators__.rmul": ("multiply", True),
    "math.truediv": ("divide", False), "math.divide": ("divide", False), "__operators__.truediv": ("divide", False),
    "__operators__.rtruediv": ("divide", True),
    "math.maximum": ("maximum", False), "math.minimum": ("minimum", False),
    "nn.relu": ("relu", False), "nn.relu6": ("relu6", False), "math.sigmoid": ("sigmoid", False),
    "nn.sigmoid": ("sigmoid", False), "sigmoid": ("sigmoid", False), "nn.silu": ("swish", False),
    "nn.swish": ("swish", False), "math.tanh": ("tanh", False), "nn.tanh": ("tanh", False),
    "concat": ("concatenate", False), "reshape": ("reshape", False), "math.reduce_mean": ("mean", False),
    "reduce_mean": ("mean", False), "image.resize": ("resize", False), "__operators__.getitem": ("getitem", False),
}


def _operand(ctx: Ctx, v, name: str, nodes_constants: dict) -> str:
    """A tensor placeholder as is; a constant becomes a named constant operand."""
    if isinstance(v, str) and v.startswith("$"):
        return v
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ctx.fail(f"operand {v!r} is neither a tensor nor a number") from None
    if arr.dtype == object or not np.all(np.isfinite(arr)):
        raise ctx.fail(f"operand {v!r} is not a finite number or array")
    nodes_constants[name] = arr.astype(np.float32)
    return name


def _binary(ctx: Ctx, kind: str, a, b) -> list[RawNode]:
    consts: dict = {}
    ins = [_operand(ctx, a, "x", consts), _operand(ctx, b, "y", consts)]
    if not any(i.startswith("$") for i in ins):
        raise ctx.fail("both operands are constants")
    return [node(ctx, "binary", {"kind": kind, "activation": {"name": "linear"}}, inputs=ins, constants=consts)]


def _activation(ctx: Ctx, name: str) -> list[RawNode]:
    if name == "hard_sigmoid":  # keras.ops / tf.keras ops both: relu6(x + 3) / 6
        spec = acts.normalize({"name": "hard_sigmoid", "slope": 1.0 / 6.0, "offset": 0.5})
    else:
        spec = acts.normalize(name)
    return [node(ctx, "activation", {"activation": spec})]


def _batch_free_shape(ctx: Ctx, shape, key: str) -> list[int]:
    """A reshape target that includes the batch axis (-1 or None there) -> the per-sample target."""
    dims = list(shape)
    if not dims or dims[0] not in (-1, None):
        raise ctx.unsupported(key, shape, "a shape whose first (batch) entry is -1 or None")
    rest = [-1 if d is None else int(d) for d in dims[1:]]
    return rest


def _mean(ctx: Ctx, axis, keepdims: bool) -> list[RawNode]:
    rank = len(ctx.in_shapes[0]) + 1
    axes = sorted({int(a) % rank for a in ([axis] if isinstance(axis, int) else (axis or []))})
    if rank != 4 or axes != [1, 2]:
        raise ctx.unsupported("axis", axis, "the spatial axes (1, 2) of an (N, H, W, C) tensor")
    return [node(ctx, "global_avg_pool", {"keepdims": bool(keepdims)})]


def _concat(ctx: Ctx, values, axis) -> list[RawNode]:
    tensors = [v for v in values if isinstance(v, str) and v.startswith("$")]
    if len(tensors) != len(values):
        raise ctx.fail("concatenates constants; only tensors are supported")
    rank = len(ctx.in_shapes[0]) + 1
    ax = int(axis)
    if ax % rank == 0:
        raise ctx.unsupported("axis", axis, "a non-batch axis")
    return [node(ctx, "concat", {"axis": (ax % rank) - rank}, inputs=tensors)]


def _resize(ctx: Ctx, size, interpolation: str, cfg: dict) -> list[RawNode]:
    if interpolation not in ("nearest", "bilinear"):
        raise ctx.unsupported("interpolation", interpolation, "'nearest', 'bilinear'")
    for key in ("antialias", "crop_to_aspect_ratio", "pad_to_aspect_ratio", "preserve_aspect_ratio"):
        if cfg.get(key):
            raise ctx.unsupported(key, True, "False")
    if cfg.get("data_format") not in (None, "channels_last"):
        raise ctx.unsupported("data_format", cfg.get("data_format"), "'channels_last'")
    oh, ow = (int(v) for v in size)
    return [node(ctx, "resize2d", {"mode": interpolation, "size": [oh, ow]})]


def _getitem(ctx: Ctx, spec) -> list[RawNode]:
    """x[a:b:s, ...]: plain slices only (no integer index, Ellipsis or newaxis); the first
    entry is the batch axis and must be whole."""
    if not isinstance(spec, (list, tuple)):
        spec = [spec]
    slices = []
    for item in spec:
        if isinstance(item, dict) and item.get("class_name") == "__slice__":
            item = item.get("config", {})
        if not (isinstance(item, dict) and set(item) <= {"start", "stop", "step"}):
            raise ctx.unsupported("index", item, "slices start:stop:step (no integer index, Ellipsis or newaxis)")
        vals = [item.get(k) for k in ("start", "stop", "step")]
        if any(v is not None and not isinstance(v, int) for v in vals):
            raise ctx.unsupported("index", item, "integer slice bounds")
        slices.append(vals)
    if not slices or slices[0] != [None, None, None]:
        raise ctx.unsupported("index", spec, "slices that keep the whole batch axis")
    rest = slices[1:]
    if not rest or all(v == [None, None, None] for v in rest):
        return [node(ctx, "identity", {})]
    return [node(ctx, "slice", {"slices": rest})]


def _dispatch(ctx: Ctx, op: str, args: list, kw: dict) -> list[RawNode]:
    if op in _BINARY:
        operands = [a for a in args if a is not None] + [kw[k] for k in ("y", "x2") if k in kw]
        if len(operands) != 2:
            raise ctx.fail(f"{op} with {len(operands)} operands (expected 2)")
        return _binary(ctx, _BINARY[op], operands[0], operands[1])
    if op in _ACTIVATIONS:
        return _activation(ctx, _ACTIVATIONS[op])
    if op == "concatenate":
        values = args[0] if args and isinstance(args[0], list) else kw.get("values", kw.get("xs", args))
        return _concat(ctx, values, kw.get("axis", -1))
    if op == "reshape":
        shape = kw.get("shape", kw.get("newshape"))
        return [node(ctx, "reshape", {"target_shape": _batch_free_shape(ctx, shape, "shape")})]
    if op == "mean":
        return _mean(ctx, kw.get("axis"), bool(kw.get("keepdims", False)))
    if op == "resize":
        return _resize(ctx, kw["size"], kw.get("interpolation", kw.get("method", "bilinear")), kw)
    raise ctx.fail(f"unsupported operation {op!r}")


@handles("TFOpLambda", "SlicingOpLambda")
def _tf_op(ctx: Ctx, arrays) -> list[RawNode]:
    fn = str(ctx.cfg.get("function", ""))
    if fn not in _TF_FUNCTIONS:
        raise ctx.fail(f"unsupported TensorFlow operation {fn!r} (supported: {', '.join(sorted(_TF_FUNCTIONS))})")
    op, reverse = _TF_FUNCTIONS[fn]
    kw = {k: v for k, v in ctx.kwargs.items() if k != "name"}
    args = list(ctx.args)
    if op in _BINARY.values() or op in _BINARY:
        a, b = args[0], kw.pop("y", None)
        if b is None:
            raise ctx.fail(f"{fn} without its second operand")
        return _binary(ctx, op, b, a) if reverse else _binary(ctx, op, a, b)
    if op == "concatenate":
        values = kw.pop("values", None) or args
        return _concat(ctx, values, kw.get("axis", -1))
    if op == "getitem":
        return _getitem(ctx, kw.get("slice_spec"))
    if op == "resize":
        kw.setdefault("interpolation", kw.pop("method", "bilinear"))
    return _dispatch(ctx, op, args[1:] if op == "concatenate" else args, kw)


# Keras 3 operation classes (module keras.src.ops.*) -> the operation
_K3_OPS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Divide": "divide", "TrueDivide": "divide",
           "Maximum": "maximum", "Minimum": "minimum", "Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid",
           "HardSigmoid": "hard_sigmoid", "Silu": "silu", "Swish": "silu", "HardSilu": "hard_silu", "Tanh": "tanh",
           "Gelu": "gelu", "Concatenate": "concatenate", "Reshape": "reshape", "Mean": "mean", "Resize": "resize",
           "GetItem": "getitem"}


def _k3_op(ctx: Ctx, arrays) -> list[RawNode]:
    cls = ctx.cls.split(".", 1)[1]
    op = _K3_OPS[cls]
    cfg = {k: v for k, v in ctx.cfg.items() if k not in ("name", "dtype", "trainable")}
    if op == "gelu" and cfg.get("approximate"):
        return [node(ctx, "activation", {"activation": acts.normalize({"name": "gelu", "approximate": True})})]
    args = list(ctx.args)
    kw = dict(cfg)
    kw.update({k: v for k, v in ctx.kwargs.items()})
    if op in _BINARY:
        operands = args + [kw[k] for k in ("x2", "y") if k in kw]
        if len(operands) != 2:
            raise ctx.fail(f"{cls} with {len(operands)} operands (expected 2)")
        return _binary(ctx, _BINARY[op], operands[0], operands[1])
    if op == "reshape":
        kw["shape"] = kw.get("newshape", kw.get("shape"))
    if op == "resize":
        return _resize(ctx, kw["size"], kw.get("interpolation", "bilinear"), kw)
    if op == "getitem":
        return _getitem(ctx, args[1] if len(args) > 1 else kw.get("key"))
    return _dispatch(ctx, op, args, kw)


handles(*(f"ops.{c}" for c in _K3_OPS))(_k3_op)
