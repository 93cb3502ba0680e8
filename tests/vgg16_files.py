"""Full-size VGG16 Keras files for tests, made without TensorFlow.

The VGG16 Keras files are too big to commit (138 M parameters, 553 MB of
float32 per file). Their *structure* is committed instead, as small JSON
"layout" files under ``tests/fixtures/vgg16/``: every HDF5 group and dataset
in creation order, dataset shapes and dtypes, and every attribute with its
exact HDF5 type (fixed-length vs variable-length string, ASCII vs UTF-8,
scalar vs array) and value. Everything except the weight values. The layouts
were captured from files written by real Keras (``tools/capture_vgg16_layout.py``)
or, for the published ``keras.applications`` weight files, reconstructed from
their documented layout (see the ``provenance`` field of those layouts).

This module (NumPy + h5py only) turns a layout back into a real file filled
with weights chosen by the test, and gives an independent float64 NumPy
forward pass of VGG16 to check a converter's output against.

Typical use::

    weights = random_vgg16_weights(seed=0)       # ~3 s; share it across tests
    path = write_vgg16_file("keras2_full.h5", tmp_path, weights)   # ~0.5-2 s, 553 MB
    x = random_vgg16_input(seed=1)
    expected = vgg16_reference_forward(weights, x, include_top=True)   # ~1.5 s/image

Layouts (``LAYOUT_KINDS``; ``*_notop*`` ones take ``include_top=False`` weights)::

    keras3_full.h5           Keras 3.15 model.save("x.h5"), legacy full model
    keras3.keras             Keras 3.15 model.save("x.keras"), zip
    keras3.weights.h5        Keras 3.15 model.save_weights("x.weights.h5")
    keras3_notop.weights.h5  the same, include_top=False
    keras2_full.h5           tf_keras 2.21 model.save("x.h5")
    keras2_weights.h5        tf_keras 2.21 model.save_weights("x.h5")
    keras2_notop_weights.h5  the same, include_top=False
    applications_top.h5      vgg16_weights_tf_dim_ordering_tf_kernels.h5 (reconstructed)
    applications_notop.h5    vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (reconstructed)

Things a reader must not assume (all visible in the layouts): tf_keras creates the
layer groups sorted by layer *name* (``block1_pool`` ... ``fc1``, ``flatten``,
``input_1``, ``predictions``), not in model order; only ``layer_names`` gives the
order. String attributes are variable-length (h5py 3 returns ``str``) in files from
current Keras, ASCII or UTF-8 depending on the attribute, but fixed-length bytes
arrays in the published applications files; empty ``weight_names`` are empty float64
arrays. The applications files have no ``keras_version``/``backend`` attributes and
old ``<layer>_W_1:0`` dataset names. Keras 3 ``.weights.h5``/``.keras`` name groups
by class (``layers/conv2d_12/vars/0``), and the second model built in a process gets
``input_layer_1``/``input_2`` as input-layer name.

Layout JSON schema (``"schema": "pyconvinfer-keras-layout/1"``)::

    {"schema", "kind", "suggested_filename", "provenance", "model": {...},
     "container": "hdf5", "hdf5": H5}                      # .h5 files
    {"schema", ..., "container": "zip", "zip": {"members": [
        {"name", "compress_type", "text"}                  # e.g. config.json
        {"name", "compress_type", "hdf5": H5}]}}           # model.weights.h5

    H5 = {"nodes": [NODE, ...]}   # creation order; nodes[0] is the root "/"
    NODE = {"path", "type": "group", "track_order", "attrs": [ATTR, ...]}
         | {"path", "type": "dataset", "shape", "dtype", "chunks", "compression",
            "compression_opts", "shuffle", "fletcher32", "maxshape", "fillvalue",
            "attrs": [...], "weight": {"layer", "index"} | null}
    ATTR = {"name", "space": "scalar" | "simple" | "null", "shape",
            "h5type": {"class": "string", "vlen", "cset": "ascii" | "utf-8",
                       "strpad": "nullterm" | "nullpad" | "spacepad", "size"}
                    | {"class": "numeric", "dtype"},
            "py_type",   # what h5py (version in provenance) returns, informative
            "value"}     # str / list of str (bytes decoded as UTF-8) / numbers
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json
import math
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Optional, Union

import h5py
import numpy as np

__all__ = [
    "LAYOUT_DIR",
    "LAYOUT_KINDS",
    "SCHEMA",
    "CreationLog",
    "VGG16_CONV_LAYERS",
    "VGG16_DENSE_LAYERS",
    "WeightSource",
    "describe_h5",
    "describe_keras_zip",
    "layout_path",
    "layout_weight_map",
    "load_layout",
    "random_vgg16_input",
    "random_vgg16_weights",
    "record_h5_creation",
    "vgg16_layer_names",
    "vgg16_reference_forward",
    "vgg16_weight_shapes",
    "write_keras_file",
    "write_vgg16_file",
]

#: Every committed layout (``tests/fixtures/vgg16/<kind>.json``).
LAYOUT_KINDS: tuple[str, ...] = (
    "keras3_full.h5",
    "keras3.keras",
    "keras3.weights.h5",
    "keras3_notop.weights.h5",
    "keras2_full.h5",
    "keras2_weights.h5",
    "keras2_notop_weights.h5",
    "applications_top.h5",
    "applications_notop.h5",
)

SCHEMA = "pyconvinfer-keras-layout/1"
#: ``(object path, None)`` for an object created, ``(object path, attribute)`` for an attribute written.
CreationLog = list[tuple[str, Optional[str]]]
LAYOUT_DIR = Path(__file__).resolve().parent / "fixtures" / "vgg16"

#: (layer name, input channels, output channels) of the 13 VGG16 convolutions.
VGG16_CONV_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("block1_conv1", 3, 64),
    ("block1_conv2", 64, 64),
    ("block2_conv1", 64, 128),
    ("block2_conv2", 128, 128),
    ("block3_conv1", 128, 256),
    ("block3_conv2", 256, 256),
    ("block3_conv3", 256, 256),
    ("block4_conv1", 256, 512),
    ("block4_conv2", 512, 512),
    ("block4_conv3", 512, 512),
    ("block5_conv1", 512, 512),
    ("block5_conv2", 512, 512),
    ("block5_conv3", 512, 512),
)
#: (layer name, inputs, units) of the 3 dense layers of the top.
VGG16_DENSE_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("fc1", 7 * 7 * 512, 4096),
    ("fc2", 4096, 4096),
    ("predictions", 4096, 1000),
)
#: Index of the last conv layer of each block (a 2x2 max-pool follows it).
_POOL_AFTER = frozenset({"block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"})

#: A callable weight source: ``(layer name, weight index, shape, dtype) -> array``.
WeightSource = Union[
    Mapping[str, Sequence[np.ndarray]],
    Mapping[str, np.ndarray],
    Callable[[str, int, tuple[int, ...], np.dtype], np.ndarray],
]

_CSET = {h5py.h5t.CSET_ASCII: "ascii", h5py.h5t.CSET_UTF8: "utf-8"}
_CSET_INV = {v: k for k, v in _CSET.items()}
_STRPAD = {
    h5py.h5t.STR_NULLTERM: "nullterm",
    h5py.h5t.STR_NULLPAD: "nullpad",
    h5py.h5t.STR_SPACEPAD: "spacepad",
}
_STRPAD_INV = {v: k for k, v in _STRPAD.items()}
_SPACE = {h5py.h5s.SCALAR: "scalar", h5py.h5s.SIMPLE: "simple", h5py.h5s.NULL: "null"}


# --------------------------------------------------------------------------------------
# VGG16 topology and weights
# --------------------------------------------------------------------------------------


def vgg16_layer_names(include_top: bool = True) -> list[str]:
    """Names of the VGG16 layers that carry weights, in model order."""
    names = [name for name, _, _ in VGG16_CONV_LAYERS]
    if include_top:
        names += [name for name, _, _ in VGG16_DENSE_LAYERS]
    return names


def vgg16_weight_shapes(include_top: bool = True) -> dict[str, list[tuple[int, ...]]]:
    """Keras weight shapes per layer: conv ``[(3, 3, cin, cout), (cout,)]``, dense ``[(in, out), (out,)]``."""
    shapes: dict[str, list[tuple[int, ...]]] = {
        name: [(3, 3, cin, cout), (cout,)] for name, cin, cout in VGG16_CONV_LAYERS
    }
    if include_top:
        shapes.update({name: [(fan_in, units), (units,)] for name, fan_in, units in VGG16_DENSE_LAYERS})
    return shapes


def random_vgg16_weights(seed: int, include_top: bool = True) -> dict[str, list[np.ndarray]]:
    """Random float32 VGG16 weights in Keras layout, ``{layer name: [kernel, bias]}``.

    Kernels are He-normal (std ``sqrt(2 / fan_in)``, fan_in = 9 cin for a conv), so
    ReLU activations keep their scale through the 13 convolutions and 2 hidden dense
    layers; the ``predictions`` kernel uses std ``2.5 / sqrt(fan_in)`` so that for an
    input of unit scale (``random_vgg16_input``) the softmax input has a spread of a
    few units: the softmax is neither one-hot nor flat. Biases are N(0, 0.05^2) so a
    bias loaded into the wrong layer changes the output. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    weights: dict[str, list[np.ndarray]] = {}
    for name, (kshape, bshape) in vgg16_weight_shapes(include_top).items():
        fan_in = math.prod(kshape[:-1])
        gain = 2.5 if name == "predictions" else math.sqrt(2.0)
        kernel = rng.standard_normal(kshape, dtype=np.float32)
        kernel *= np.float32(gain / math.sqrt(fan_in))
        bias = rng.standard_normal(bshape, dtype=np.float32)
        bias *= np.float32(0.05)
        weights[name] = [kernel, bias]
    return weights


