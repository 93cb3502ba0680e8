"""Keras file -> .pci model file.

Steps: read the file (format by content) -> topology (ordered layer calls) ->
each call through its layer handler (every option checked before anything is
written) -> graph passes (fold batch norm into the preceding conv/dense, fuse
activations) -> pack weights for the kernels -> write atomically."""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__, quantize
from .. import activations as acts
from ..errors import ConversionError, ConversionWarning
from ..format import write_model
from ..graph import Graph, Node, input_dims
from ..ops import REGISTRY, ConstShape
from . import builtin
from .files import KerasFile, keras3_vars_for, read_config_json, read_keras_file
from .fold_pads import fold_pads
from .layers import HANDLERS, Ctx, RawNode, has_weights
from .one_pixel_conv import one_pixel_convs_to_dense
from .topology import Topology, parse_topology


def _generation(kf: KerasFile, cfg: dict | None) -> int:
    v = kf.keras_version or ""
    if not v and cfg is not None:
        v = str(cfg.get("keras_version", ""))
    if v[:1].isdigit():
        return 3 if int(v.split(".")[0]) >= 3 else 2
    # Keras 3 configs carry "module" on every object; Keras 2 ones do not.
    if cfg is not None and "module" in cfg:
        return 3
    return 3 if kf.format in ("keras", "weights-keras3") else 2


def _leaves(order: list, prefix: str = "") -> list[tuple[str, str, str]]:
    """(qualified name, own name, class) of every plain layer, nested models expanded."""
    out = []
    for name, cls, children in order:
        if children:
            out += _leaves(children, f"{prefix}{name}/")
        else:
            out.append((f"{prefix}{name}", name, cls))
    return out


def _has_weights(entry: tuple, configs: dict[str, dict]) -> bool:
    """Whether a layer (or a nested model) of model.layers stores weights."""
    name, cls, children = entry
    if children:
        return any(has_weights(c, configs.get(q, {})) for q, _, c in _leaves(children, f"{name}/"))
    return has_weights(cls, configs.get(name, {}))


def _split_nested(model: str, children: list, arrays: list[tuple[str, np.ndarray]]) -> dict:
    """A nested model's weights come as one group; weight names say the sublayer
    ('conv2d/kernel:0' or 'inner/conv2d/kernel')."""
    leaves = _leaves(children, f"{model}/")
    owners: dict[str, list] = {q: [] for q, _, _ in leaves}
    by_own = {}
    for q, own, _ in leaves:
        if own in by_own:
            raise ConversionError(f"nested model {model!r}: two layers named {own!r}; cannot tell their weights apart")
        by_own[own] = q
    for wname, arr in arrays:
        parts = wname.split("/")
        owner = by_own.get(parts[-2]) if len(parts) >= 2 else None
        if owner is None:
            raise ConversionError(f"nested model {model!r}: weight {wname!r} names no layer of the model")
        owners[owner].append((wname, arr))
    return owners


def _weights_by_layer(kf: KerasFile, topo: Topology) -> dict[str, list[tuple[str, np.ndarray]]]:
    ws = kf.weights
    if ws.kind == "keras3_vars":
        return keras3_vars_for(ws.vars_root, topo.layer_order)
    top = {name: (cls, children) for name, cls, children in topo.layer_order}
    if ws.kind == "by_name":
        groups = ws.by_name
        stray = [n for n in ws.order if n not in top]
        if stray:
            raise ConversionError(
                f"the file holds weights for layers its model config does not have ({', '.join(stray[:8])}"
                f"{'...' if len(stray) > 8 else ''}): the file is inconsistent")
    else:
        # weights-only: Keras matches the k-th saved layer with weights to the k-th
        # model layer with weights. When the names agree it is the same thing.
        configs = {c.layer: c.config for c in topo.calls}
        model_layers = [e[0] for e in topo.layer_order if _has_weights(e, configs)]
        saved = ws.order
        if set(saved) == set(model_layers):
            groups = ws.by_name
        elif len(saved) != len(model_layers):
            raise ConversionError(
                f"the weights file has {len(saved)} layers with weights, the architecture has {len(model_layers)} "
                f"({', '.join(model_layers[:6])}{'...' if len(model_layers) > 6 else ''}): they do not belong together")
        else:
            groups = {m: ws.by_name[s] for m, s in zip(model_layers, saved)}
            renamed = [(s, m) for m, s in zip(model_layers, saved) if s != m]
            if renamed:  # Keras does the same; the user should still know it happened
                warnings.warn(
                    "weights matched to layers by position, as Keras does; renamed: "
                    + ", ".join(f"{s} -> {m}" for s, m in renamed[:12]) + ("..." if len(renamed) > 12 else ""),
                    ConversionWarning, stacklevel=2)
    out = {}
    for name, arrays in groups.items():
        cls, children = top.get(name, ("", []))
        if children:
            out.update(_split_nested(name, children, arrays))
        else:
            out[name] = arrays
    return out


