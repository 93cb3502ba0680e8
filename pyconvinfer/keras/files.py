"""Reading Keras files without TensorFlow: format detection (by content),
the model config, and each layer's weights in Keras order.

Formats (see docs/keras-formats notes):
  full-model HDF5     root attr model_config + group model_weights (Keras 2 and 3)
  Keras 3 .keras zip  config.json + metadata.json + model.weights.h5
  weights-only HDF5   root attr layer_names, one group per layer (save_weights, keras.applications)
  Keras 3 weights     groups layers/<snake_case class name, numbered>/vars/<i> (.weights.h5)
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConversionError


@dataclass
class WeightSource:
    """Weights of one file: how to find each layer's list of arrays."""

    kind: str                                  # "by_name" | "keras3_vars" | "by_position"
    by_name: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)  # layer -> [(wname, arr)]
    order: list[str] = field(default_factory=list)       # saved layer names with weights, in file order
    vars_root: Any = None                      # h5py group "layers" (keras3_vars)


@dataclass
class KerasFile:
    path: str
    format: str                   # "h5" | "keras" | "weights-h5" | "weights-keras3"
    config: dict | None        # the model config ({"class_name", "config"}) if the file has one
    keras_version: str
    weights: WeightSource
    _keep: list = field(default_factory=list)  # open h5py files / buffers