def random_vgg16_input(seed: int, batch: int = 1) -> np.ndarray:
    """Float32 NHWC batch ``(batch, 224, 224, 3)``, uniform in [0, 1): the scale the weights suit."""
    return np.random.default_rng(seed).random((batch, 224, 224, 3), dtype=np.float32)


# --------------------------------------------------------------------------------------
# Float64 reference forward pass
# --------------------------------------------------------------------------------------

#: Elements (float64) of one im2col chunk: 8 M elements = 64 MB.
_IM2COL_CHUNK = 8 * 1024 * 1024
#: Rows of a dense kernel converted to float64 at a time.
_DENSE_CHUNK_ROWS = 2048


def _conv3x3_same_relu(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """ReLU(conv3x3 'same', stride 1) of one image ``(H, W, Cin)``, float64, via im2col in row chunks."""
    h, w, cin = x.shape
    if kernel.shape[:3] != (3, 3, cin):
        raise ValueError(f"kernel shape {kernel.shape} does not fit input {x.shape}")
    cout = kernel.shape[3]
    kmat = np.asarray(kernel, dtype=np.float64).reshape(9 * cin, cout)  # row = (dy*3+dx)*cin + c
    b = np.asarray(bias, dtype=np.float64)
    xp = np.zeros((h + 2, w + 2, cin))
    xp[1:-1, 1:-1] = x
    out = np.empty((h, w, cout))
    rows = max(1, min(h, _IM2COL_CHUNK // (w * 9 * cin)))
    cols = np.empty((rows, w, 9, cin))
    for r0 in range(0, h, rows):
        n = min(rows, h - r0)
        c = cols[:n]
        for dy in range(3):
            for dx in range(3):
                c[:, :, dy * 3 + dx, :] = xp[r0 + dy : r0 + dy + n, dx : dx + w, :]
        o = out[r0 : r0 + n].reshape(n * w, cout)
        np.matmul(c.reshape(n * w, 9 * cin), kmat, out=o)
        o += b
        np.maximum(o, 0.0, out=o)
    return out


def _maxpool2x2(x: np.ndarray) -> np.ndarray:
    """2x2 max-pool, stride 2, 'valid', of ``(H, W, C)``."""
    h, w, c = x.shape
    return x[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


def _dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``x @ kernel + bias`` in float64, converting the kernel a block of rows at a time."""
    acc = np.zeros((x.shape[0], kernel.shape[1]))
    for r0 in range(0, kernel.shape[0], _DENSE_CHUNK_ROWS):
        r1 = min(kernel.shape[0], r0 + _DENSE_CHUNK_ROWS)
        acc += x[:, r0:r1] @ np.asarray(kernel[r0:r1], dtype=np.float64)
    acc += np.asarray(bias, dtype=np.float64)
    return acc


def vgg16_reference_forward(
    weights: Mapping[str, Sequence[np.ndarray]],
    x: np.ndarray,
    include_top: bool = True,
    *,
    logits: bool = False,
) -> np.ndarray:
    """Independent float64 NumPy forward pass of Keras VGG16 (NHWC).

    ``weights`` maps layer names to ``[kernel, bias]`` in Keras layout. ``x`` is
    ``(N, H, W, 3)`` (or one image ``(H, W, 3)``, treated as N = 1). Conv 3x3 'same' +
    ReLU by im2col + matmul, 2x2/2 max-pool after each block; with ``include_top``,
    flatten in row-major (H, W, C) order, fc1/fc2 + ReLU, predictions + softmax
    (``logits=True`` returns the softmax input instead). Without the top, returns the
    ``block5_pool`` output ``(N, H/32, W/32, 512)``. Always float64, batch first.
    """
    xb = np.asarray(x, dtype=np.float64)
    if xb.ndim == 3:
        xb = xb[None]
    if xb.ndim != 4 or xb.shape[-1] != 3:
        raise ValueError(f"expected NHWC input with 3 channels, got shape {np.shape(x)}")
    feats = []
    for image in xb:
        a = image
        for name, _, _ in VGG16_CONV_LAYERS:
            kernel, bias = weights[name]
            a = _conv3x3_same_relu(a, kernel, bias)
            if name in _POOL_AFTER:
                a = _maxpool2x2(a)
        feats.append(a)
    out = np.stack(feats)
    if not include_top:
        return out
    h = out.reshape(out.shape[0], -1)  # row-major over (H, W, C)
    for name in ("fc1", "fc2"):
        h = _dense(h, *weights[name])
        np.maximum(h, 0.0, out=h)
    z = _dense(h, *weights["predictions"])
    if logits:
        return z
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


# --------------------------------------------------------------------------------------
# Layouts: reading structure
# --------------------------------------------------------------------------------------


def layout_path(kind: str) -> Path:
    """Path of a committed layout, e.g. ``layout_path("keras3_full.h5")``."""
    name = kind if kind.endswith(".json") else f"{kind}.json"
    return LAYOUT_DIR / name


def load_layout(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a layout JSON (``.json``, or gzipped ``.json.gz``) and check its schema tag."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":  # large layouts are committed gzipped
        raw = gzip.decompress(raw)
    layout = json.loads(raw.decode("utf-8"))
    if layout.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a {SCHEMA} layout (schema={layout.get('schema')!r})")
    return layout


def _h5_layouts(layout: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    if layout["container"] == "hdf5":
        yield layout["hdf5"]
    else:
        for member in layout["zip"]["members"]:
            if "hdf5" in member:
                yield member["hdf5"]


def layout_weight_map(
    layout: Mapping[str, Any] | str | os.PathLike[str],
) -> dict[str, tuple[str, int]]:
    """``{dataset path: (layer name, weight index)}`` for every weight dataset of a layout.

    For a ``.keras`` layout the paths are inside its ``model.weights.h5`` member.
    The mapping was measured on the real file (``tools/capture_vgg16_layout.py`` fills
    every Keras variable with a distinct tag value before saving), not guessed from names.
    """
    if not isinstance(layout, Mapping):
        layout = load_layout(layout)
    mapping: dict[str, tuple[str, int]] = {}
    for h5 in _h5_layouts(layout):
        for node in h5["nodes"]:
            if node["type"] == "dataset" and node.get("weight") is not None:
                mapping[node["path"]] = (
                    node["weight"]["layer"],
                    int(node["weight"]["index"]),
                )
    return mapping


def _attr_value_to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_attr_value_to_json(v) for v in value] if value.ndim else _attr_value_to_json(value[()])
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _py_type(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.dtype == object and value.size:
            return f"numpy.ndarray[object:{type(value.flat[0]).__name__}]"
        return f"numpy.ndarray[{value.dtype.str}]"
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _describe_attr(obj: h5py.Group | h5py.Dataset, name: str) -> dict[str, Any]:
    aid = obj.attrs.get_id(name)
    tid = aid.get_type()
    space_type = aid.get_space().get_simple_extent_type()
    if space_type not in _SPACE:
        raise ValueError(f"{obj.name}@{name}: unsupported dataspace {space_type}")
    record: dict[str, Any] = {
        "name": name,
        "space": _SPACE[space_type],
        "shape": list(aid.shape or ()),
    }
    if isinstance(tid, h5py.h5t.TypeStringID):
        vlen = bool(tid.is_variable_str())
        record["h5type"] = {
            "class": "string",
            "vlen": vlen,
            "cset": _CSET[tid.get_cset()],
            "strpad": _STRPAD[tid.get_strpad()],
            "size": None if vlen else int(tid.get_size()),
        }
    elif isinstance(tid, (h5py.h5t.TypeIntegerID, h5py.h5t.TypeFloatID)):
        record["h5type"] = {"class": "numeric", "dtype": tid.dtype.str}
    else:
        raise TypeError(f"{obj.name}@{name}: unsupported attribute type {type(tid).__name__}")
    value = obj.attrs[name]
    record["py_type"] = _py_type(value)
    record["value"] = None if record["space"] == "null" else _attr_value_to_json(value)
    return record


def _describe_node(obj: h5py.Group | h5py.Dataset, attr_order: Sequence[str] | None) -> dict[str, Any]:
    names = list(obj.attrs.keys())
    if attr_order is not None:
        rank = {n: i for i, n in enumerate(attr_order)}
        listed = {n: i for i, n in enumerate(names)}
        names.sort(key=lambda n: (rank.get(n, len(rank)), listed[n]))
    attrs = [_describe_attr(obj, n) for n in names]
    if isinstance(obj, h5py.Dataset):
        return {
            "path": obj.name,
            "type": "dataset",
            "shape": list(obj.shape),
            "dtype": obj.dtype.str,
            "chunks": list(obj.chunks) if obj.chunks else None,
            "compression": obj.compression,
            "compression_opts": obj.compression_opts,
            "shuffle": bool(obj.shuffle),
            "fletcher32": bool(obj.fletcher32),
            "maxshape": [m if m is not None else -1 for m in obj.maxshape] if obj.maxshape else None,
            "fillvalue": _attr_value_to_json(obj.fillvalue),
            "attrs": attrs,
            "weight": None,
        }
    crt = obj.id.get_create_plist().get_link_creation_order()
    return {"path": obj.name, "type": "group", "track_order": bool(crt), "attrs": attrs}


@contextlib.contextmanager
def record_h5_creation() -> Iterator[CreationLog]:
    """Record, in call order, every group/dataset created and attribute written via h5py.

    Patches h5py's ``Group.create_group``, ``Group.create_dataset``, ``Group.__setitem__``
    and ``AttributeManager.create``/``modify`` (the paths every writer, Keras included,
    goes through) for the duration of the ``with`` block. Yields a list of
    ``(object path, None)`` and ``(object path, attribute name)`` for ``describe_h5``.
    """
    log: CreationLog = []
    group_cls = h5py.Group
    attrs_cls = h5py.AttributeManager
    originals: list[tuple[type, str, Callable[..., Any]]] = [
        (group_cls, "create_group", group_cls.create_group),
        (group_cls, "create_dataset", group_cls.create_dataset),
        (group_cls, "__setitem__", group_cls.__setitem__),
        (attrs_cls, "create", attrs_cls.create),
        (attrs_cls, "modify", attrs_cls.modify),
    ]

    def wrap_create(orig: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(orig)
        def create(self: h5py.Group, name: Any, *args: Any, **kwargs: Any) -> Any:
            obj = orig(self, name, *args, **kwargs)
            if name is not None and obj.name is not None:
                log.append((obj.name, None))
            return obj

        return create

    def wrap_setitem(orig: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(orig)
        def setitem(self: h5py.Group, name: Any, obj: Any) -> None:
            orig(self, name, obj)
            log.append((self[name].name, None))

        return setitem

    def wrap_attr(orig: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(orig)
        def attr(self: h5py.AttributeManager, name: str, *args: Any, **kwargs: Any) -> Any:
            log.append((h5py.h5i.get_name(self._id).decode("utf-8"), name))
            return orig(self, name, *args, **kwargs)

        return attr

    group_cls.create_group = wrap_create(group_cls.create_group)
    group_cls.create_dataset = wrap_create(group_cls.create_dataset)
    group_cls.__setitem__ = wrap_setitem(group_cls.__setitem__)
    attrs_cls.create = wrap_attr(attrs_cls.create)
    attrs_cls.modify = wrap_attr(attrs_cls.modify)
    try:
        yield log
    finally:
        for cls, name, fn in originals:
            setattr(cls, name, fn)


def describe_h5(
    source: str | os.PathLike[str] | BinaryIO | h5py.File,
    creation_log: CreationLog | None = None,
) -> dict[str, Any]:
    """Structure of an HDF5 file as a layout ``H5`` dict (see the module docstring).

    Node order: with ``creation_log`` (``(path, None)`` for an object created,
    ``(path, attr name)`` for an attribute written, in call order, as recorded by the
    capture tool), the true creation order; groups created implicitly sit just before
    their first child. Without it, h5py's visiting order (by name, parents first):
    HDF5 does not keep creation order unless asked to, and object header addresses
    do not reveal it (freed space is reused). Attribute order: from the log, else
    h5py's listing order. ``record_h5_creation`` makes such a log.
    """
    if isinstance(source, h5py.File):
        return _describe_open(source, creation_log)
    with h5py.File(source, "r") as f:
        return _describe_open(f, creation_log)


def _describe_open(f: h5py.File, creation_log: CreationLog | None) -> dict[str, Any]:
    objects: dict[str, h5py.Group | h5py.Dataset] = {"/": f}

    def collect(name: str, obj: h5py.Group | h5py.Dataset) -> None:
        objects["/" + name] = obj

    f.visititems(collect)
    order = ["/"]
    attr_orders: dict[str, list[str]] = {}
    for path, attr in creation_log or ():
        if attr is not None:
            names = attr_orders.setdefault(path, [])
            if attr not in names:
                names.append(attr)
            continue
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            p = "/" + "/".join(parts[:i])
            if p in objects and p not in order:
                order.append(p)
    seen = set(order)
    order += [p for p in objects if p not in seen]  # unlogged objects: visiting order
    return {"nodes": [_describe_node(objects[p], attr_orders.get(p)) for p in order]}


# --------------------------------------------------------------------------------------
# Layouts: writing files
# --------------------------------------------------------------------------------------


def _write_attr(obj: h5py.Group | h5py.Dataset, rec: Mapping[str, Any]) -> None:
    name: str = rec["name"]
    h5t = rec["h5type"]
    shape = tuple(rec["shape"])
    if rec["space"] == "null":
        if h5t["class"] != "numeric":
            raise ValueError(f"{name}: null dataspace only supported for numeric attributes")
        obj.attrs.create(name, h5py.Empty(np.dtype(h5t["dtype"])))
        return
    if h5t["class"] == "numeric":
        data = np.asarray(rec["value"], dtype=np.dtype(h5t["dtype"])).reshape(shape)
        obj.attrs.create(name, data, shape=shape, dtype=data.dtype)
        return
    # Strings: the exact HDF5 type (vlen or fixed size, cset, padding).
    values = rec["value"]
    vlen = bool(h5t["vlen"])
    if vlen:
        hdtype = h5py.string_dtype(h5t["cset"])
        data = np.array(values, dtype=hdtype).reshape(shape)
    else:
        size = int(h5t["size"])
        hdtype = h5py.string_dtype(h5t["cset"], length=size)
        flat = values if isinstance(values, list) else [values]
        data = np.array([v.encode("utf-8") for v in flat], dtype=f"S{size}").reshape(shape)
    if h5t["strpad"] == ("nullterm" if vlen else "nullpad"):
        # h5py's own choice of padding: the high-level API gives exactly this type.
        obj.attrs.create(name, data, shape=shape, dtype=hdtype)
        return
    ftype = h5py.h5t.C_S1.copy()
    ftype.set_size(h5py.h5t.VARIABLE if vlen else int(h5t["size"]))
    ftype.set_cset(_CSET_INV[h5t["cset"]])
    ftype.set_strpad(_STRPAD_INV[h5t["strpad"]])
    space = h5py.h5s.create(h5py.h5s.SCALAR) if rec["space"] == "scalar" else h5py.h5s.create_simple(shape)
    # fixed size: identical memory and file types, a raw copy with no padding conversion
    mtype = h5py.h5t.py_create(hdtype) if vlen else ftype
    aid = h5py.h5a.create(obj.id, name.encode("utf-8"), ftype, space)
    aid.write(np.ascontiguousarray(data), mtype=mtype)


def _weight_for(
    weights: WeightSource,
    node: Mapping[str, Any],
    shape: tuple[int, ...],
    dtype: np.dtype,
) -> np.ndarray:
    src = node.get("weight")
    if callable(weights):
        if src is None:
            raise ValueError(f"{node['path']}: dataset has no known (layer, index) for a weight callable")
        value = weights(src["layer"], int(src["index"]), shape, dtype)
    elif node["path"] in weights:
        value = weights[node["path"]]  # keyed by dataset path
    elif src is not None and src["layer"] in weights:
        value = weights[src["layer"]][int(src["index"])]
    else:
        where = f"layer {src['layer']!r} weight {src['index']}" if src else "no known layer"
        raise KeyError(f"no weight given for dataset {node['path']} ({where})")
    arr = np.asarray(value)
    if arr.shape != shape:
        raise ValueError(f"{node['path']}: weight shape {arr.shape} != layout shape {shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _write_h5(
    h5: Mapping[str, Any],
    target: str | os.PathLike[str] | BinaryIO,
    weights: WeightSource,
) -> None:
    with h5py.File(target, "w") as f:
        for node in h5["nodes"]:
            path = node["path"]
            if path == "/":
                obj: h5py.Group | h5py.Dataset = f
            elif node["type"] == "group":
                obj = f.create_group(path, track_order=node.get("track_order") or None)
            else:
                shape = tuple(node["shape"])
                dtype = np.dtype(node["dtype"])
                maxshape = node.get("maxshape")
                if maxshape is not None:
                    maxshape = tuple(None if m == -1 else m for m in maxshape)
                fill = node.get("fillvalue")
                obj = f.create_dataset(
                    path,
                    shape=shape,
                    dtype=dtype,
                    chunks=tuple(node["chunks"]) if node.get("chunks") else None,
                    # an explicit maxshape would make h5py chunk the dataset
                    maxshape=maxshape if maxshape not in (None, shape) else None,
                    fillvalue=fill if fill else None,
                    compression=node.get("compression"),
                    compression_opts=node.get("compression_opts"),
                    shuffle=node.get("shuffle") or None,
                    fletcher32=node.get("fletcher32") or None,
                )
            for rec in node["attrs"]:
                _write_attr(obj, rec)
            if node["type"] == "dataset":
                data = _weight_for(weights, node, shape, dtype)
                if data.size:
                    obj.write_direct(data)


def write_keras_file(
    layout_json_path: str | os.PathLike[str] | Mapping[str, Any],
    out_path: str | os.PathLike[str],
    weights: WeightSource,
) -> Path:
    """Recreate a Keras file from a layout, filled with the given weights.

    ``weights`` is ``{layer name: [kernel, bias]}`` (e.g. ``random_vgg16_weights``),
    ``{dataset path: array}``, or a callable ``(layer, index, shape, dtype) -> array``
    (lets a test generate weights lazily). Arrays are cast to the recorded dtype and
    their shapes must match. Groups, datasets and attributes are written in the
    recorded creation order with the recorded HDF5 types. A ``.keras`` layout gives a
    zip whose members (``config.json``, ``metadata.json`` text verbatim, and
    ``model.weights.h5``) keep the recorded order and compression (stored). Keras
    checks file name suffixes (``.keras``, ``.weights.h5``, ``.h5``): see the layout's
    ``suggested_filename``. Returns ``out_path`` as a ``Path``.
    """
    layout = layout_json_path if isinstance(layout_json_path, Mapping) else load_layout(layout_json_path)
    out = Path(out_path)
    if layout["container"] not in ("hdf5", "zip"):
        raise ValueError(f"unknown container {layout['container']!r}")
    try:
        if layout["container"] == "hdf5":
            _write_h5(layout["hdf5"], out, weights)
        else:
            _write_zip(layout["zip"], out, weights)
    except BaseException:
        out.unlink(missing_ok=True)  # no half-written file left behind
        raise
    return out


def _write_zip(zip_layout: Mapping[str, Any], out: Path, weights: WeightSource) -> None:
    with zipfile.ZipFile(out, "w") as zf:
        for member in zip_layout["members"]:
            ctype = int(member.get("compress_type", zipfile.ZIP_STORED))
            if "text" in member:
                zf.writestr(member["name"], member["text"].encode("utf-8"), compress_type=ctype)
                continue
            # Write the HDF5 member to a temporary file beside the zip, then copy it in
            # (in large blocks: ZipFile.write copies 8 KB at a time).
            fd, tmp = tempfile.mkstemp(suffix=".h5", dir=out.parent)
            os.close(fd)
            try:
                _write_h5(member["hdf5"], tmp, weights)
                info = zipfile.ZipInfo(member["name"], date_time=time.localtime()[:6])
                info.compress_type = ctype
                info.file_size = os.path.getsize(tmp)
                with open(tmp, "rb") as src, zf.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 16 * 1024 * 1024)
            finally:
                os.unlink(tmp)


def write_vgg16_file(kind: str, directory: str | os.PathLike[str], weights: WeightSource) -> Path:
    """Write layout ``kind`` (see ``LAYOUT_KINDS``) into ``directory`` under its suggested file name.

    The suggested name has the suffix Keras insists on (``.keras``, ``.weights.h5``, ``.h5``).
    """
    layout = load_layout(layout_path(kind))
    return write_keras_file(layout, Path(directory) / layout["suggested_filename"], weights)


def describe_keras_zip(source: str | os.PathLike[str] | BinaryIO) -> dict[str, Any]:
    """Structure of a ``.keras`` zip: members in order, compression, text verbatim, HDF5 described."""
    members = []
    with zipfile.ZipFile(source) as zf:
        for info in zf.infolist():
            rec: dict[str, Any] = {
                "name": info.filename,
                "compress_type": info.compress_type,
            }
            data = zf.read(info)
            if data.startswith(b"\x89HDF\r\n\x1a\n"):
                rec["hdf5"] = describe_h5(io.BytesIO(data))
            else:
                rec["text"] = data.decode("utf-8")
            members.append(rec)
    return {"members": members}
