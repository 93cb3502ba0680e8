"""Model: a model file prepared for inference.

load() maps the file and checks it; the first predict() for an input shape
plans that shape once: tensor shapes, an activation arena laid out by tensor
lifetime, and a C plan (one step per layer) over the arena and the mapped
weights. Every later predict() with that shape copies the inputs in, runs the
plan in one C call without the GIL, and copies the outputs out.

Thread safety: predict() holds a per-Model lock while it uses the arena, so
concurrent calls from several Python threads are correct and run one after
the other (each call already uses every core through OpenMP).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from . import _kernels
from . import activations as acts
from .errors import ModelFileError
from .format import ALIGN, read_model
from .graph import Graph
from .kernels import resolve_isa, resolve_threads
from .ops import REGISTRY, ConstShape, infer_shapes

ArrayLike = Union[np.ndarray, Sequence[Any]]
MAX_PLANS = 8  # input shapes whose plans (and arenas) a Model keeps


@dataclass
class _Prepared:
    arena: np.ndarray
    plan: Any
    inputs: list[np.ndarray]   # arena views, (N, ...) each
    outputs: list[np.ndarray]  # arena views
    arena_bytes: int
    scratch: np.ndarray        # per-thread scratch of the steps that need it (kept alive with the plan)
    step_nodes: list[int]      # plan step -> index of its node in graph.nodes


def _plan_arena(graph: Graph, shapes: dict, batch: int) -> tuple[dict[str, tuple[int, int]], int]:
    """Offsets of every tensor's buffer in one arena, reusing memory of dead
    tensors (greedy first fit by lifetime). Alias ops share their input's buffer."""
    root = {i["name"]: i["name"] for i in graph.inputs}
    itemsize = {i["name"]: np.dtype(i.get("dtype", "float32")).itemsize for i in graph.inputs}
    for node in graph.nodes:
        root[node.output] = root[node.inputs[0]] if REGISTRY[node.op].alias else node.output
        itemsize[node.output] = np.dtype(node.dtype).itemsize
    last_use: dict[str, int] = {}
    end = len(graph.nodes)
    for idx, node in enumerate(graph.nodes):
        for t in node.inputs:
            if t in root:  # not a constant operand (those live in the model file)
                last_use[root[t]] = idx
    for o in graph.outputs:
        last_use[root[o]] = end
    size = {t: -(-max(itemsize[t] * batch * int(np.prod(shapes[t], dtype=np.int64)), 4) // ALIGN) * ALIGN
            for t in root if root[t] == t}
    live: list[tuple[int, int, str]] = []  # (offset, size, buffer)
    where: dict[str, tuple[int, int]] = {}
    total = 0

    def place(buf: str) -> None:
        nonlocal total
        need, off = size[buf], 0
        for o, s, _ in sorted(live):
            if o - off >= need:
                break
            off = max(off, o + s)
        live.append((off, need, buf))
        where[buf] = (off, need)
        total = max(total, off + need)

    for i in graph.inputs:
        place(i["name"])
    for idx, node in enumerate(graph.nodes):
        if root[node.output] == node.output:
            place(node.output)
        live[:] = [e for e in live if last_use.get(e[2], -1) > idx]
    return {t: where[root[t]] for t in root}, total


class Model:
    """A loaded model. Use pyconvinfer.load(path) to get one."""

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None, verify: bool = True,
                 isa: str | None = None):
        self.num_threads = resolve_threads(num_threads)
        self.isa = resolve_isa(isa)
        self.file = read_model(path, verify=verify, num_threads=self.num_threads)
        try:
            self.graph = Graph.from_header(self.file.header, self.file.tensors)
            self._static = infer_shapes(self.graph, {i["name"]: self._input_shape_or_none(i)
                                                     for i in self.graph.inputs})
        except ValueError as e:
            raise ModelFileError(f"{self.file.path}: {e}") from None
        self._prepared: dict[tuple, _Prepared] = {}
        # x.shape -> (plan, its output views: without the batch axis for a single sample)
        self._fast: dict[tuple, tuple[_Prepared, list[np.ndarray]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _input_shape_or_none(i: dict) -> tuple:
        return tuple(None if d is None else int(d) for d in i["shape"])

    # ---- description ----
    @property
    def input_names(self) -> list[str]:
        return [i["name"] for i in self.graph.inputs]

    @property
    def output_names(self) -> list[str]:
        return list(self.graph.outputs)

    @property
    def input_shapes(self) -> list[tuple]:
        """Per-input shapes with the batch axis as None (Keras style)."""
        return [(None,) + self._input_shape_or_none(i) for i in self.graph.inputs]

    @property
    def output_shapes(self) -> list[tuple]:
        return [(None,) + tuple(self._static[o]) for o in self.graph.outputs]

    @property
    def input_shape(self) -> tuple | list[tuple]:
        s = self.input_shapes
        return s[0] if len(s) == 1 else s

    @property
    def output_shape(self) -> tuple | list[tuple]:
        s = self.output_shapes
        return s[0] if len(s) == 1 else s

    @property
    def metadata(self) -> dict:
        return self.graph.metadata

    def layer_table(self, input_shapes: dict | None = None) -> list[dict[str, Any]]:
        """One row per node: name, op, output shape, parameters, MACs per sample."""
        shapes = self._static if input_shapes is None else infer_shapes(self.graph, input_shapes)
        rows = []
        for node in self.graph.nodes:
            params = sum(int(self.file.tensors[w].size) for r, w in node.weights.items()
                         if r != "kernel") + int(node.attrs.get("params", 0))
            params += sum(int(self.file.tensors[t].size) for t in node.inputs if t in self.file.tensors)
            out = shapes[node.output]
            opdef = REGISTRY[node.op]
            try:
                macs = opdef.macs(node.attrs, [shapes.get(t, self.file.tensors.get(t, np.empty(0)).shape)
                                               for t in node.inputs], out)
            except TypeError:  # unknown spatial size
                macs = None
            rows.append({"name": node.name, "op": node.op, "output_shape": (None,) + tuple(out),
                         "params": params, "macs": macs, "attrs": node.attrs, "describe": opdef.describe(node.attrs),
                         "dtype": node.dtype})
        return rows

    def summary(self, print_fn=print) -> str:
        rows = self.layer_table()
        lines = [f"Model: {self.metadata.get('name', os.path.basename(self.file.path))}"]
        header = f"{'Layer (op)':<44}{'Output Shape':<24}{'Param #':>12}{'MACs':>14}"
        lines += ["=" * len(header), header, "=" * len(header)]
        for i in self.graph.inputs:
            lines.append(f"{i['name'] + ' (input)':<44}{str((None, *i['shape'])):<24}{0:>12}{'':>14}")
        for r in rows:
            macs = "?" if r["macs"] is None else f"{r['macs']:,}"
            lines.append(f"{(r['name'] + ' (' + r['op'] + ')')[:43]:<44}{str(r['output_shape']):<24}"
                         f"{r['params']:>12,}{macs:>14}")
        lines.append("=" * len(header))
        total = sum(r["params"] for r in rows)
        lines.append(f"Total params: {total:,} ({total * 4 / 1e6:.2f} MB float32)")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    # ---- inference ----
    def _prepare(self, shapes_in: tuple[tuple[int, ...], ...], batch: int) -> _Prepared:
        names = self.input_names
        shapes = infer_shapes(self.graph, dict(zip(names, shapes_in)))
        offsets, total = _plan_arena(self.graph, shapes, batch)
        if total > (1 << 40):
            raise ValueError(f"input shape {shapes_in} with batch {batch} needs {total / 2**30:.0f} GiB of activations")
        raw = np.zeros(total + ALIGN, dtype=np.uint8)
        shift = -raw.ctypes.data % ALIGN  # 64-byte aligned start
        arena = raw[shift:shift + total]

        def view(t: str) -> np.ndarray:
            off, _ = offsets[t]
            dtype = np.dtype(self.graph.dtype(t))
            n = batch * int(np.prod(shapes[t], dtype=np.int64))
            return arena[off: off + n * dtype.itemsize].view(dtype).reshape((batch,) + tuple(shapes[t]))

        steps = []  # (node index, its OpDef, its Step)
        for index, node in enumerate(self.graph.nodes):
            opdef = REGISTRY[node.op]
            if opdef.alias:
                continue
            try:
                st = opdef.step(node.attrs, [shapes[t] if t in shapes else ConstShape(self.file.tensors[t].shape)
                                             for t in node.inputs], shapes[node.output], batch)
            except (ValueError, KeyError, TypeError, ZeroDivisionError) as e:
                raise ModelFileError(f"{self.file.path}: node {node.name!r} ({node.op}): {e}") from None
            steps.append((index, opdef, st))
        # Steps that need scratch (Winograd) share one block: the largest need, per thread.
        need = max([st.scratch_floats for _, _, st in steps] or [0])
        scratch = np.empty(max(need * self.num_threads, 16), dtype=np.float32)
        plan = _kernels.Plan([arena, self.file.mapping, scratch], [True, False, True])
        step_nodes = []
        for index, opdef, st in steps:
            node = self.graph.nodes[index]
            ins = [view(t).reshape(-1) if t in offsets else self.file.tensors[t].reshape(-1) for t in node.inputs]
            weights = [self.file.tensors[node.weights[r]].reshape(-1) if r in node.weights else None
                       for r in opdef.weights]
            kind, params = acts.encode(node.attrs.get("activation")) if opdef.activation else (0, (0.0, 0.0, 0.0))
            try:
                plan.add(opdef.c_id, ins, view(node.output).reshape(-1), weights=weights, ints=list(st.ints),
                         in_flags=list(st.in_flags), rows=st.rows, count=st.count, algo=st.algo, act_kind=kind,
                         act_params=params, floats=list(st.floats),
                         scratch=scratch if st.scratch_floats else None)
            except (ValueError, TypeError, OverflowError) as e:
                raise ModelFileError(f"{self.file.path}: node {node.name!r} ({node.op}): {e}") from None
            step_nodes.append(index)
        return _Prepared(arena, plan, [view(n) for n in names], [view(o) for o in self.graph.outputs], total,
                         scratch, step_nodes)

    def _coerce_inputs(self, x: Any) -> tuple[list[np.ndarray], bool]:
        names = self.input_names
        if isinstance(x, Mapping):
            missing = [n for n in names if n not in x]
            extra = [k for k in x if k not in names]
            if missing or extra:
                raise ValueError(f"inputs by name: missing {missing}, unknown {extra}; the model's inputs are {names}")
            arrays = [x[n] for n in names]
        elif isinstance(x, (list, tuple)) and len(names) > 1:
            if len(x) != len(names):
                raise ValueError(f"the model has {len(names)} inputs {names}, got {len(x)} arrays")
            arrays = list(x)
        elif len(names) == 1:
            arrays = [x]
        else:
            raise ValueError(f"the model has {len(names)} inputs {names}: pass a list or a dict of arrays")
        out, single = [], None
        for name, shape, a in zip(names, self.input_shapes, arrays):
            arr = np.asarray(a)
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"input {name!r}: expected numbers, got dtype {arr.dtype}")
            per_sample = shape[1:]
            if arr.ndim == len(per_sample):
                is_single = True
                arr = arr[None]
            elif arr.ndim == len(per_sample) + 1:
                is_single = False
            else:
                raise ValueError(
                    f"input {name!r}: expected shape {shape} (or one sample {per_sample}), got {arr.shape}")
            if single is not None and single != is_single:
                raise ValueError("give every input with a batch axis, or none of them")
            single = is_single
            for got, want in zip(arr.shape[1:], per_sample):
                if want is not None and got != want:
                    raise ValueError(f"input {name!r}: expected shape {shape}, got {arr.shape}")
            if arr.shape[0] == 0 or 0 in arr.shape:
                raise ValueError(f"input {name!r}: empty array of shape {arr.shape}")
            out.append(arr)
        if len({a.shape[0] for a in out}) != 1:
            raise ValueError(f"inputs have different batch sizes: {[a.shape[0] for a in out]}")
        return out, bool(single)

    def prepared(self, x: Any) -> _Prepared:
        """The plan for x's shapes (planned now if new), for benchmarks."""
        arrays, _ = self._coerce_inputs(x)
        self.predict(x)
        return self._prepared[(arrays[0].shape[0],) + tuple(a.shape[1:] for a in arrays)]

    def predict(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """Run the model. One input: an array (N, H, W, C) or one sample (H, W, C);
        several: a list in input order or a dict by input name. Returns an
        array, or a list for several outputs (without the batch axis for a
        single sample)."""
        if type(x) is np.ndarray:  # the common case, checked once per shape
            fast = self._fast.get(x.shape)
            if fast is not None:
                prep, outputs = fast
                inp = prep.inputs[0]
                with self._lock:  # the input copy happens in C when x is C-contiguous float32
                    ran = prep.plan.run_from(x, inp, self.num_threads, self.isa)
                    if not ran and x.dtype.kind in "fiub":  # other dtypes: the checks below explain
                        np.copyto(inp, x, casting="unsafe")
                        prep.plan.run(self.num_threads, self.isa)
                        ran = True
                    if ran:
                        outs = [o.copy() for o in outputs]
                if ran:
                    return outs[0] if len(outs) == 1 else outs
        arrays, single = self._coerce_inputs(x)
        batch = arrays[0].shape[0]
        key = (batch,) + tuple(a.shape[1:] for a in arrays)
        with self._lock:
            prep = self._prepared.get(key)
            if prep is None:
                try:
                    prep = self._prepare(tuple(a.shape[1:] for a in arrays), batch)
                except ValueError as e:
                    if isinstance(e, ModelFileError):
                        raise
                    raise ValueError(f"input shape(s) {[a.shape for a in arrays]} do not fit the model: {e}") from None
                if len(self._prepared) >= MAX_PLANS:  # many input sizes: forget the oldest plan and its arena
                    old = self._prepared.pop(next(iter(self._prepared)))
                    self._fast = {k: v for k, v in self._fast.items() if v[0] is not old}
                self._prepared[key] = prep
            if type(x) is np.ndarray and len(arrays) == 1:
                self._fast[x.shape] = (prep, [o[0] if single else o for o in prep.outputs])
            for dst, src in zip(prep.inputs, arrays):
                np.copyto(dst, src, casting="unsafe")
            prep.plan.run(self.num_threads, self.isa)
            outs = [o[0].copy() if single else o.copy() for o in prep.outputs]
        return outs[0] if len(outs) == 1 else outs

    def __call__(self, x: Any) -> np.ndarray | list[np.ndarray]:
        return self.predict(x)

    def arena_bytes(self, batch: int = 1) -> int | None:
        """Activation memory for a batch (None while height/width are unknown)."""
        shapes = [self._input_shape_or_none(i) for i in self.graph.inputs]
        if any(d is None for s in shapes for d in s):
            return None
        _, total = _plan_arena(self.graph, infer_shapes(self.graph, dict(zip(self.input_names, shapes))), batch)
        return total

    def __repr__(self) -> str:
        return f"<pyconvinfer.Model {self.file.path!r} inputs={self.input_shapes} outputs={self.output_shapes}>"


def load(path: str | os.PathLike, num_threads: int | None = None, *, verify: bool = True,
         isa: str | None = None) -> Model:
    """Open a .pci model file. num_threads: cores to use (default: all this
    process may run on). verify: check the payload checksum (fast, parallel)."""
    return Model(path, num_threads=num_threads, verify=verify, isa=isa)
