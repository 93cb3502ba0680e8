"""Handlers of the preprocessing layers models carry inside: Rescaling and
Normalization, as element-wise ops with constant operands (the exact
arithmetic Keras does: x * scale + offset; (x - mean) / max(sqrt(var), 1e-7))."""

from __future__ import annotations

import numpy as np

from . import Ctx, RawNode, handles, node

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), Normalization's floor on the standard deviation


def _constant(ctx: Ctx, key: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ctx.unsupported(key, value, "a number or a list of numbers") from None
    if arr.ndim > 1 or not np.all(np.isfinite(arr)):
        raise ctx.unsupported(key, value, "a finite number or a list of them")
    return arr.astype(np.float32)


@handles("Rescaling")
def _rescaling(ctx: Ctx, arrays) -> list[RawNode]:
    scale = _constant(ctx, "scale", ctx.cfg.get("scale", 1.0))
    offset = _constant(ctx, "offset", ctx.cfg.get("offset", 0.0))
    for key, arr in (("scale", scale), ("offset", offset)):
        if arr.ndim == 1 and arr.shape[0] not in (1, ctx.in_shapes[0][-1]):
            raise ctx.unsupported(key, ctx.cfg.get(key), f"a number or {ctx.in_shapes[0][-1]} values (one per channel)")
    # Keras: inputs * scale + offset, even when offset is 0 (adding 0.0 changes nothing)
    return [node(ctx, "binary", {"kind": "multiply", "activation": {"name": "linear"}}, inputs=["$0", "scale"],
                 constants={"scale": scale}),
            node(ctx, "binary", {"kind": "add", "activation": {"name": "linear"}}, inputs=["$prev", "offset"],
                 constants={"offset": offset})]


def _kept_axes(ctx: Ctx) -> list[int]:
    """Normalization's `axis` (the axes it keeps statistics for) as per-sample indices."""
    rank = len(ctx.in_shapes[0])
    axis = ctx.cfg.get("axis", -1)
    axes = [axis] if isinstance(axis, int) else list(axis or [])
    out = []
    for a in axes:
        a = int(a)
        if a == 0 or not -rank - 1 <= a <= rank:
            raise ctx.unsupported("axis", ctx.cfg.get("axis"), f"non-batch axes (1..{rank} or -1..-{rank})")
        out.append(a - 1 if a > 0 else rank + a)
    return sorted(set(out))


@handles("Normalization", weighted=lambda cfg: cfg.get("mean") is None)
def _normalization(ctx: Ctx, arrays) -> list[RawNode]:
    s = ctx.in_shapes[0]
    keep = _kept_axes(ctx)
    if any(s[a] is None for a in keep):
        raise ctx.fail(f"keeps statistics along axes {keep} whose size is unknown")
    stat_shape = tuple(s[a] for a in keep)
    if ctx.cfg.get("mean") is not None:  # given to the constructor: in the config, no weights
        mean = np.asarray(ctx.cfg["mean"], dtype=np.float64)
        var = np.asarray(ctx.cfg["variance"], dtype=np.float64)
        try:
            mean, var = np.broadcast_to(mean, stat_shape), np.broadcast_to(var, stat_shape)
        except ValueError:
            raise ctx.unsupported("mean", ctx.cfg.get("mean"), f"values broadcastable to {stat_shape}") from None
        if arrays:
            raise ctx.fail("has mean/variance in its config and weights in the file")
    else:
        roles = ["mean", "variance", "count"]
        got = {r: a for r, a in zip(roles, (a for _, a in arrays))}
        if len(arrays) != 3:
            raise ctx.fail(f"expected 3 weights (mean, variance, count), the file has {len(arrays)}")
        mean, var = got["mean"].astype(np.float64), got["variance"].astype(np.float64)
        if mean.shape != stat_shape or var.shape != stat_shape:
            raise ctx.fail(f"mean/variance have shapes {mean.shape}/{var.shape}, expected {stat_shape}")
    # broadcast shape over one sample: the kept axes keep their size, the others are 1
    bshape = [s[a] if a in keep else 1 for a in range(len(s))]
    mean32 = mean.astype(np.float32).reshape(bshape)
    std32 = np.maximum(np.sqrt(var.astype(np.float32)), np.float32(KERAS_EPSILON)).reshape(bshape)
    if ctx.cfg.get("invert"):
        return [node(ctx, "binary", {"kind": "multiply", "activation": {"name": "linear"}}, inputs=["$0", "std"],
                     constants={"std": std32}),
                node(ctx, "binary", {"kind": "add", "activation": {"name": "linear"}}, inputs=["mean", "$prev"],
                     constants={"mean": mean32})]
    return [node(ctx, "binary", {"kind": "subtract", "activation": {"name": "linear"}}, inputs=["$0", "mean"],
                 constants={"mean": mean32}),
            node(ctx, "binary", {"kind": "divide", "activation": {"name": "linear"}}, inputs=["$prev", "std"],
                 constants={"std": std32})]