def _resolve_inputs(node: RawNode, call_inputs: list[str], prev: list[str], layer: str) -> list[str]:
    """A handler's node inputs: none listed = the previous output (or the layer's inputs);
    "$k" = the layer's k-th input, "$prev" = the previous node's output, other names =
    the node's own constants, renamed layer/name so they are unique in the file."""
    if not node.inputs:
        return list(prev)
    out, renamed = [], {}
    for t in node.inputs:
        if t == "$prev":
            out += prev
        elif t.startswith("$") and t[1:].isdigit():
            out.append(call_inputs[int(t[1:])])
        elif t in node.constants:
            renamed[f"{layer}/{t}"] = node.constants[t]
            out.append(f"{layer}/{t}")
        else:
            raise ConversionError(f"layer {layer!r}: node input {t!r} is neither a placeholder nor a constant")
    node.constants = renamed
    return out


def _split_shape_changing(made: list[RawNode]) -> list[RawNode]:
    """An activation that changes the shape (glu halves the last axis) is its own op:
    `activation=glu` on a layer becomes the layer then a glu node."""
    out = []
    for n in made:
        spec = n.attrs.get("activation")
        if spec is None or acts.shape_class(spec) != "halves":
            out.append(n)
            continue
        if n.op == "activation":
            out.append(RawNode(n.name, "glu", n.inputs, "", {}, {}, list(n.layers), dict(n.constants)))
        else:
            n.attrs = dict(n.attrs, activation={"name": "linear"})
            out += [n, RawNode(n.name, "glu", [], "", {}, {}, list(n.layers))]
    return out


def _to_raw_nodes(topo: Topology, weights: dict, generation: int) -> tuple[list[RawNode], dict]:
    shapes: dict[str, tuple] = {}
    for name, shape in topo.inputs:
        if shape is None:
            raise ConversionError(f"input {name!r} has no shape in the model config")
        try:  # the .pci reader's own rule, before any layer computes with a size from the config
            shapes[name] = tuple(input_dims(shape))
        except ValueError as e:
            raise ConversionError(f"input {name!r}: {e}") from None
    problems, nodes = [], []
    for call in topo.calls:
        handler = HANDLERS.get(call.cls)
        if handler is None:
            problems.append(f"layer {call.layer!r} ({call.cls}): unsupported layer class")
            continue
        if any(t not in shapes for t in call.inputs):
            continue  # fed by a layer already reported: its options cannot be checked without a shape
        try:
            ctx = Ctx(call.layer, call.cls, call.config, [shapes[t] for t in call.inputs], generation,
                      call.args, call.kwargs)
            made = handler(ctx, weights.get(call.layer, []))
        except ConversionError as e:
            problems.append(str(e))
            continue
        except KeyError as e:
            problems.append(f"layer {call.layer!r} ({call.cls}): config lacks {e}")
            continue
        except (ValueError, TypeError, IndexError, AttributeError, OverflowError, ZeroDivisionError) as e:
            # a config value of the wrong type or form (a string where Keras writes numbers, say)
            problems.append(f"layer {call.layer!r} ({call.cls}): unexpected config content ({type(e).__name__}: {e})")
            continue
        made = _split_shape_changing(made)
        prev = call.inputs
        for i, node in enumerate(made):
            node.part = i
            if i:
                node.name = f"{node.name}/{i}"  # node names are unique
            if call.node_index:
                node.name = f"{node.name}:{call.node_index}"
            node.inputs = _resolve_inputs(node, call.inputs, prev, call.layer)
            node.output = call.output if i == len(made) - 1 else f"{call.output}/{i}"
            in_shapes = [ConstShape(node.constants[t].shape) if t in node.constants else shapes[t]
                         for t in node.inputs]
            try:
                shapes[node.output] = tuple(REGISTRY[node.op].infer(node.attrs, in_shapes))
            except ValueError as e:
                problems.append(f"layer {call.layer!r} ({call.cls}): {e}")
                break
            nodes.append(node)
            prev = [node.output]
    if problems:
        raise ConversionError("cannot convert this model (nothing was written):\n  " + "\n  ".join(problems))
    return nodes, shapes


