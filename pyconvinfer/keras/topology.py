"""The model config -> a flat, topologically ordered list of layer calls.

Handles Sequential (Keras 2, Keras 3, and the bare-list form of Keras <= 2.2)
and Functional (both inbound-node formats), several inputs and outputs,
shared layers (one layer called several times) and tensors used by several
layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..errors import ConversionError


@dataclass
class Call:
    layer: str               # layer name
    cls: str                 # Keras class name
    config: dict             # layer config
    inputs: list[str]        # tensor names
    output: str              # tensor name
    node_index: int          # which call of the layer (shared layers have several)


@dataclass
class Topology:
    name: str
    inputs: list[tuple[str, list[Optional[int]]]]  # (tensor name, per-sample shape)
    outputs: list[str]
    calls: list[Call]
    layer_order: list[tuple[str, str]]  # (name, class) in model.layers order, InputLayers included


def _tensor(layer: str, node: int, index: int) -> str:
    return layer if node == 0 and index == 0 else f"{layer}:{node}:{index}"


def _input_shape(cfg: dict) -> Optional[list]:
    for key in ("batch_shape", "batch_input_shape"):
        if cfg.get(key) is not None:
            return list(cfg[key])[1:]
    return None


def _check_nested(cls: str, name: str) -> None:
    if cls in ("Sequential", "Functional", "Model"):
        raise ConversionError(
            f"layer {name!r} is a nested model ({cls}); nested models are not supported: "
            "build the model flat (call the inner model's layers directly) and save it again")


def _sequential(cfg: Any) -> Topology:
    if isinstance(cfg, list):  # Keras <= 2.2
        layers, name = cfg, "sequential"
    else:
        layers, name = cfg.get("layers", []), cfg.get("name", "sequential")
    if not layers:
        raise ConversionError("the Sequential model has no layers")
    calls, order = [], []
    inputs: list[tuple[str, list]] = []
    prev: Optional[str] = None
    for spec in layers:
        cls, lcfg = spec["class_name"], spec.get("config", {})
        lname = lcfg.get("name") or spec.get("name")
        _check_nested(cls, lname)
        order.append((lname, cls))
        if cls == "InputLayer":
            inputs.append((lname, _input_shape(lcfg)))
            prev = lname
            continue
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


def _history(obj: Any) -> list[tuple[str, int, int]]:
    """Every (layer, node, tensor) referenced in a Keras 3 call-args structure."""
    found = []
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            h = obj["config"]["keras_history"]
            return [(h[0], int(h[1]), int(h[2]))]
        for v in obj.values():
            found += _history(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            found += _history(v)
    return found


def _node_inputs(node: Any) -> list[tuple[str, int, int]]:
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}; tensors in args only
        return _history(node.get("args", []))
    # Keras 2: [[layer, node_index, tensor_index, kwargs], ...]
    return [(e[0], int(e[1]), int(e[2])) for e in node]


def _triples(v: Any) -> list[tuple[str, int, int]]:
    if v and isinstance(v[0], str):  # Keras 3 single: a bare triple
        return [(v[0], int(v[1]), int(v[2]))]
    return [(t[0], int(t[1]), int(t[2])) for t in v]


def _functional(cfg: dict) -> Topology:
    pending: list[tuple[dict, int, list[str]]] = []
    order, inputs = [], []
    for spec in cfg.get("layers", []):
        cls, lcfg = spec["class_name"], spec.get("config", {})
        lname = spec.get("name") or lcfg.get("name")
        _check_nested(cls, lname)
        order.append((lname, cls))
        if cls == "InputLayer":
            inputs.append((lname, _input_shape(lcfg)))
            continue
        for k, node in enumerate(spec.get("inbound_nodes", [])):
            pending.append((spec, k, [_tensor(*t) for t in _node_inputs(node)]))
    ready = {name for name, _ in inputs}
    calls: list[Call] = []
    while pending:  # topological order; shared layers may be listed before their inputs exist
        progressed = False
        rest = []
        for spec, k, ins in pending:
            if all(t in ready for t in ins):
                lname = spec.get("name") or spec["config"].get("name")
                out = _tensor(lname, k, 0)
                calls.append(Call(lname, spec["class_name"], spec.get("config", {}), ins, out, k))
                ready.add(out)
                progressed = True
            else:
                rest.append((spec, k, ins))
        if not progressed:
            missing = sorted({t for _, _, ins in rest for t in ins if t not in ready})
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
