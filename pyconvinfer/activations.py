"""Activation names -> the C kernels' (kind, p0, p1, p2) encoding.

One table serves the kernel API, the converter and the model file. Keras
defaults that differ between layer and function (LeakyReLU layer 0.3 vs
`leaky_relu` 0.2) and between generations (hard_sigmoid) are resolved by the
converter before it gets here."""

from __future__ import annotations

import math
from typing import Any, Union

KINDS = {
    "linear": 0,
    "relu": 1,
    "elu": 2,
    "selu": 3,
    "sigmoid": 4,
    "hard_sigmoid": 5,
    "tanh": 6,
    "softplus": 7,
    "softsign": 8,
    "swish": 9,
    "gelu": 10,
    "gelu_tanh": 11,
    "exponential": 12,
    "softmax": 13,
    "hard_silu": 14,
    "mish": 15,
}
ALIASES = {"silu": "swish", "hard_swish": "hard_silu", "relu6": "relu", "leaky_relu": "relu"}

ActivationSpec = Union[str, "tuple[str, dict[str, Any]]", dict, None]


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
        return {"name": "relu", "max_value": None, "negative_slope": float(params.get("alpha", 0.2)),
                "threshold": 0.0}
    name = ALIASES.get(name, name)
    if name not in KINDS:
        raise ValueError(f"unknown activation {name!r}; supported: {', '.join(sorted(KINDS) + sorted(ALIASES))}")
    if name == "relu":
        mv = params.get("max_value")
        return {"name": "relu", "max_value": None if mv is None else float(mv),
                "negative_slope": float(params.get("negative_slope", 0.0)),
                "threshold": float(params.get("threshold", 0.0))}
    if name == "elu":
        return {"name": "elu", "alpha": float(params.get("alpha", 1.0))}
    if name == "hard_sigmoid":
        # Keras 3 default (x / 6 + 0.5); Keras 2 files pass slope 0.2.
        return {"name": "hard_sigmoid", "slope": float(params.get("slope", 1.0 / 6.0)),
                "offset": float(params.get("offset", 0.5))}
    if name == "gelu" and params.get("approximate"):
        return {"name": "gelu_tanh"}
    if params and name not in ("gelu",):
        raise ValueError(f"activation {name!r} takes no parameters, got {sorted(params)}")
    return {"name": name}


def encode(spec: ActivationSpec) -> tuple[int, tuple[float, float, float]]:
    """(kind, (p0, p1, p2)) for the C kernels."""
    a = normalize(spec)
    name = a["name"]
    if name == "relu":
        mv = a["max_value"]
        return KINDS[name], (math.inf if mv is None else mv, a["negative_slope"], a["threshold"])
    if name == "elu":
        return KINDS[name], (a["alpha"], 0.0, 0.0)
    if name == "hard_sigmoid":
        return KINDS[name], (a["slope"], a["offset"], 0.0)
    return KINDS[name], (0.0, 0.0, 0.0)


def is_linear(spec: ActivationSpec) -> bool:
    return normalize(spec)["name"] == "linear"


# Row ops that change the row's length cannot be fused into a producer's stores.
SHAPE_CHANGING = frozenset({"glu"})


def element_wise(spec: ActivationSpec) -> bool:
    """Whether an activation can be fused into the op before it (it keeps the shape)."""
    return normalize(spec)["name"] not in SHAPE_CHANGING
