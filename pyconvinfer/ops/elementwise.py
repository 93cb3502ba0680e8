"""Element-wise ops: activation, per-channel scale_shift (any axis), the
n-ary `binary` family with Keras broadcasting, and layer_norm."""

from __future__ import annotations

from .. import _kernels
from .. import activations as acts
from .base import ConstShape, OpDef, Shape, Step, prod, register


def _same_infer(a, ins):
    return tuple(ins[0])


# ---- activation ----
def _act_step(a, ins, out, batch) -> Step:
    s = ins[0]
    return Step(ints=[s[-1] if s else 1], rows=batch * prod(s[:-1]))


def _act_infer(a, ins):
    if acts.shape_class(a.get("activation")) == "halves":
        raise ValueError("glu halves the last axis: it is the glu op, not an activation step")
    return tuple(ins[0])


register(OpDef("activation", _act_infer, _act_step, activation=True, row_activation=True,
               describe=lambda a: acts.normalize(a.get("activation"))["name"]))


# ---- glu: [a | b] over the last axis -> a * sigmoid(b) ----
def _glu_infer(a, ins):
    s = ins[0]
    if not s or s[-1] is None or s[-1] % 2:
        raise ValueError(f"glu needs an even, known last axis, got shape {tuple(s)}")
    return tuple(s[:-1]) + (s[-1] // 2,)


register(OpDef("glu", _glu_infer, lambda a, ins, out, batch: Step(ints=[out[-1]], rows=batch * prod(out[:-1])),
               describe=lambda a: "last axis halves"))


# ---- scale_shift: y = x * scale[c] + shift[c] along one axis ----
def _ss_axis(a: dict, rank: int) -> int:
    axis = int(a.get("axis", -1))
    if not -rank <= axis < rank:
        raise ValueError(f"scale_shift axis {axis} out of range for a {rank}-D input")
    return axis % rank


def _ss_infer(a, ins):
    s = ins[0]
    if not s:
        raise ValueError("scale_shift needs an input with a channel axis")
    ax = _ss_axis(a, len(s))
    if s[ax] != a["channels"]:
        raise ValueError(f"scale_shift expects {a['channels']} channels on axis {ax}, got shape {tuple(s)}")
    return tuple(s)


def _ss_step(a, ins, out, batch) -> Step:
    s = ins[0]
    ax = _ss_axis(a, len(s))
    return Step(ints=[batch * prod(s[:ax]), s[ax], prod(s[ax + 1:])])


register(OpDef("scale_shift", _ss_infer, _ss_step, weights=("scale", "shift"), activation=True,
               describe=lambda a: f"{a['channels']} channels"))


# ---- binary: add, subtract, multiply, divide, maximum, minimum, average, prelu ----
def _broadcast(dims: list[list[int | None]]) -> list[int | None]:
    rank = max(len(d) for d in dims)
    aligned = [[1] * (rank - len(d)) + list(d) for d in dims]
    out: list[int | None] = []
    for col in zip(*aligned):
        sizes = {d for d in col if d is not None and d != 1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {[tuple(d) for d in dims]} do not broadcast")
        if sizes:
            out.append(sizes.pop())
        elif any(d is None for d in col):
            out.append(None)
        else:
            out.append(1)
    return out


def _binary_infer(a, ins):
    kind = a.get("kind", "add")
    if kind not in _kernels.BINARY_KINDS:
        raise ValueError(f"unknown element-wise kind {kind!r} (known: {', '.join(_kernels.BINARY_KINDS)})")
    if kind in ("subtract", "divide", "prelu") and len(ins) != 2:
        raise ValueError(f"{kind} takes exactly two inputs, got {len(ins)}")
    if not ins:
        raise ValueError(f"{kind} needs inputs")
    tensors = [s for s in ins if not isinstance(s, ConstShape)]
    if not tensors:
        raise ValueError(f"{kind} needs at least one tensor input (all inputs are constants)")
    rank = max(len(s) for s in tensors)
    dims = []
    for s in ins:
        if isinstance(s, ConstShape):
            d = list(s)
            if len(d) == rank + 1:  # includes the batch axis
                if d[0] != 1:
                    raise ValueError(f"constant of shape {tuple(s)} does not broadcast over the batch axis")
                d = d[1:]
            elif len(d) > rank + 1:
                raise ValueError(f"constant of shape {tuple(s)} has more axes than the tensors {tensors}")
            dims.append(d)
        else:
            dims.append(list(s))
    return tuple(_broadcast(dims))


def broadcast_plan(ins: list[Shape], out: Shape, batch: int) -> tuple[list[int], list[int]]:
    """Collapsed output dims (batch axis included) and one broadcast mask per input
    (bit a set: the input has size 1 on axis a). Axes that broadcast alike for every
    input are merged, so a plain (N,H,W,C) + (N,H,W,C) is one axis."""
    full = [batch] + list(out)
    rank = len(full)
    shapes = []
    for s in ins:
        if isinstance(s, ConstShape):
            shapes.append([1] * (rank - len(s)) + list(s))
        else:
            shapes.append([batch] + [1] * (rank - 1 - len(s)) + list(s))
    # per axis, per input: broadcast (1 against a larger output size)?
    flags = [tuple(sh[a] == 1 and full[a] != 1 for sh in shapes) for a in range(rank)]
    dims: list[int] = []
    pattern: list[tuple] = []
    for a in range(rank):
        if full[a] == 1:
            continue
        if dims and pattern[-1] == flags[a]:
            dims[-1] *= full[a]
        else:
            dims.append(full[a])
            pattern.append(flags[a])
    if not dims:
        dims, pattern = [1], [tuple(False for _ in ins)]
    masks = [sum(1 << a for a in range(len(dims)) if pattern[a][i]) for i in range(len(ins))]
    return dims, masks


def _binary_step(a, ins, out, batch) -> Step:
    dims, masks = broadcast_plan(ins, out, batch)
    if len(dims) > 8:
        raise ValueError(f"broadcast over {len(dims)} axes is not supported (at most 8)")
    return Step(ints=[_kernels.BINARY_KINDS[a.get("kind", "add")], len(dims), *dims], in_flags=masks,
                count=prod(dims))


register(OpDef("binary", _binary_infer, _binary_step, activation=True, describe=lambda a: a.get("kind", "add")))
# Files written before the binary family stored a sum as "add" (same kernel, kind add).
register(OpDef("add", _binary_infer, _binary_step, c_op="binary", activation=True, describe=lambda a: "add"))


# ---- layer_norm over the last axis ----
def _ln_infer(a, ins):
    s = ins[0]
    if not s or s[-1] != a["channels"]:
        raise ValueError(f"layer_norm expects {a['channels']} values on the last axis, got shape {tuple(s)}")
    return tuple(s)


def _ln_step(a, ins, out, batch) -> Step:
    s = ins[0]
    eps = float(a.get("epsilon", 1e-3))
    if not eps >= 0.0:
        raise ValueError(f"layer_norm epsilon must be >= 0, got {eps!r}")
    return Step(ints=[s[-1]], rows=batch * prod(s[:-1]), floats=[eps])


register(OpDef("layer_norm", _ln_infer, _ln_step, weights=("gamma", "beta"), activation=True, row_activation=True,
               describe=lambda a: f"last axis, epsilon {a.get('epsilon', 1e-3):g}"))
