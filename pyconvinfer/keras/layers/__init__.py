"""Keras layers -> graph nodes. Each handler checks every option first and
raises ConversionError naming the layer, its class and the unsupported option.

Handlers receive raw weights in Keras layouts; packing happens after the
graph-level passes (batch-norm folding, activation fusion) in convert.py.
A handler returns RawNodes. By default they form a chain (the first reads the
layer's inputs, each next one the previous output); a node may instead list
its inputs with placeholders: "$0", "$1", ... the layer's inputs, "$prev" the
previous node's output, or the name of one of its `constants` (a constant
operand stored in the model file).

Adding a Keras layer that maps onto existing ops = a handler in one of the
modules below (decorated with @handles) plus its tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ... import activations as acts
from ...errors import ConversionError


@dataclass
class RawNode:
    name: str
    op: str
    inputs: list[str]
    output: str
    attrs: dict[str, Any]
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # role -> Keras-layout array
    layers: list[str] = field(default_factory=list)
    constants: dict[str, np.ndarray] = field(default_factory=dict)  # constant operands by input name
    part: int = 0  # index among the nodes its layer's handler made (set by the converter)


IDENTITY_LAYERS = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                   "GaussianDropout", "AlphaDropout", "ActivityRegularization"}
# Layer classes whose handler reads weights (filled by @handles(..., weighted=...)): Keras
# matches the saved layers with weights to the model's by position, so the converter must know.
# A value is True, or a predicate on the layer config (Normalization given its mean in the
# config has no weights).
WEIGHTED_LAYERS: dict[str, Any] = {}


def has_weights(cls: str, cfg: dict) -> bool:
    w = WEIGHTED_LAYERS.get(cls, False)
    return bool(w(cfg) if callable(w) else w)


class Ctx:
    """What a handler knows: the layer, its input shapes, the Keras generation."""

    def __init__(self, layer: str, cls: str, cfg: dict, in_shapes: list[tuple], generation: int,
                 args: list | None = None, kwargs: dict | None = None):
        self.layer, self.cls, self.cfg, self.in_shapes, self.generation = layer, cls, cfg, in_shapes, generation
        # the call's arguments, tensors as "$k" (operator layers read their constants here)
        self.args = list(args) if args else [f"${i}" for i in range(len(in_shapes))]
        self.kwargs = dict(kwargs or {})

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
    ({"name": "glu"} / {"name": "log_softmax"}): the converter routes them (glu
    halves the last axis, so it becomes its own op after the layer)."""
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


def handles(*classes: str, weighted: Any = False) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for c in classes:
            if c in HANDLERS:
                raise RuntimeError(f"Keras class {c!r} has two handlers")
            HANDLERS[c] = fn
            if weighted:
                WEIGHTED_LAYERS[c] = weighted
        return fn
    return deco


def node(ctx: Ctx, op: str, attrs: dict, raw: dict | None = None, inputs: list[str] | None = None,
         constants: dict[str, np.ndarray] | None = None) -> RawNode:
    return RawNode(ctx.layer, op, list(inputs or []), "", attrs, raw or {}, [ctx.layer],
                   {k: np.asarray(v, dtype=np.float32) for k, v in (constants or {}).items()})


def use_bias(ctx: Ctx) -> bool:
    return bool(ctx.cfg.get("use_bias", True))


from . import (  # noqa: E402,F401
    core,  # noqa: E402,F401  (each module registers its handlers)
    merge,
    normalization,
    oned,
    operators,
    preprocessing,
    reshaping,
)
