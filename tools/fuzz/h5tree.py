"""HDF5 files as JSON trees and back, for structure-aware fuzzing of the Keras readers.

libhdf5 is C: a crash inside it cannot be caught in-process, and byte-mutated
HDF5 files mostly test libhdf5 rather than our readers. So the fuzzer mutates a
tree and this module writes a well-formed HDF5 file from it with h5py; what the
readers see through h5py (attributes, groups, datasets, shapes, dtypes) is then
whatever the mutation made it.

  group   = {"attrs": {name: attr}, "groups": {name: group}, "datasets": {name: dataset}}
  attr    = str | number | [numbers] | {"json": any} (a JSON string attribute, e.g. model_config)
            | {"strings": [str]} (an array of byte strings, as Keras 2 writes layer_names)
  dataset = {"shape": [int], "dtype": "float32" | ...} (values: a fixed pattern; big ones are
            written as chunked, never-written datasets, so a 10^12-element claim costs nothing here)
"""

from __future__ import annotations

import io
import json
from typing import Any

import h5py
import numpy as np

DTYPES = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "int32": "<i4", "int8": "i1", "uint8": "u1",
          "bool": "?", "complex64": "<c8", "bytes": "S4"}
MAX_WRITTEN = 1 << 16  # datasets larger than this many elements are left unwritten (fill value)


class TreeError(Exception):
    """The tree cannot be written as HDF5 (an invalid fuzz input, not a finding)."""


def _attr_value(v: Any) -> Any:
    if isinstance(v, dict) and "json" in v:
        return json.dumps(v["json"])
    if isinstance(v, dict) and "strings" in v and isinstance(v["strings"], list):
        return np.array([str(s).encode("utf-8", "surrogatepass") for s in v["strings"]], dtype="S")
    if isinstance(v, (str, bool)) or (isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 2**63):
        return v
    if isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return np.array(v, dtype=float if not v or any(isinstance(x, float) for x in v) else np.int64)
    raise TreeError(f"attribute value {v!r:.40} has no HDF5 form here")


def _dataset(group: h5py.Group, name: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        raise TreeError("dataset spec is not a dict")
    shape = spec.get("shape", [])
    if not isinstance(shape, list) or len(shape) > 8 or not all(isinstance(d, int) and 0 <= d < 2**40 for d in shape):
        raise TreeError(f"bad dataset shape {shape!r:.40}")
    dtype = np.dtype(DTYPES.get(spec.get("dtype", "float32"), "<f4"))
    n = int(np.prod(shape, dtype=object)) if shape else 1
    if n <= MAX_WRITTEN:
        if dtype.kind == "S":
            data = np.full(shape, b"ab", dtype=dtype)
        else:
            data = ((np.arange(n) % 13) * 0.25 - 1.5).astype(dtype).reshape(shape)
        group.create_dataset(name, data=data)
    else:
        group.create_dataset(name, shape=tuple(shape), dtype=dtype, chunks=tuple(max(1, min(d, 64)) for d in shape))


def write_group(group: h5py.Group, tree: Any) -> None:
    if not isinstance(tree, dict):
        raise TreeError("group is not a dict")
    for sub, kind in (("attrs", dict), ("groups", dict), ("datasets", dict)):
        if not isinstance(tree.get(sub, {}), kind):
            raise TreeError(f"{sub} is not a {kind.__name__}")
    try:
        for k, v in tree.get("attrs", {}).items():
            group.attrs[k] = _attr_value(v)
        for k, v in tree.get("groups", {}).items():
            write_group(group.require_group(k), v)
        for k, v in tree.get("datasets", {}).items():
            _dataset(group, k, v)
    except (ValueError, TypeError, KeyError, OSError, OverflowError, UnicodeError) as e:
        raise TreeError(f"h5py refused the tree: {e}") from None


def to_bytes(tree: Any) -> bytes:
    buf = io.BytesIO()
    try:
        with h5py.File(buf, "w") as f:
            write_group(f, tree)
    except (RuntimeError, ValueError, KeyError, OSError) as e:  # h5py refusing a name ('', '.', ...)
        raise TreeError(f"h5py refused the tree: {e}") from None
    return buf.getvalue()


def _read_attr(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    if isinstance(v, str):
        try:
            parsed = json.loads(v)
        except ValueError:
            return v
        return {"json": parsed} if isinstance(parsed, (dict, list)) else v
    if isinstance(v, np.ndarray) and v.dtype.kind in "SOU":
        return {"strings": [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in v.tolist()]}
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def from_group(group: h5py.Group) -> dict:
    """An HDF5 group as a tree (dataset values are not kept, only shape and dtype)."""
    out: dict = {"attrs": {k: _read_attr(v) for k, v in group.attrs.items()}, "groups": {}, "datasets": {}}
    names = {np.dtype(v).str: k for k, v in DTYPES.items()}
    for k, v in group.items():
        if isinstance(v, h5py.Group):
            out["groups"][k] = from_group(v)
        else:
            out["datasets"][k] = {"shape": list(v.shape), "dtype": names.get(v.dtype.str, "float32")}
    return out
