"""Model: a model file prepared for inference.

load() maps the file and checks it; the first predict() for an input shape
plans that shape once: tensor shapes, an activation arena laid out by tensor
lifetime, and a C plan (one step per layer) over the arena and the mapped
weights. Every later predict() with that shape copies the inputs in, runs the
plan in one C call without the GIL, and copies the outputs out.

Thread safety: each shape's plans form a pool. A predict() takes a free plan
(with its own activation arena) or, if every one is in use by other threads,
prepares another, so several Python threads run at once; a Model holds at most
as many arenas per shape as it had concurrent callers (docs/THREADS.md).

Pickling: a Model pickles as its file's absolute path, its load options and an
identity check (file size and the fixed header's checksum, which covers the
payload hash); unpickling re-maps the file without re-hashing the payload, and
reuses a Model already unpickled in the process (a Dask worker maps it once).
"""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
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
from .quantized_tensors import uint8_tensors
from .units import format_bytes

ArrayLike = Union[np.ndarray, Sequence[Any]]
MAX_PLANS = 8  # input shapes whose plans (and arenas) a Model keeps
SLICE_MACS = 8_000_000_000  # predict's default slice: its largest layer does about this many multiply-adds
INTERRUPTIBLE_MACS = 20_000_000  # runs whose largest layer is bigger stop on Ctrl-C between layers


@dataclass
class _Prepared:
    arena: np.ndarray
    plan: Any
    inputs: list[np.ndarray]   # arena views, (N, ...) each
    outputs: list[np.ndarray]  # arena views
    arena_bytes: int
    step_nodes: list[int]      # plan step -> index of its node in graph.nodes
    views: dict[str, np.ndarray]  # every arena tensor's view (live only between its producer and last reader)
    quantized: dict[str, tuple[float, float]]  # uint8 views: tensor -> (scale, zero point); x = scale * (q - zp)


class _Slot:
    """One prepared plan in a Model's pool, used by one caller at a time."""

    __slots__ = ("interruptible", "prep", "runner", "singles")

    def __init__(self, prep: _Prepared, interruptible: bool):
        self.prep = prep
        self.singles = [o[0] for o in prep.outputs]  # outputs of a single sample: no batch axis
        self.interruptible = interruptible  # long enough to be worth the SIGINT handler swap
        # predict's fast path (one input, float32 arena): the whole call in one C call
        one = len(prep.inputs) == 1 and prep.inputs[0].dtype == np.float32
        self.runner = _kernels.Runner(prep.plan, prep.inputs[0], prep.outputs) if one else None


def _sigint_watchable() -> bool:
    """True in the main thread while SIGINT has a Python handler (it raises
    KeyboardInterrupt by default); the C run then stops on Ctrl-C."""
    return threading.current_thread() is threading.main_thread() and callable(signal.getsignal(signal.SIGINT))


def _check_stored_kernel(opdef: Any, node: Any, file: Any) -> None:
    """An int8 kernel's scales: the tensor its table entry names, one float per packed
    output channel (the C validator can only check that they lie inside the file)."""
    name, scale = node.weights.get("kernel"), node.weights.get("kernel_scale")
    dtype = file.dtypes.get(name, "float32") if name else None
    if dtype != "int8":
        if scale is not None:
            raise ValueError(f"kernel_scale {scale!r} given for a {dtype or 'missing'} kernel (int8 kernels only)")
        return
    if scale is None or file.scales.get(name) != scale:
        raise ValueError(f"int8 kernel {name!r}: kernel_scale {scale!r} is not the scale tensor its table entry "
                         f"names ({file.scales.get(name)!r})")
    segments = opdef.channels(node.attrs, int(file.tensors[name].size)) if opdef.channels else []
    if not segments or sum(p * r * lanes for _, p, r, lanes in segments) != file.tensors[name].size:
        raise ValueError(f"int8 kernel {name!r} of {file.tensors[name].size} weights does not fit the layer")
    need = segments[0][1] * segments[0][3]
    if file.tensors[scale].size != need:
        raise ValueError(f"kernel_scale {scale!r} has {file.tensors[scale].size} floats; the layer's int8 kernel "
                         f"has {need} output channels (packed)")