def _decode(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray):
        return [_decode(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_decode(x) for x in v]
    if isinstance(v, np.generic):
        return _decode(v.item())
    return v


def _list_attr(group: Any, name: str) -> list[str]:
    """A list attribute, joined from name0, name1, ... chunks when Keras split it (> 64 KB)."""
    if name in group.attrs:
        return [str(x) for x in _decode(group.attrs[name])]
    out, i = [], 0
    while f"{name}{i}" in group.attrs:
        out += [str(x) for x in _decode(group.attrs[f"{name}{i}"])]
        i += 1
    return out


def _read_weight(ds: Any, what: str) -> np.ndarray:
    """One weight array, checked before it is read: a dataset (not a group), of numbers,
    whose stored bytes account for its size. A file may declare a dataset of 10^12
    elements it never wrote (HDF5 fills it on read): refused before anything is allocated.
    Keras writes weights uncompressed; compressed ones (h5repack) may expand 1024-fold."""
    import h5py

    if not isinstance(ds, h5py.Dataset):
        raise ConversionError(f"{what} is not a dataset (found an HDF5 {type(ds).__name__})")
    if ds.dtype.kind not in "fiu":
        raise ConversionError(f"{what} has dtype {ds.dtype}, expected floating-point numbers")
    size = int(np.prod(ds.shape, dtype=object)) if ds.shape else 1
    need = size * ds.dtype.itemsize
    stored = ds.id.get_storage_size()
    filtered = ds.id.get_create_plist().get_nfilters() > 0
    if need > (1024 * stored if filtered else stored) and need > 4096:  # tiny ones may live in the header
        raise ConversionError(
            f"{what}: shape {list(ds.shape)} needs {need} bytes but the file stores {stored}: "
            "the dataset was never written or the file is damaged")
    return _read_float32(ds)


def _member(group: Any, name: str) -> Any:
    """group[name], or None when there is no such member. A name from the file may be
    one HDF5 cannot look up at all ('' raises RuntimeError in h5py): that is "no such member"."""
    if not name:
        return None
    try:
        return group[name] if name in group else None
    except (KeyError, ValueError, RuntimeError):
        return None

CHUNK_BYTES = 16 << 20  # big datasets are read in slices: Ctrl-C is seen between them


def _read_float32(ds: Any) -> np.ndarray:
    """A dataset as float32; a big one slice by slice along its first axis."""
    shape = tuple(ds.shape or ())
    if not shape or ds.size * 4 <= CHUNK_BYTES:
        return np.asarray(ds[()], dtype=np.float32)
    out = np.empty(shape, np.float32)
    rows = max(1, CHUNK_BYTES // max(1, 4 * ds.size // shape[0]))
    for i in range(0, shape[0], rows):
        out[i:i + rows] = ds[i:i + rows]
    return out


def _read_layer_groups(root: Any) -> tuple[dict[str, list[tuple[str, np.ndarray]]], list[str]]:
    by_name, order = {}, []
    for lname in _list_attr(root, "layer_names"):
        g = _member(root, lname)
        if g is None or not hasattr(g, "attrs") or not hasattr(g, "keys"):
            raise ConversionError(f"layer {lname!r} is listed in the file but has no weight group")
        arrays = []
        for wname in _list_attr(g, "weight_names"):
            ds = _member(g, wname)
            if ds is None:
                raise ConversionError(f"layer {lname!r}: weight {wname!r} is listed but missing from the file")
            arrays.append((wname, _read_weight(ds, f"layer {lname!r}: weight {wname!r}")))
        by_name[lname] = arrays
        if arrays:
            order.append(lname)
    return by_name, order


def _json_attr(f: Any, name: str) -> dict | None:
    if name not in f.attrs:
        return None
    raw = _decode(f.attrs[name])
    try:
        return json.loads(raw)
    except (TypeError, json.JSONDecodeError) as e:
        raise ConversionError(f"attribute {name!r} is not valid JSON: {e}") from None


def _open_h5(source: Any, path: str) -> Any:
    import h5py

    try:
        return h5py.File(source, "r")
    except OSError as e:
        raise ConversionError(f"{path}: cannot read as HDF5 ({e})") from None


def _from_h5(f: Any, path: str, fmt_keras: bool = False) -> tuple[str, dict | None, str, WeightSource]:
    version = str(_decode(f.attrs.get("keras_version", "")) or "")
    if "nb_layers" in f.attrs or (("layer_names" not in f.attrs) and any(k.startswith("layer_") for k in f)):
        raise ConversionError(
            f"{path}: this is a Keras 0.x/1.x weights file (root attribute nb_layers), which is not supported; "
            "load it in an old Keras and save it again with Keras 2 or 3")
    config = _json_attr(f, "model_config")
    if config is not None:
        if "model_weights" not in f:
            raise ConversionError(f"{path}: full-model file without a model_weights group")
        by_name, order = _read_layer_groups(f["model_weights"])
        return "h5", config, version, WeightSource("by_name", by_name, order)
    if "layer_names" in f.attrs or "layer_names0" in f.attrs:
        by_name, order = _read_layer_groups(f)
        return "weights-h5", None, version, WeightSource("by_position", by_name, order)
    if "layers" in f:
        return ("keras" if fmt_keras else "weights-keras3"), None, version, WeightSource(
            "keras3_vars", vars_root=f["layers"])
    if len(f.keys()) == 0:
        raise ConversionError(f"{path}: the HDF5 file is empty (no layers, no model_config)")
    raise ConversionError(
        f"{path}: HDF5 file is not a Keras model or weights file (no model_config, layer_names or layers/ group)")


def read_keras_file(path: str) -> KerasFile:
    """Detect the format by content and read config + weight source."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError as e:
        raise ConversionError(f"cannot open {path}: {e.strerror}") from None
    if magic[:2] == b"PK":
        try:
            zf = zipfile.ZipFile(path)
            names = set(zf.namelist())
        except zipfile.BadZipFile as e:
            raise ConversionError(f"{path}: broken zip file ({e})") from None
        if "config.json" not in names:
            raise ConversionError(f"{path}: zip file without config.json: not a Keras .keras model")
        try:
            config = json.loads(zf.read("config.json"))
            meta = json.loads(zf.read("metadata.json")) if "metadata.json" in names else {}
        except json.JSONDecodeError as e:
            raise ConversionError(f"{path}: config.json/metadata.json is not valid JSON: {e}") from None
        if "model.weights.h5" not in names:
            raise ConversionError(f"{path}: .keras file without model.weights.h5")
        buf = io.BytesIO(zf.read("model.weights.h5"))
        f = _open_h5(buf, path)
        _, _, _, ws = _from_h5(f, path, fmt_keras=True)
        return KerasFile(path, "keras", config, str(meta.get("keras_version", "")), ws, [f, buf])
    if magic[:8] != b"\x89HDF\r\n\x1a\n":
        if magic[:8] == b"\x89PCI\r\n\x1a\n":
            raise ConversionError(f"{path}: already a pyconvinfer model file; load it with pyconvinfer.load")
        raise ConversionError(
            f"{path}: not a Keras file (expected an HDF5 .h5 or a .keras zip; the file starts with {magic[:8]!r})")
    f = _open_h5(path, path)
    fmt, config, version, ws = _from_h5(f, path)
    return KerasFile(path, fmt, config, version, ws, [f])


def read_config_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            cfg = json.load(fh)
    except OSError as e:
        raise ConversionError(f"cannot open the architecture file {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ConversionError(f"{path}: not valid JSON ({e}); expected the output of model.to_json()") from None
    if isinstance(cfg, str):  # json.dumps(model.to_json()) by mistake
        cfg = json.loads(cfg)
    if not isinstance(cfg, dict) or "class_name" not in cfg:
        raise ConversionError(f"{path}: not a Keras architecture (expected model.to_json() output with class_name)")
    return cfg


def snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: how Keras 3 names layers in weight files."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _stored_vars(group: Any, path: str = "") -> list[str]:
    """Paths of every non-empty `vars` group under a Keras 3 `layers/` group."""
    found = []
    for key in group:
        sub = group[key]
        if not hasattr(sub, "keys"):
            continue
        if "vars" in sub and len(sub["vars"]):
            found.append(f"{path}{key}")
        if "layers" in sub:
            found += _stored_vars(sub["layers"], f"{path}{key}/layers/")
    return found


def keras3_vars_for(root: Any, layers: list, prefix: str = "", used: set | None = None,
                    top: bool = True) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Weights from layers/<snake_class[_k]>/vars/<i>, for (name, class, children)
    in model.layers order; a nested model's layers sit under its own layers/ group.

    The path is the class name numbered per class, not the layer's own name
    (a layer named c1 may sit at layers/conv2d). Keras >= 3.15 also writes the
    real name as an attribute of vars; when present it must agree. Weights the
    architecture never reads are an error: they mean the two do not belong together."""
    out: dict[str, list[tuple[str, np.ndarray]]] = {}
    used = set() if used is None else used
    counts: dict[str, int] = {}
    for lname, cls, children in layers:
        base = snake_case(cls)
        k = counts.get(base, -1) + 1
        counts[base] = k
        key = base if k == 0 else f"{base}_{k}"
        qualified = f"{prefix}{lname}"
        group = _member(root, key)
        if children:
            if group is None or "layers" not in group:
                raise ConversionError(f"nested model {qualified!r}: no layers/{key}/layers group in the weights file")
            used.add(f"{root.name}/{key}")
            out.update(keras3_vars_for(group["layers"], children, f"{qualified}/", used, top=False))
            continue
        if group is None or "vars" not in group:
            out[qualified] = []
            continue
        used.add(f"{root.name}/{key}")
        vars_group = group["vars"]
        attr_name = vars_group.attrs.get("name")
        if attr_name is not None and _decode(attr_name) != lname and len(vars_group):  # weightless: no matter
            raise ConversionError(
                f"weights at {vars_group.name} belong to layer {_decode(attr_name)!r}, expected {lname!r}: "
                "the architecture does not match the weights file")
        idx = sorted(int(i) for i in vars_group.keys())
        out[qualified] = [(f"{vars_group.name}/{i}", _read_weight(vars_group[str(i)], f"{vars_group.name}/{i}"))
                          for i in idx]
    if top:
        unused = [p for p in _stored_vars(root) if f"{root.name}/{p}" not in used]
        if unused:
            raise ConversionError(
                f"the weights file holds weights for layers the architecture does not have "
                f"({', '.join(unused[:8])}{'...' if len(unused) > 8 else ''}): the weights and the architecture "
                "do not belong together")
    return out
