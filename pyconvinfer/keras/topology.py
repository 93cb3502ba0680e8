"""The model config -> a flat, topologically ordered list of layer calls.

Handles Sequential (Keras 2, Keras 3, and the bare-list form of Keras <= 2.2)
and Functional (both inbound-node formats), several inputs and outputs,
shared layers (one layer called several times) and tensors used by several
layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConversionError


@dataclass
class Call:
    layer: str               # layer name
    cls: str                 # Keras class name
    config: dict             # layer config
    inputs: list[str]        # tensor names
    output: str              # tensor name
    node_index: int          # which call of the layer (shared layers have several)
    # The call's arguments as saved, each tensor replaced by "$k" (its index in
    # `inputs`): what operator layers (x + 3.0) need to know their constants.
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)


@dataclass
class Topology:
    name: str
    inputs: list[tuple[str, list[int | None]]]  # (tensor name, per-sample shape)
    outputs: list[str]
    calls: list[Call]
    # (name, class, children) in model.layers order, InputLayers included;
    # children is the nested model's own layer_order (empty for plain layers).
    layer_order: list[tuple[str, str, list]]


def _tensor(layer: str, node: int, index: int) -> str:
    return layer if node == 0 and index == 0 else f"{layer}:{node}:{index}"


def _input_shape(cfg: dict) -> list | None:
    for key in ("batch_shape", "batch_input_shape"):
        if cfg.get(key) is not None:
            return list(cfg[key])[1:]
    return None


NESTED = ("Sequential", "Functional", "Model")


def _class_key(spec: dict) -> str:
    """The handler key of a layer: its class name, except Keras 3 operations
    (`x + 3.0` saves as module keras.src.ops.numpy, class Add) which get
    "ops.<class>" so they are not mistaken for the merge layers of that name."""
    module = str(spec.get("module") or "")
    cls = str(spec["class_name"])
    if module.startswith("keras.src.ops"):
        return f"ops.{cls}"
    # legacy .h5 files drop `module`: an operation's config has only its name and
    # constructor arguments, where every layer's has "trainable" and "dtype"
    cfg = spec.get("config") or {}
    nodes = spec.get("inbound_nodes") or []
    if not module and nodes and isinstance(nodes[0], dict) and "trainable" not in cfg and "dtype" not in cfg:
        return f"ops.{cls}"
    return cls


def _inline(name: str, cls: str, cfg: dict, k: int, ins: list[str]) -> tuple[list[Call], list[str], list]:
    """Calls of a nested model applied (k-th time) to tensors `ins`: its layers
    become "outer/inner" calls; its outputs become the outer tensors name:k:i."""
    inner = parse_topology({"class_name": cls, "config": cfg})
    if len(inner.inputs) != len(ins):
        raise ConversionError(f"nested model {name!r} has {len(inner.inputs)} inputs, called with {len(ins)}")
    rename = {t: outer for (t, _), outer in zip(inner.inputs, ins)}
    outs = [_tensor(name, k, i) for i in range(len(inner.outputs))]
    produced = {c.output for c in inner.calls}
    for t, outer in zip(inner.outputs, outs):
        if t in produced:
            rename[t] = outer

    def r(t: str) -> str:
        return rename.get(t, f"{name}:{k}/{t}")

    calls = [Call(f"{name}/{c.layer}", c.cls, c.config, [r(t) for t in c.inputs], r(c.output), c.node_index,
                  c.args, c.kwargs)
             for c in inner.calls]
    for t, outer in zip(inner.outputs, outs):
        if t not in produced:  # an inner input passed straight through
            calls.append(Call(f"{name}/{t}", "__Identity__", {}, [r(t)], outer, k))
    return calls, outs, inner.layer_order


def _sequential(cfg: Any) -> Topology:
    if isinstance(cfg, list):  # Keras <= 2.2
        layers, name = cfg, "sequential"
    else:
        layers, name = cfg.get("layers", []), cfg.get("name", "sequential")
    if not layers:
        raise ConversionError("the Sequential model has no layers")
    calls, order = [], []
    inputs: list[tuple[str, list]] = []
    prev: str | None = None
    for spec in layers:
        cls, lcfg = spec["class_name"], spec.get("config", {})
        lname = lcfg.get("name") or spec.get("name")
        if cls == "InputLayer":
            order.append((lname, cls, []))
            inputs.append((lname, _input_shape(lcfg)))
            prev = lname
            continue
        if prev is None and cls in NESTED:
            inner = parse_topology({"class_name": cls, "config": lcfg})
            inputs.append(("input", inner.inputs[0][1]))
            prev = "input"
        if cls in NESTED:
            made, outs, children = _inline(lname, cls, lcfg, 0, [prev])
            order.append((lname, cls, children))
            calls += made
            prev = outs[0]
            continue
        order.append((lname, cls, []))
        if prev is None:
            shape = _input_shape(lcfg)
            if shape is None:
                raise ConversionError("the Sequential model has no input shape (no InputLayer and no "
                                      "batch_input_shape on its first layer): build it with an Input first")
            inputs.append(("input", shape))
            prev = "input"
        calls.append(Call(lname, cls, lcfg, [prev], lname, 0))
        prev = lname
    if prev is None or not calls:
        raise ConversionError("the Sequential model has no layers after its input")
    return Topology(name, inputs, [prev], calls, order)


def _is_k3_tensor(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__"


def _is_k2_triple(obj: Any) -> bool:
    return (isinstance(obj, (list, tuple)) and len(obj) in (3, 4) and isinstance(obj[0], str)
            and isinstance(obj[1], int) and isinstance(obj[2], int))


def _template(obj: Any, found: list[tuple[str, int, int]], is_tensor, to_triple) -> Any:
    """obj with every tensor replaced by "$k" (k = its index in `found`)."""
    if is_tensor(obj):
        found.append(to_triple(obj))
        return f"${len(found) - 1}"
    if isinstance(obj, dict):
        return {k: _template(v, found, is_tensor, to_triple) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_template(v, found, is_tensor, to_triple) for v in obj]
    return obj


def _k3_triple(obj: dict) -> tuple[str, int, int]:
    h = obj["config"]["keras_history"]
    return (str(h[0]), int(h[1]), int(h[2]))


def _node_call(node: Any) -> tuple[list[tuple[str, int, int]], list, dict]:
    """An inbound node -> (input tensors, args template, kwargs template)."""
    found: list[tuple[str, int, int]] = []
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        args = _template(node.get("args", []), found, _is_k3_tensor, _k3_triple)
        kwargs = _template(node.get("kwargs", {}), found, _is_k3_tensor, _k3_triple)
        return found, args, kwargs
    if not isinstance(node, (list, tuple)):
        raise ConversionError(f"unreadable inbound node {node!r}")
    if node and isinstance(node[0], str):
        # tf.keras TFOpLambda: the node is a single [layer, node, tensor, kwargs] entry whose
        # kwargs may hold further tensors as bare [layer, node, tensor] triples. A constant
        # first operand (3.0 - x) is saved as ["_CONSTANT_VALUE", -1, 3.0, kwargs].
        kw = node[3] if len(node) > 3 and isinstance(node[3], dict) else {}
        if node[0] == "_CONSTANT_VALUE" and len(node) >= 3:
            first: Any = node[2]
        elif _is_k2_triple(node):
            found.append((node[0], int(node[1]), int(node[2])))
            first = "$0"
        else:
            raise ConversionError(f"unreadable inbound node {node!r}")
        kwargs = _template(kw, found, _is_k2_triple, lambda t: (str(t[0]), int(t[1]), int(t[2])))
        return found, [first], kwargs
    # Keras 2: [[layer, node_index, tensor_index, kwargs], ...]
    kwargs: dict = {}
    for e in node:
        if not _is_k2_triple(e):
            raise ConversionError(f"unreadable inbound node entry {e!r}")
        found.append((e[0], int(e[1]), int(e[2])))
        if len(e) > 3 and isinstance(e[3], dict):
            kwargs.update(_template(e[3], found, _is_k2_triple, lambda t: (str(t[0]), int(t[1]), int(t[2]))))
    return found, [f"${i}" for i in range(len(node))], kwargs


def _triples(v: Any) -> list[tuple[str, int, int]]:
    if v and isinstance(v[0], str):  # Keras 3 single: a bare triple
        return [(v[0], int(v[1]), int(v[2]))]
    return [(t[0], int(t[1]), int(t[2])) for t in v]


def _functional(cfg: dict) -> Topology:
    pending: list[tuple[dict, int, list[str], list, dict]] = []
    order, inputs = [], []
    for spec in cfg.get("layers", []):
        cls, lcfg = spec["class_name"], spec.get("config", {})
        lname = spec.get("name") or lcfg.get("name")
        children = parse_topology({"class_name": cls, "config": lcfg}).layer_order if cls in NESTED else []
        order.append((lname, cls, children))
        if cls == "InputLayer":
            inputs.append((lname, _input_shape(lcfg)))
            continue
        for k, node in enumerate(spec.get("inbound_nodes", [])):
            found, args, kwargs = _node_call(node)
            pending.append((spec, k, [_tensor(*t) for t in found], args, kwargs))
    ready = {name for name, _ in inputs}
    calls: list[Call] = []
    while pending:  # topological order; shared layers may be listed before their inputs exist
        progressed = False
        rest = []
        for spec, k, ins, args, kwargs in pending:
            if all(t in ready for t in ins):
                lname = spec.get("name") or spec["config"].get("name")
                if spec["class_name"] in NESTED:
                    # Keras 2 numbers a nested model's calls from 1 when the model has
                    # its own InputLayer (node 0 is its internal one: _should_skip_first_node).
                    inner_layers = spec.get("config", {}).get("layers", [])
                    keras2 = isinstance(spec["inbound_nodes"][k], list)  # Keras 3 nodes are dicts
                    skip = keras2 and any(e.get("class_name") == "InputLayer" for e in inner_layers)
                    made, outs, _ = _inline(lname, spec["class_name"], spec.get("config", {}), k + skip, ins)
                    calls += made
                    ready.update(outs)
                else:
                    out = _tensor(lname, k, 0)
                    calls.append(Call(lname, _class_key(spec), spec.get("config", {}), ins, out, k, args, kwargs))
                    ready.add(out)
                progressed = True
            else:
                rest.append((spec, k, ins, args, kwargs))
        if not progressed:
            missing = sorted({t for _, _, ins, _, _ in rest for t in ins if t not in ready})
            raise ConversionError(f"the model graph references tensors nobody produces: {missing}")
        pending = rest
    in_order = [_tensor(*t) for t in _triples(cfg.get("input_layers", []))]
    by_name = dict(inputs)
    inputs = [(t, by_name.get(t)) for t in in_order] if in_order else inputs
    outputs = [_tensor(*t) for t in _triples(cfg.get("output_layers", []))]
    for o in outputs:
        if o not in ready:
            raise ConversionError(f"model output {o!r} is not produced by any layer")
    return Topology(cfg.get("name", "model"), inputs, outputs, calls, order)


def parse_topology(model_config: dict) -> Topology:
    cls = model_config.get("class_name")
    cfg = model_config.get("config", {})
    if cls == "Sequential":
        return _sequential(cfg)
    if cls in ("Functional", "Model"):
        return _functional(cfg)
    raise ConversionError(f"unsupported model class {cls!r}: expected Sequential or Functional")