def _consumers(nodes: list[RawNode]) -> dict[str, int]:
    count: dict[str, int] = {}
    for n in nodes:
        for t in n.inputs:
            count[t] = count.get(t, 0) + 1
    return count


def _fuse(nodes: list[RawNode], outputs: list[str], shared: set[int]) -> list[RawNode]:
    """Absorb a node into the one before it where that op's description allows
    (OpDef.fold_scale: a following per-channel scale_shift on the last axis;
    OpDef.activation: a following element-wise activation), when the producer's
    output feeds nothing else, is no model output, and has no activation yet.
    `shared` holds ids of weights used by several calls of one layer: never
    folded into, since the other calls need them unchanged."""
    keep = set(outputs)
    while True:
        users = _consumers(nodes)
        producer = {n.output: n for n in nodes}
        changed = False
        for node in nodes:
            src = producer.get(node.inputs[0]) if len(node.inputs) == 1 else None
            if src is None or users.get(src.output, 0) != 1 or src.output in keep:
                continue
            sdef = REGISTRY[src.op]
            linear = acts.is_linear(src.attrs.get("activation"))
            if (node.op == "scale_shift" and sdef.fold_scale is not None and linear
                    and acts.is_linear(node.attrs.get("activation")) and int(node.attrs.get("axis", -1)) == -1
                    and "scale" in node.raw and "shift" in node.raw
                    and not any(id(a) in shared for a in src.raw.values())):
                folded = sdef.fold_scale(src.attrs, src.raw, node.raw["scale"].astype(np.float64),
                                         node.raw["shift"].astype(np.float64))
                if folded is None:
                    continue
                src.raw = folded
            elif node.op == "activation" and linear and (
                    (sdef.activation and acts.element_wise(node.attrs["activation"]))
                    or (sdef.row_activation and acts.shape_class(node.attrs["activation"]) == "row")):
                src.attrs["activation"] = node.attrs["activation"]
            else:
                continue
            src.output = node.output
            src.layers += node.layers
            src.name = f"{src.name}+{node.name}"
            nodes.remove(node)
            changed = True
            break
        if not changed:
            return nodes


def _pack(nodes: list[RawNode], shapes: dict, options: dict) -> tuple[list[Node], dict[str, np.ndarray]]:
    """Conversion-time choices (OpDef.configure), then each weight packed as its
    op describes (OpDef.pack), once per (array, op, role, packing-relevant attrs):
    the calls of a shared layer share one tensor. Tensors are named node/role;
    constants that are node inputs keep their own names."""
    tensors: dict[str, np.ndarray] = {}
    seen: dict[tuple, str] = {}
    configured: dict[int, dict] = {}  # a kernel shared by several calls gets one configuration
    out = []
    for n in nodes:
        opdef = REGISTRY[n.op]
        if opdef.configure is not None:
            kid = id(n.raw.get("kernel", n))
            if kid not in configured:
                opdef.configure(n.attrs, [shapes[t] for t in n.inputs if t in shapes], options)
                configured[kid] = dict(n.attrs)
            n.attrs = dict(configured[kid], **{k: v for k, v in n.attrs.items() if k not in configured[kid]})
        names = {}
        for role, arr in n.raw.items():
            key = (id(arr), n.op, role, opdef.pack_key(n.attrs))
            if key not in seen:
                name = f"{n.name}/{role}"
                while name in tensors:
                    name += "_"
                tensors[name] = opdef.pack(n.attrs, role, arr)
                seen[key] = name
            names[role] = seen[key]
        inputs = []
        for t in n.inputs:
            if t in n.constants:
                arr = n.constants[t]
                key = (id(arr), "constant")
                if key not in seen:
                    name = t
                    while name in tensors:
                        name += "_"
                    tensors[name] = np.ascontiguousarray(arr, dtype=np.float32)
                    seen[key] = name
                inputs.append(seen[key])
            else:
                inputs.append(t)
        attrs = dict(n.attrs)
        if "kernel" in n.raw:
            attrs["params"] = int(n.raw["kernel"].size)  # unpacked count, for summaries
        out.append(Node(n.name, n.op, inputs, n.output, attrs, names, n.layers))
    return out, tensors