def _plan_arena(graph: Graph, shapes: dict, batch: int, dtypes: dict[str, str] | None = None,
                scratch: dict[int, int] | None = None) -> tuple[dict[str, tuple[int, int]], int, dict[int, int]]:
    """Offsets of every tensor's buffer in one arena, reusing memory of dead
    tensors (greedy first fit by lifetime). Alias ops share their input's buffer.
    dtypes: every tensor's (default: the graph's; a plan keeps some in uint8, so
    without them the total is an upper bound). scratch: bytes of scratch per node
    index, placed beside that node's inputs and output and dead right after it
    (a Winograd layer's V and M reuse what earlier, larger activations left);
    the third result is their offsets."""
    root = {i["name"]: i["name"] for i in graph.inputs}
    itemsize = {t: np.dtype(d).itemsize for t, d in (dtypes or graph.dtypes()).items()}
    for node in graph.nodes:
        root[node.output] = root[node.inputs[0]] if REGISTRY[node.op].alias else node.output
    last_use: dict[str, int] = {}
    end = len(graph.nodes)
    for idx, node in enumerate(graph.nodes):
        for t in node.inputs:
            if t in root:  # not a constant operand (those live in the model file)
                last_use[root[t]] = idx
    for o in graph.outputs:
        last_use[root[o]] = end
    # Python ints (math.prod): a forged shape must reach the size limit check, not wrap or overflow int64
    size = {t: -(-max(itemsize[t] * batch * math.prod(shapes[t]), 4) // ALIGN) * ALIGN
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

    scratch_at: dict[int, int] = {}
    for i in graph.inputs:
        place(i["name"])
    for idx, node in enumerate(graph.nodes):
        if root[node.output] == node.output:
            place(node.output)
        if scratch and scratch.get(idx):
            key = f"scratch of node {idx}"  # not a tensor name: those are the graph's
            size[key] = -(-scratch[idx] // ALIGN) * ALIGN
            place(key)
            scratch_at[idx] = where.pop(key)[0]
        live[:] = [e for e in live if last_use.get(e[2], -1) > idx]
    return {t: where[root[t]] for t in root}, total, scratch_at


class Model:
    """A loaded model. Use pyconvinfer.load(path) to get one."""

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None, verify: bool = True,
                 isa: str | None = None, int8_compute: bool | None = None):
        self.num_threads = resolve_threads(num_threads)
        self.isa = resolve_isa(isa)
        if int8_compute not in (None, True, False):
            raise ValueError(f"int8_compute must be None (where the CPU has int8 dot products), True or False; "
                             f"got {int8_compute!r}")
        # int8 kernels compute in int8 where the path has int8 dot products (docs/PRECISION.md)
        self.int8_compute = _kernels.int8_dot_available(self.isa) if int8_compute is None else int8_compute
        # calibrated int8 files pass uint8 tensors between int8 layers (quantized_tensors.py); same
        # results bitwise, so only tests and benchmarks turn it off (before the first predict)
        self._uint8_tensors = True
        # as given: a worker resolves its own defaults
        self._options = {"num_threads": num_threads, "isa": isa, "int8_compute": int8_compute}
        self.file = read_model(path, verify=verify, num_threads=self.num_threads)
        self._path = os.path.abspath(self.file.path)
        self._identity = (self.file.file_size, bytes(self.file.mapping[56:64]))  # the fixed header's checksum
        try:
            self.graph = Graph.from_header(self.file.header, self.file.tensors)
            self._static = infer_shapes(self.graph, {i["name"]: self._input_shape_or_none(i)
                                                     for i in self.graph.inputs})
        except ValueError as e:
            raise ModelFileError(f"{self.file.path}: {e}") from None
        # (batch, *input shapes) -> the free plans of that shape. A caller takes
        # one, or prepares a new one if all are in use, and puts it back after.
        self._prepared: dict[tuple, list[_Slot]] = {}
        # x.shape -> (the free plans of its shape, x is one sample): predict's fast path
        self._fast: dict[tuple, tuple[list[_Slot], bool]] = {}
        self._macs: dict[tuple, int] = {}  # input shapes -> largest layer's MACs per sample
        self._lock = threading.Lock()  # guards adding and forgetting shapes, not runs
        self._running: list[None] = []  # one entry per run in progress: concurrent runs share the cores
        self._closed = False

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
                         if r not in ("kernel", "kernel_scale")) + int(node.attrs.get("params", 0))
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
                         "dtype": node.dtype, "weights_dtype": self._weights_dtype(node)})
        return rows

    def _weights_dtype(self, node: Any) -> str:
        """The stored precision of a node's kernel (its other weights are float32), "-" without weights."""
        if "kernel" in node.weights:
            return self.file.dtypes.get(node.weights["kernel"], "float32")
        return "/".join(sorted({self.file.dtypes.get(w, "float32") for w in node.weights.values()})) or "-"

    def summary(self, print_fn: Callable[[str], Any] | None = None) -> None:
        """Print the layer table (as Keras's Model.summary): name and op, output
        shape, parameters and MACs per sample, then the totals. print_fn: called
        with each line instead of print (e.g. a list's append). Returns None."""
        self._check_open()
        rows = self.layer_table()
        lines = [f"Model: {self.metadata.get('name', os.path.basename(self.file.path))}"]
        header = (f"{'Layer (op)':<44}{'Output Shape':<24}{'Param #':>12}{'MACs':>14}  {'Weights':<9}"
                  f"{'Details'}")
        lines += ["=" * len(header), header, "=" * len(header)]
        for i in self.graph.inputs:
            lines.append(f"{i['name'] + ' (input)':<44}{str((None, *i['shape'])):<24}{0:>12}{'':>14}")
        for r in rows:
            macs = "?" if r["macs"] is None else f"{r['macs']:,}"
            lines.append(f"{(r['name'] + ' (' + r['op'] + ')')[:43]:<44}{str(r['output_shape']):<24}"
                         f"{r['params']:>12,}{macs:>14}  {r['weights_dtype']:<9}{r['describe']}".rstrip())
        lines.append("=" * len(header))
        total = sum(r["params"] for r in rows)
        lines.append(f"Total params: {total:,} ({format_bytes(total * 4)} float32)")
        for line in lines:
            (print if print_fn is None else print_fn)(line)

    # ---- lifetime and pickling ----
    def close(self) -> None:
        """Release the plans, arenas and the file mapping. The mapping is
        unmapped once no array returned from the Model's tensors is alive and
        no predict() still runs in another thread. Later calls raise ValueError."""
        if self._closed:
            return
        self._closed = True
        self._fast = {}
        self._prepared = {}
        self.file.tensors = {}  # the arrays view the mapping: drop every reference to it
        self.graph.weights = {}
        self.file.mapping = None
        _forget_unpickled(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def verify(self, print_fn: Callable[[str], Any] | None = print) -> Any:
        """Rerun the test vectors stored at conversion (pyconvinfer/verify.py) and
        compare: prints the max error of each output and a PASS/FAIL line (unless
        print_fn is None) and returns the result (`.passed`, `.errors`)."""
        from . import verify as vf

        self._check_open()
        result = vf.run(self)
        if print_fn is not None:
            for line in result.lines():
                print_fn(line)
        return result

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self.file.path}: the model is closed")

    def __reduce__(self) -> tuple:
        self._check_open()
        return _unpickle, (self._path, self._options, self._identity)

    # ---- planning (one plan per input shape) ----
    @staticmethod
    def _check_arena_size(total: int, shapes_in: tuple, batch: int) -> None:
        if total > (1 << 40):
            gib = total >> 30  # an int: a forged shape's size can be too large for a float
            need = f"{gib} GiB" if gib < 10**12 else "over 10^12 GiB"
            raise ValueError(f"input shape {shapes_in} with batch {batch} needs {need} of activations")

    def _prepare(self, shapes_in: tuple[tuple[int, ...], ...], batch: int) -> _Prepared:
        names = self.input_names
        shapes = infer_shapes(self.graph, dict(zip(names, shapes_in)))
        self._check_arena_size(_plan_arena(self.graph, shapes, batch)[1], shapes_in, batch)  # before any step
        steps = []  # (node index, its OpDef, its Step)
        for index, node in enumerate(self.graph.nodes):
            opdef = REGISTRY[node.op]
            if opdef.alias:
                continue
            try:
                st = opdef.step(node.attrs, [shapes[t] if t in shapes else ConstShape(self.file.tensors[t].shape)
                                             for t in node.inputs], shapes[node.output], batch)
                _check_stored_kernel(opdef, node, self.file)
                if self.int8_compute and opdef.int8_step and self._weights_dtype(node) == "int8":
                    st = opdef.int8_step(node.attrs, st) or st
            except (ValueError, KeyError, TypeError, ZeroDivisionError) as e:
                raise ModelFileError(f"{self.file.path}: node {node.name!r} ({node.op}): {e}") from None
            steps.append((index, opdef, st))
        # tensors kept in uint8 between int8 convolutions (calibrated files): their range
        links = uint8_tensors(self.graph, {i: st for i, _, st in steps}) if self._uint8_tensors else {}
        dtypes = self.graph.dtypes()
        dtypes.update((t, "uint8") for t in links)
        # Steps that need scratch (Winograd: a shared part + one block per thread) get it in the arena
        scratch_bytes = {index: 4 * (st.scratch_shared + st.scratch_floats * self.num_threads)
                         for index, _, st in steps if st.scratch_floats or st.scratch_shared}
        offsets, total, scratch_at = _plan_arena(self.graph, shapes, batch, dtypes, scratch_bytes)
        raw = np.zeros(total + ALIGN, dtype=np.uint8)
        shift = -raw.ctypes.data % ALIGN  # 64-byte aligned start
        arena = raw[shift:shift + total]

        def view(t: str) -> np.ndarray:
            off, _ = offsets[t]
            dtype = np.dtype(dtypes[t])
            n = batch * int(np.prod(shapes[t], dtype=np.int64))
            return arena[off: off + n * dtype.itemsize].view(dtype).reshape((batch,) + tuple(shapes[t]))

        plan = _kernels.Plan([arena, self.file.mapping], [True, False])
        step_nodes = []
        for index, opdef, st in steps:
            node = self.graph.nodes[index]
            ins = [view(t).reshape(-1) if t in offsets else self.file.tensors[t].reshape(-1) for t in node.inputs]
            weights = [self.file.tensors[node.weights[r]].reshape(-1) if r in node.weights else None
                       for r in opdef.weights]
            wdtypes = [_kernels.DTYPE_IDS[self.file.dtypes.get(node.weights[r], "float32")] if r in node.weights
                       else 0 for r in opdef.weights]
            kind, params = acts.encode(node.attrs.get("activation")) if opdef.activation else (0, (0.0, 0.0, 0.0))
            floats = list(st.floats)
            if node.op == "conv2d" and node.output in links:  # it quantizes its output for the next layer
                floats = (floats + [0.0, 0.0])[:2] + list(links[node.output])  # floats 2, 3
            try:
                plan.add(opdef.c_id, ins, view(node.output).reshape(-1), weights=weights, weight_dtypes=wdtypes,
                         ints=list(st.ints),
                         in_flags=list(st.in_flags), rows=st.rows, count=st.count, algo=st.algo, act_kind=kind,
                         act_params=params, floats=floats,
                         scratch=(arena[scratch_at[index]: scratch_at[index] + scratch_bytes[index]].view(np.float32)
                                  if index in scratch_at else None))
            except (ValueError, TypeError, OverflowError) as e:
                raise ModelFileError(f"{self.file.path}: node {node.name!r} ({node.op}): {e}") from None
            step_nodes.append(index)
        quantized = {t: _kernels.int8_quantization(*r)[::2] for t, r in links.items()}
        return _Prepared(arena, plan, [view(n) for n in names], [view(o) for o in self.graph.outputs], total,
                         step_nodes, {t: view(t) for t in offsets}, quantized)

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
            if 0 in arr.shape[1:]:
                raise ValueError(f"input {name!r}: empty array of shape {arr.shape}")
            out.append(arr)
        if len({a.shape[0] for a in out}) != 1:
            raise ValueError(f"inputs have different batch sizes: {[a.shape[0] for a in out]}")
        return out, bool(single)

    # ---- the pool of prepared plans ----
    def _slot(self, key: tuple, arrays_shapes: tuple, batch: int) -> _Slot:
        """A free prepared plan for `key`, or a new one when every plan of that
        shape is in use by another caller (so at most one per concurrent caller)."""
        free = self._prepared.get(key)
        if free is not None:
            try:
                return free.pop()  # list.pop is atomic: no lock on this path
            except IndexError:
                pass
        try:
            prep = self._prepare(arrays_shapes, batch)
        except MemoryError:
            shapes = [(batch, *s) for s in arrays_shapes]
            raise MemoryError(f"input shape(s) {shapes}: not enough memory for the activations "
                              f"({self.arena_bytes_for(arrays_shapes, batch) / 2**20:.0f} MiB); "
                              "use a smaller batch (predict(..., batch_size=...))") from None
        except ValueError as e:
            if isinstance(e, ModelFileError):
                raise
            shapes = [(batch, *s) for s in arrays_shapes]
            raise ValueError(f"input shape(s) {shapes} do not fit the model: {e}") from None
        with self._lock:
            if key not in self._prepared:
                if len(self._prepared) >= MAX_PLANS:  # many input sizes: forget the oldest shape's plans
                    old = self._prepared.pop(next(iter(self._prepared)))
                    self._fast = {k: v for k, v in self._fast.items() if v[0] is not old}
                self._prepared[key] = []
        return _Slot(prep, self._plan_macs(arrays_shapes) * batch > INTERRUPTIBLE_MACS)

    def _release(self, key: tuple, slot: _Slot) -> None:
        free = self._prepared.get(key)
        if free is not None:  # else the shape was forgotten meanwhile: the plan goes with the slot
            free.append(slot)

    def _plan_macs(self, shapes: tuple) -> int:
        """Largest layer's MACs for one sample of these input shapes (0 if unknown)."""
        macs = self._macs.get(shapes)
        if macs is None:
            table = self.layer_table(dict(zip(self.input_names, shapes)))
            macs = max([r["macs"] or 0 for r in table] or [0])
            if len(self._macs) >= 8 * MAX_PLANS:  # images of many sizes: keep the cache bounded as the plans
                self._macs.clear()
            self._macs[shapes] = macs
        return macs

    def prepared(self, x: Any) -> _Prepared:
        """The plan for x's shapes (planned now if new), for benchmarks."""
        arrays, _ = self._coerce_inputs(x)
        key = (arrays[0].shape[0],) + tuple(a.shape[1:] for a in arrays)
        slot = self._slot(key, key[1:], key[0])
        self._release(key, slot)
        return slot.prep

    def input_ranges(self, x: Any, op: str = "conv2d", batch_size: int = 8) -> dict[str, tuple[float, float]]:
        """The smallest and largest value of the first input of every `op` node over the
        samples x, by node name: the calibrated ranges of `convert --calibrate` (the
        model runs layer by layer, in float32, reading each input before it is reused). It uses
        the Model's plan for these shapes directly: not concurrently with predict on the same Model."""
        self._check_open()
        arrays, _ = self._coerce_inputs(x)
        ranges: dict[str, tuple[float, float]] = {}
        for b0 in range(0, arrays[0].shape[0], batch_size):
            part = [a[b0:b0 + batch_size] for a in arrays]
            prep = self.prepared(part if len(part) > 1 else part[0])
            for dst, a in zip(prep.inputs, part):
                dst[...] = a
            for step, index in enumerate(prep.step_nodes):
                node = self.graph.nodes[index]
                if node.op == op and node.inputs[0] in prep.views:
                    t = node.inputs[0]
                    v = prep.views[t]
                    lo, hi = float(v.min()), float(v.max())
                    if t in prep.quantized:  # kept in uint8: the values it stands for
                        scale, zp = prep.quantized[t]
                        lo, hi = float(scale * (lo - zp)), float(scale * (hi - zp))
                    old = ranges.get(node.name, (lo, hi))
                    ranges[node.name] = (min(lo, old[0]), max(hi, old[1]))
                prep.plan.run_one(step, self.num_threads, self.isa)
        return ranges

    # ---- inference ----
    def predict(self, x: Any, batch_size: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray | list[np.ndarray]:
        """Run the model and return its output(s).

        x: one input: an array (N, H, W, C) or one sample (H, W, C); several
        inputs: a list in input order or a dict by input name. Any array the
        size of the batch works, np.load(..., mmap_mode="r") included: only
        one slice at a time is converted to float32.
        batch_size: samples per run. By default a batch runs in slices sized so
        the largest layer of a slice is about SLICE_MACS multiply-adds (one run
        for small models), which keeps memory bounded and Ctrl-C prompt.
        progress: called as progress(done, total) in samples after each slice.

        Returns an array, or a list for several outputs (without the batch axis
        for a single sample). An empty batch returns empty outputs (0, ...).
        Thread-safe: concurrent callers each run on their own activation arena."""
        if type(x) is np.ndarray and batch_size is None and progress is None:
            fast = self._fast.get(x.shape)
            if fast is not None:  # the common case: a shape seen before, one input
                free, single = fast
                try:
                    slot = free.pop()  # atomic: no lock
                except IndexError:
                    slot = None  # every plan of this shape is busy: the general path makes one
                if slot is not None:
                    running = self._running
                    running.append(None)  # atomic, as pop(): no lock
                    try:
                        threads = self.num_threads  # _threads_now(), inlined
                        if threads > 1:
                            threads = max(1, threads // len(running))
                        watch = slot.interruptible and _sigint_watchable()
                        runner = slot.runner  # None for an input stored in another dtype than float32
                        out = runner(x, single, threads, self.isa, watch) if runner is not None else None
                        if out is None and x.dtype.kind in "fiub":  # strided, float16...: NumPy converts
                            np.copyto(slot.prep.inputs[0], x, casting="unsafe")
                            slot.prep.plan.run(threads, self.isa, watch)
                            outs = [o.copy() for o in (slot.singles if single else slot.prep.outputs)]
                            out = outs[0] if len(outs) == 1 else outs
                    finally:
                        running.pop()
                        free.append(slot)
                    if out is not None:  # else other dtypes: the checks below explain
                        return out
        self._check_open()
        arrays, single = self._coerce_inputs(x)
        n = arrays[0].shape[0]
        sample_shapes = tuple(a.shape[1:] for a in arrays)
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if n == 0:
            outs = self._empty_outputs(sample_shapes)
        else:
            step = int(batch_size) if batch_size is not None else self._auto_slice(sample_shapes)
            if n <= step:
                fast_key = x.shape if type(x) is np.ndarray and len(arrays) == 1 else None
                outs = self._run(arrays, single, remember=fast_key)
            else:
                outs = None
                for start in range(0, n, step):
                    part = self._run([a[start:start + step] for a in arrays], False, remember=None)
                    if outs is None:
                        outs = [np.empty((n,) + p.shape[1:], np.float32) for p in part]
                    for o, p in zip(outs, part):
                        o[start:start + len(p)] = p
                    if progress is not None and start + step < n:
                        progress(start + len(part[0]), n)
        if progress is not None:
            progress(n, n)
        return outs[0] if len(outs) == 1 else outs

    def _auto_slice(self, sample_shapes: tuple) -> int:
        try:
            macs = self._plan_macs(sample_shapes)
        except ValueError as e:  # the shapes do not fit: say so as every predict does
            if isinstance(e, ModelFileError):
                raise
            shapes = [(None, *s) for s in sample_shapes]
            raise ValueError(f"input shape(s) {shapes} do not fit the model: {e}") from None
        return max(1, int(SLICE_MACS // macs)) if macs else 1 << 30

    def arena_bytes_for(self, sample_shapes: tuple, batch: int) -> int:
        """Activation memory of one plan for these per-sample input shapes and batch (float32
        tensors: an upper bound where plans keep some in uint8)."""
        shapes = infer_shapes(self.graph, dict(zip(self.input_names, sample_shapes)))
        return _plan_arena(self.graph, shapes, batch)[1]

    def _empty_outputs(self, sample_shapes: tuple) -> list[np.ndarray]:
        try:
            shapes = infer_shapes(self.graph, dict(zip(self.input_names, sample_shapes)))
        except ValueError as e:
            raise ValueError(f"input shape(s) {[(0, *s) for s in sample_shapes]} do not fit the model: {e}") from None
        return [np.zeros((0,) + tuple(shapes[o]), np.float32) for o in self.graph.outputs]

    def _run(self, arrays: list[np.ndarray], single: bool, remember: tuple | None) -> list[np.ndarray]:
        """One plan run over these arrays (a batch, or one sample if single);
        remember: the caller's array shape, for predict's fast path."""
        batch = arrays[0].shape[0]
        key = (batch,) + tuple(a.shape[1:] for a in arrays)
        slot = self._slot(key, key[1:], batch)
        self._running.append(None)
        try:
            prep = slot.prep
            for dst, src in zip(prep.inputs, arrays):
                np.copyto(dst, src, casting="unsafe")
            prep.plan.run(self._threads_now(), self.isa, slot.interruptible and _sigint_watchable())
            outs = [o.copy() for o in (slot.singles if single else prep.outputs)]
        finally:
            self._running.pop()
            self._release(key, slot)
        if remember is not None:
            with self._lock:  # not for a shape forgotten meanwhile: the fast path would keep its plans
                free = self._prepared.get(key)
                if free is not None:
                    self._fast[remember] = (free, single)
        return outs

    def _threads_now(self) -> int:
        """Threads for a run starting now: num_threads shared among the runs in
        progress (this one included), so concurrent callers split the cores
        instead of each starting num_threads OpenMP threads (predict inlines it)."""
        return max(1, self.num_threads // len(self._running)) if self.num_threads > 1 else 1

    def __call__(self, x: Any) -> np.ndarray | list[np.ndarray]:
        return self.predict(x)

    def arena_bytes(self, batch: int = 1) -> int | None:
        """Activation memory for a batch (None while height/width are unknown); for a
        calibrated int8 file computing in int8 an upper bound (its plans keep some tensors in uint8)."""
        shapes = [self._input_shape_or_none(i) for i in self.graph.inputs]
        if any(d is None for s in shapes for d in s):
            return None
        return _plan_arena(self.graph, infer_shapes(self.graph, dict(zip(self.input_names, shapes))), batch)[1]

    def __repr__(self) -> str:
        if self._closed:
            return f"<pyconvinfer.Model {self.file.path!r} (closed)>"
        return f"<pyconvinfer.Model {self.file.path!r} inputs={self.input_shapes} outputs={self.output_shapes}>"


_UNPICKLED: dict[tuple, Model] = {}  # per process: (path, options, identity) -> Model
_UNPICKLED_MAX = 8
_unpickle_lock = threading.RLock()  # close() inside _unpickle takes it again


def _unpickle(path: str, options: dict, identity: tuple) -> Model:
    key = (path, tuple(sorted(options.items())), identity)
    with _unpickle_lock:
        model = _UNPICKLED.get(key)
        if model is not None and not model.closed:
            return model
        model = Model(path, verify=False, **options)
        if model._identity != identity:
            size = model.file.file_size
            model.close()
            raise ModelFileError(f"{path}: not the file the model was pickled from (size {size} bytes, pickled "
                                 f"{identity[0]}; or its checksum differs): copy the same .pci file to every machine")
        if len(_UNPICKLED) >= _UNPICKLED_MAX:
            _UNPICKLED.pop(next(iter(_UNPICKLED)))
        _UNPICKLED[key] = model
        return model


def _forget_unpickled(model: Model) -> None:
    with _unpickle_lock:
        for k in [k for k, v in _UNPICKLED.items() if v is model]:
            del _UNPICKLED[k]


def load(path: str | os.PathLike, num_threads: int | None = None, *, verify: bool = True,
         isa: str | None = None, int8_compute: bool | None = None) -> Model:
    """Open a .pci model file. num_threads: cores to use (default: OMP_NUM_THREADS
    if set, else all this process may run on). verify: check the payload
    checksum (fast, parallel). int8_compute: convolutions (and dense layers at
    batch 1) with int8 kernels compute in int8 on inputs quantized per tensor (None: where the CPU has int8
    dot products; False: always float32, exactly q * scale; docs/PRECISION.md).
    Use as `with pyconvinfer.load(path) as m:` to release the mapping at the end
    of the block."""
    return Model(path, num_threads=num_threads, verify=verify, isa=isa, int8_compute=int8_compute)
