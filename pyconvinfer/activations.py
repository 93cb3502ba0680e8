"""Activation names -> the C kernels' (kind, p0, p1, p2) encoding.

One table serves the kernel API, the converter and the model file; the kind
ids come from src/act_table.h through the compiled module (`ACT_KINDS`), never
from a list kept here. Keras defaults that differ between layer and function
(LeakyReLU layer 0.3 vs `leaky_relu` 0.2) and between generations
(hard_sigmoid) are resolved by the converter before it gets here."""

from __future__ import annotations

import math
from typing import Any, Union

from ._kernels import ACT_KINDS, ACT_SHAPES

KINDS: dict[str, int] = dict(ACT_KINDS)
# "elementwise", "row" (softmax, log_softmax: over the last axis) or "halves" (glu).
SHAPES: dict[str, str] = dict(ACT_SHAPES)
ALIASES = {"silu": "swish", "hard_swish": "hard_silu", "relu6": "relu", "leaky_relu": "relu"}

# Each parameterised kind: its Keras parameter names and defaults, in the
# order they go to p0, p1, p2 (None: the parameter is required).
PARAMS: dict[str, dict[str, float | None]] = {
    "elu": {"alpha": 1.0},
    "celu": {"alpha": 1.0},
    "hard_sigmoid": {"slope": 1.0 / 6.0, "offset": 0.5},  # Keras 3 (x / 6 + 0.5); Keras 2 files pass 0.2
    "hard_shrink": {"threshold": 0.5},
    "soft_shrink": {"threshold": 0.5},
    "squareplus": {"b": 4.0},
    "threshold": {"threshold": None, "default_value": None},
}
# Row kinds and glu take Keras's `axis`; only the last axis is supported.
AXIS_KINDS = ("softmax", "log_softmax", "glu", "sparsemax")

ActivationSpec = Union[str, "tuple[str, dict[str, Any]]", dict, None]


def _number(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"activation {name!r}: {key} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"activation {name!r}: {key} must be finite, got {value!r}")
    return v


def _check_axis(name: str, params: dict[str, Any]) -> None:
    axis = params.pop("axis", -1)
    if axis != -1:
        raise ValueError(f"activation {name!r}: only axis=-1 (the last axis) is supported, got axis={axis!r}")


def normalize(spec: ActivationSpec) -> dict[str, Any]:
    """Canonical form {"name": ..., **params} with every parameter explicit."""
    if spec is None:
        return {"name": "linear"}
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name")
    else:
        name, params = spec[0], dict(spec[1])
    if name == "relu6":
        return {"name": "relu", "max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0}
    if name == "leaky_relu":
        slope = params.get("negative_slope", params.get("alpha", 0.2))
        return {"name": "relu", "max_value": None, "negative_slope": float(slope), "threshold": 0.0}
    name = ALIASES.get(name, name)
    if name not in KINDS:
        raise ValueError(f"unknown activation {name!r}; supported: {', '.join(sorted(KINDS) + sorted(ALIASES))}")
    if name == "relu":
        mv = params.get("max_value")
        return {"name": "relu", "max_value": None if mv is None else float(mv),
                "negative_slope": float(params.get("negative_slope", 0.0)),
                "threshold": float(params.get("threshold", 0.0))}
    if name == "gelu":
        approximate = params.pop("approximate", False)
        if params:
            raise ValueError(f"activation 'gelu' takes only approximate, got {sorted(params)}")
        return {"name": "gelu_tanh" if approximate else "gelu"}
    if name in AXIS_KINDS:
        _check_axis(name, params)
    if name in PARAMS:
        unknown = sorted(set(params) - set(PARAMS[name]))
        if unknown:
            raise ValueError(f"activation {name!r} takes {sorted(PARAMS[name])}, got unknown {unknown}")
        out: dict[str, Any] = {"name": name}
        for key, default in PARAMS[name].items():
            if key not in params and default is None:
                raise ValueError(f"activation {name!r} needs {key} (Keras has no default for it)")
            out[key] = _number(name, key, params.get(key, default))
        if name == "celu" and out["alpha"] <= 0:
            raise ValueError(f"activation 'celu': alpha must be > 0, got {out['alpha']}")
        if name == "squareplus" and out["b"] < 0:
            raise ValueError(f"activation 'squareplus': b must be >= 0, got {out['b']}")
        return out
    if params:
        raise ValueError(f"activation {name!r} takes no parameters, got {sorted(params)}")
    return {"name": name}


def encode(spec: ActivationSpec) -> tuple[int, tuple[float, float, float]]:
    """(kind, (p0, p1, p2)) for the C kernels."""
    a = normalize(spec)
    name = a["name"]
    if name == "relu":
        mv = a["max_value"]
        return KINDS[name], (math.inf if mv is None else mv, a["negative_slope"], a["threshold"])
    values = [a[key] for key in PARAMS.get(name, {})]
    p = (values + [0.0, 0.0, 0.0])[:3]
    return KINDS[name], (p[0], p[1], p[2])


def is_linear(spec: ActivationSpec) -> bool:
    return normalize(spec)["name"] == "linear"


def shape_class(spec: ActivationSpec) -> str:
    """"elementwise", "row" (over the last axis, same length) or "halves" (glu)."""
    return SHAPES[normalize(spec)["name"]]


def element_wise(spec: ActivationSpec) -> bool:
    """Whether an activation maps each value alone (it may then fuse into any op's stores)."""
    return shape_class(spec) == "elementwise"