def build_graph(src: str, config: str | None = None, arch: str | None = None,
                input_shape: tuple | None = None, winograd: str = "auto", weights: str = "float32") -> Graph:
    """Read a Keras file (plus an architecture) into a Graph with packed weights
    (float32; `weights`, the precision they will be stored in, guides the choices)."""
    options = {"winograd": winograd, "weights": weights}
    kf = read_keras_file(src)
    if config is not None and arch is not None:
        raise ConversionError("give --config or --arch, not both")
    model_config = kf.config
    if config is not None:
        model_config = read_config_json(config)
    elif arch is not None:
        if arch not in builtin.ARCHS:
            raise ConversionError(f"unknown architecture {arch!r}; built in: {', '.join(builtin.ARCHS)}")
        if arch == "vgg16":
            ws = kf.weights  # the top (fc1, fc2, predictions) is there when the file has dense weights
            has_top = ("fc1" in ws.by_name or "predictions" in ws.by_name if ws.kind != "keras3_vars"
                       else "dense" in ws.vars_root)
            model_config = builtin.vgg16(has_top, tuple(input_shape or (224, 224, 3)))
        else:
            model_config = builtin.lenet5(tuple(input_shape or (32, 32, 1)))
    if model_config is None:
        raise ConversionError(
            f"{src} holds weights only ({kf.format}); give its architecture: --config ARCH.json "
            "(the output of model.to_json()) or --arch vgg16|lenet5")
    if "class_name" not in model_config:
        raise ConversionError(f"{src}: the model config has no class_name")
    topo = parse_topology(model_config)
    if input_shape is not None and arch is None:
        if len(topo.inputs) != 1:
            raise ConversionError("--input-shape applies to single-input models only")
        topo.inputs = [(topo.inputs[0][0], list(input_shape))]
    generation = _generation(kf, model_config)
    weights = _weights_by_layer(kf, topo)
    shared: set[int] = set()
    seen_layers: dict[str, int] = {}
    for call in topo.calls:
        seen_layers[call.layer] = seen_layers.get(call.layer, 0) + 1
    raw_nodes, shapes = _to_raw_nodes(topo, weights, generation)
    # A layer called several times keeps one copy of its weights, shared by its calls:
    # keyed by the layer and the node's part among the nodes its handler made.
    first: dict[tuple[str, int], RawNode] = {}
    for n in raw_nodes:
        key = (n.layers[0], n.part)
        if seen_layers.get(key[0], 0) > 1 and n.raw:
            if key in first:
                n.raw = first[key].raw
            else:
                first[key] = n
            shared.update(id(a) for a in n.raw.values())
    nodes = _fuse(fold_pads(raw_nodes, topo.outputs), topo.outputs, shared)
    nodes = one_pixel_convs_to_dense(nodes, shapes, shared)
    try:
        packed_nodes, tensors = _pack(nodes, shapes, options)
    except ValueError as e:
        raise ConversionError(str(e)) from None
    meta = {
        "name": topo.name,
        "source": {"file": os.path.basename(src), "format": kf.format, "keras_version": kf.keras_version,
                   "keras_generation": generation, "architecture": arch or ("config" if config else "file")},
        "converter": f"pyconvinfer {__version__}",
    }
    inputs = [{"name": n, "shape": list(s), "dtype": "float32"} for n, s in topo.inputs]
    g = Graph(inputs, list(topo.outputs), packed_nodes, tensors, meta)
    g.check()
    return g


def convert(src: str | os.PathLike, dst: str | os.PathLike | None = None, *, config: str | None = None,
            arch: str | None = None, input_shape: tuple | None = None, winograd: str = "auto",
            progress: Callable[[int, int], None] | None = None, verify: bool = True,
            verify_shape: tuple | None = None, reference: tuple | None = None,
            report: Callable[[str], None] | None = None, weights: str = "float32",
            calibrate: Any = None) -> str:
    """Convert a Keras file to a .pci model file; returns the output path.

    dst defaults to src with the .pci extension. Nothing is written unless the
    whole model converts; the file appears atomically (an existing file is
    replaced only by a complete new one). winograd: "auto" (default) picks
    Winograd F(4x4)/F(2x2) for 3x3 stride-1 layers where it pays, "off" keeps
    direct convolution everywhere.

    verify (default): store test vectors in the file (pyconvinfer/verify.py): a
    small input (verify_shape for the per-sample shape where the model leaves
    height/width open; else 64x64) and the outputs of the converted model, or
    reference=(inputs, outputs), the user's own Keras outputs (arrays, or lists
    of arrays for several inputs/outputs). report(line) receives the converted
    model's max error against them.

    weights: the stored precision of convolution, transposed-convolution and
    dense kernels: "float32" (default, exact), "float16", "bfloat16", or "int8"
    (symmetric, per output channel; quantize.py). Biases and every other
    parameter stay float32. The test vectors hold the float32 model's outputs,
    computed before the kernels are stored in reduced precision.

    calibrate (int8 only): sample inputs (an array, or a .npy path) the float32
    model runs on; each convolution stores its input's range over them, which a
    CPU computing in int8 then quantizes with instead of measuring it per run."""
    src = os.fspath(src)
    if weights not in quantize.WEIGHT_DTYPES:
        raise ConversionError(f"weights must be one of {', '.join(quantize.WEIGHT_DTYPES)}, got {weights!r}")
    if calibrate is not None and weights != "int8":
        raise ConversionError(f"--calibrate records the input ranges of int8 convolutions: it needs --weights int8, "
                              f"not {weights}")
    samples = _calibration_samples(calibrate) if calibrate is not None else None
    dst = os.fspath(dst) if dst is not None else str(Path(src).with_suffix(".pci"))
    if os.path.abspath(dst) == os.path.abspath(src):
        raise ConversionError(f"output {dst} would overwrite the input file")
    try:
        g = build_graph(src, config=config, arch=arch, input_shape=input_shape, winograd=winograd, weights=weights)
    except ConversionError:
        raise
    except (KeyError, TypeError, IndexError, AttributeError, ValueError, OverflowError, ZeroDivisionError) as e:
        raise ConversionError(f"{src}: unexpected content in the Keras file ({type(e).__name__}: {e})") from None
    if samples is not None:
        samples = _calibrate(dst, g, samples, report)
    if not verify:
        scales = quantize.quantize_weights(g.nodes, g.weights, weights)
        write_model(dst, g.to_header(), g.weights, progress=progress, scales=scales)
        return dst
    # calibrated ranges suit inputs like the samples: the test vectors are two of them (random
    # inputs beyond the ranges would measure clipping, not the model)
    inputs = [samples[:2]] if samples is not None and len(g.inputs) == 1 else None
    _write_with_vectors(dst, g, progress, verify_shape, reference, report, weights, inputs)
    return dst


def _calibration_samples(calibrate: Any) -> np.ndarray:
    if isinstance(calibrate, (str, os.PathLike)):
        try:
            calibrate = np.load(calibrate, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ConversionError(f"--calibrate {os.fspath(calibrate)}: not a readable .npy array ({e})") from None
    arr = np.asarray(calibrate)
    if arr.dtype.kind not in "fiu" or arr.size == 0 or not np.isfinite(arr).all():
        raise ConversionError(f"--calibrate samples must be a non-empty array of finite numbers (N, H, W, C); got "
                              f"dtype {arr.dtype}, shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


@contextlib.contextmanager
def _float32_model(dst: str, g: Graph, progress=None):
    """The graph written as a temporary float32 file beside dst, loaded (the
    converter's own runs: test vectors, calibration); deleted afterwards."""
    import tempfile

    from ..runtime import load

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{Path(dst).name}.", suffix=".verify.pci", dir=Path(dst).parent or ".")
    except OSError as e:  # name the user's path, not the hidden temporary one
        raise OSError(e.errno, f"cannot write {dst}: {e.strerror}") from None
    os.close(fd)
    try:
        write_model(tmp, g.to_header(), dict(g.weights), progress=progress)
        with load(tmp, num_threads=None, verify=False) as model:
            yield model
    finally:
        os.unlink(tmp)


def _calibrate(dst: str, g: Graph, samples: np.ndarray, report) -> np.ndarray:
    """Store in each conv2d node the range of its input over the samples (attrs["input_range"]);
    returns the samples with a batch axis (one sample (H, W, C) is a batch of one)."""
    with _float32_model(dst, g) as model:
        try:
            arrays, single = model._coerce_inputs(samples)
            batch = arrays[0]
            ranges = model.input_ranges(batch)
        except ValueError as e:
            raise ConversionError(f"--calibrate: {e}") from None
        except MemoryError:
            raise ConversionError("--calibrate: running the model on the samples needs more memory than this "
                                  "machine can allocate") from None
    for node in g.nodes:
        if node.name in ranges:
            node.attrs["input_range"] = [float(v) for v in ranges[node.name]]
    if report:
        report(f"calibrated the input ranges of {len(ranges)} convolution(s) on {batch.shape[0]} sample(s)")
    return batch


def _as_list(v: Any) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.float32) for a in (v if isinstance(v, (list, tuple)) else [v])]


def _write_with_vectors(dst: str, g: Graph, progress, verify_shape, reference, report, weights: str,
                        inputs: list[np.ndarray] | None = None) -> None:
    """Write the float32 model, run it on the vectors, store the kernels in
    `weights` precision and write it again with the vectors (the first file is
    a temporary one beside dst: the outputs need the converted model). For a
    reduced precision, report the stored model's error against the vectors."""
    from .. import verify as vf
    from ..runtime import load

    if reference is not None:
        xs, ys = _as_list(reference[0]), _as_list(reference[1])
        if len(xs) != len(g.inputs) or len(ys) != len(g.outputs):
            raise ConversionError(f"--reference: the model has {len(g.inputs)} input(s) and {len(g.outputs)} "
                                  f"output(s); got {len(xs)} and {len(ys)} arrays")
    elif inputs is not None:
        xs = inputs
    else:
        try:
            xs = vf.sample_inputs(g.inputs, verify_shape)
        except ValueError as e:
            raise ConversionError(str(e)) from None
    with _float32_model(dst, g, progress=None if weights != "float32" else progress) as model:
        try:
            got = model.predict(xs if len(xs) > 1 else xs[0])
        except ValueError as e:
            raise ConversionError(f"test vectors: {e}") from None
        except MemoryError:  # a forged config can claim activations no machine holds
            raise ConversionError("test vectors: running the model on one sample needs more memory than "
                                  "this machine can allocate") from None
    got = got if isinstance(got, list) else [got]
    if reference is not None:
        for name, y, want in zip(g.outputs, got, ys):
            if y.shape != want.shape:
                raise ConversionError(f"--reference output {name!r} has shape {want.shape}, the model gives {y.shape}")
            if report and weights == "float32":
                report(f"max error against the reference, output {name}: {vf.max_error(y, want):.3g}")
    else:
        ys = got
    scales = quantize.quantize_weights(g.nodes, g.weights, weights)
    header = g.to_header()
    vf.attach(header, g.weights, xs, ys, "reference" if reference is not None else "converter", weights)
    write_model(dst, header, g.weights, progress=progress if weights != "float32" else None, scales=scales)
    if weights == "float32":
        return
    # int8 files run in float32 compute or in int8 compute depending on the CPU: check both (each
    # is the same on every CPU up to float32 rounding; int8 compute is bitwise the same)
    modes = [(False, ", float32 compute"), (True, ", int8 compute")] if weights == "int8" else [(None, "")]
    against = "reference" if reference is not None else "model"
    for int8_compute, how in modes:
        with load(dst, num_threads=None, verify=False, int8_compute=int8_compute) as model:
            result = vf.run(model)
        for name, err in zip(result.outputs, result.errors):
            if report:
                report(f"max error of the {weights} weights against the float32 {against}{how}, output {name}: "
                       f"{err:.3g} (threshold {result.threshold:g})")
        if not result.passed:
            remedy = ("calibrate its ranges on real inputs (--calibrate), run it with --int8-compute off, or store "
                      "float16 weights" if int8_compute else
                      "store it with more precise weights (--weights float16, or float32)")
            warnings.warn(f"the {weights} weights{how} miss the float32 {against} by {max(result.errors):.3g}, more "
                          f"than the verify threshold {result.threshold:g}: `pyconvinfer verify` will report FAIL for "
                          f"this file; {remedy}", ConversionWarning, stacklevel=2)
