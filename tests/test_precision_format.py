"""Stored weight precision, Python side: quantize.py's formats, the per-op channel
layouts int8 scales follow, and format version 2's tensor dtypes (version 1 still loads)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import pyconvinfer
from pyconvinfer import _kernels
from pyconvinfer import quantize as Q
from pyconvinfer.errors import ModelFileError
from pyconvinfer.format import FIXED, read_model, write_model
from pyconvinfer.ops import REGISTRY

LENET = Path(pyconvinfer.__file__).parent / "data" / "lenet5_digits.h5"


# ---- quantize.py ----
def test_bfloat16_rounds_to_nearest_even() -> None:
    x = np.array([1.0, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -2.5, 0.0, -0.0, np.inf, -np.inf,
                  3.3895e38, 1e-40], dtype=np.float32)
    got = Q.bfloat16_to_float32(Q.to_bfloat16(x))
    want = [1.0, 1.0, 1 + 2**-6, 1 + 2**-7, -2.5, 0.0, -0.0, np.inf, -np.inf, np.float32(3.3895e38), None]
    for g, w in zip(got[:-2], want[:-2]):
        assert g == w
    assert got[-2] == Q.bfloat16_to_float32(np.array([0x7F7F], np.uint16))[0]  # largest finite bfloat16
    assert np.signbit(got[6])
    nan = Q.to_bfloat16(np.array([np.nan], np.float32))
    assert np.isnan(Q.bfloat16_to_float32(nan)).all()


def test_bfloat16_matches_float64_rounding_on_random_values() -> None:
    x = np.random.default_rng(1).standard_normal(100_000).astype(np.float32) * 100
    got = Q.bfloat16_to_float32(Q.to_bfloat16(x)).astype(np.float64)
    rel = np.abs(got - x) / np.abs(x)
    assert rel.max() <= 2.0**-8 * (1 + 1e-12)  # half an ulp of an 8-bit significand


def test_int8_per_channel_scales_and_round_trip() -> None:
    rng = np.random.default_rng(2)
    p, r, lanes = 3, 50, 16
    w = rng.standard_normal((p, r, lanes)).astype(np.float32) * rng.uniform(0.01, 10, (p, 1, lanes)).astype(np.float32)
    w[1, :, 5] = 0.0  # a channel of zeros: scale 0, q 0, no division by zero
    segs = [(0, p, r, lanes)]
    q, scale = Q.quantize_int8(w.reshape(-1), segs)
    assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (p * lanes,)
    np.testing.assert_allclose(scale.reshape(p, lanes), np.abs(w).max(axis=1) / 127, rtol=1e-6)
    assert scale.reshape(p, lanes)[1, 5] == 0 and not q.reshape(p, r, lanes)[1, :, 5].any()
    assert np.abs(q).max() == 127 and q.min() >= -127
    back = Q.dequantize(q, "int8", scale, segs).reshape(p, r, lanes)
    err = np.abs(back - w) / np.maximum(scale.reshape(p, 1, lanes), 1e-30)
    assert err.max() <= 0.5 + 1e-4  # within half a step of its channel
    with pytest.raises(ValueError, match="inf or NaN"):
        Q.quantize_int8(np.array([np.inf] * 16, np.float32), [(0, 1, 1, 16)])


def test_store_rejects_unknown_dtype() -> None:
    with pytest.raises(ValueError, match="float16"):
        Q.store(np.zeros(16, np.float32), "int4", [(0, 1, 1, 16)])


def _pack(op: str, attrs: dict, kernel: np.ndarray) -> np.ndarray:
    return REGISTRY[op].pack(attrs, "kernel", kernel)


S1 = dict(strides=[1, 1], dilation=[1, 1])
CASES = [
    ("conv2d", dict(S1, kernel_size=[3, 3], groups=1, in_channels=5, filters=20), (3, 3, 5, 20)),
    ("conv2d", dict(S1, kernel_size=[3, 3], groups=1, in_channels=5, filters=20,
                    algorithm="winograd2"), (3, 3, 5, 20)),
    ("conv2d", dict(S1, kernel_size=[3, 3], groups=1, in_channels=7, filters=33,
                    algorithm="winograd4"), (3, 3, 7, 33)),
    ("conv2d", dict(S1, kernel_size=[5, 3], groups=6, in_channels=6, filters=12), (5, 3, 1, 12)),
    ("conv2d", dict(S1, kernel_size=[1, 1], groups=2, in_channels=6, filters=40), (1, 1, 3, 40)),
    ("dense", dict(units=37, in_features=11), (11, 37)),
    ("conv2d_transpose", dict(kernel_size=[3, 3], strides=[2, 2], in_channels=4, filters=18), (3, 3, 18, 4)),
    ("conv2d_transpose", dict(kernel_size=[2, 5], strides=[3, 1], in_channels=2, filters=5), (2, 5, 5, 2)),
]


@pytest.mark.parametrize("op,attrs,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_channel_layouts_follow_the_packing(op: str, attrs: dict, shape: tuple) -> None:
    """int8 scales are per output channel: recompute each packed weight's channel by
    packing a kernel whose every weight holds its own output-channel index."""
    out_axis = {"conv2d": 3, "dense": 1, "conv2d_transpose": 2}[op]
    idx = np.zeros(shape, np.float32)
    idx += np.arange(shape[out_axis], dtype=np.float32).reshape([-1 if a == out_axis else 1 for a in range(len(shape))])
    if attrs.get("algorithm", "direct") != "direct":  # U = G g G^T mixes taps and scales, never channels
        packed = _pack(op, attrs, idx)
    else:  # +1 then -1 where a real weight lies: the zero padding of partial panels stays 0
        packed = _pack(op, attrs, idx + 1.0) - (_pack(op, attrs, np.ones(shape, np.float32)) != 0)
    segs = REGISTRY[op].channels(attrs, packed.size)
    assert sum(p * r * lanes for _, p, r, lanes in segs) == packed.size == _pack(op, attrs, idx).size
    for start, p, r, lanes in segs:
        block = packed[start:start + p * r * lanes].reshape(p, r, lanes)
        assert (block == block[:, :1, :]).all(), "a scale's weights mix output channels"


@pytest.mark.parametrize("op,attrs,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("dtype", Q.WEIGHT_DTYPES)
def test_stored_kernels_stay_close(op: str, attrs: dict, shape: tuple, dtype: str) -> None:
    kernel = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    packed = _pack(op, attrs, kernel)
    segs = REGISTRY[op].channels(attrs, packed.size)
    data, scale = Q.store(packed, dtype, segs)
    assert data.dtype == Q.STORAGE[dtype] and data.size == packed.size
    assert (scale is not None) == (dtype == "int8")
    back = Q.dequantize(data, dtype, scale, segs)
    bound = {"float32": 0, "float16": 2**-11, "bfloat16": 2**-8, "int8": 0.5 / 127}[dtype]
    assert np.abs(back - packed).max() <= bound * np.abs(packed).max() * (1 + 1e-6)


# ---- format version 2 ----
def _header() -> dict:
    return {"inputs": [], "outputs": [], "nodes": []}


def test_every_dtype_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    w = rng.standard_normal(64).astype(np.float32)
    q, s = Q.quantize_int8(w, [(0, 4, 1, 16)])
    tensors = {"f32": w, "f16": w.astype(np.float16), "bf16": Q.to_bfloat16(w), "q": q, "q_scale": s}
    write_model(tmp_path / "t.pci", _header(), dict(tensors), scales={"q": "q_scale"})
    mf = read_model(tmp_path / "t.pci")
    assert mf.version == 2
    assert mf.dtypes == {"f32": "float32", "f16": "float16", "bf16": "bfloat16", "q": "int8", "q_scale": "float32"}
    for name, arr in tensors.items():
        assert mf.tensors[name].dtype == arr.dtype
        np.testing.assert_array_equal(mf.tensors[name], arr)
        assert mf.tensors[name].ctypes.data % 64 == 0
    entry = next(t for t in mf.header["tensors"] if t["name"] == "q")
    assert entry["quantization"] == {"scheme": "symmetric_per_channel", "scale": "q_scale"}


def test_int8_without_scale_is_not_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        write_model(tmp_path / "t.pci", _header(), {"q": np.zeros(16, np.int8)})
    assert not list(tmp_path.iterdir())


def _rewrite_header(path: Path, dst: Path, edit, version: int | None = None) -> Path:
    """A consistent file (valid hashes) whose JSON header (and version) were changed."""
    raw = path.read_bytes()
    magic, ver, hlen, data_off, data_len, _, phash, total, _ = FIXED.unpack(raw[:64])
    header = json.loads(raw[64:64 + hlen])
    edit(header)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    assert 64 + len(hjson) <= data_off, "test header grew past the data offset"
    fixed = FIXED.pack(magic, ver if version is None else version, len(hjson), data_off, data_len,
                       _kernels.xxh64(hjson), phash, total, 0)
    fixed = fixed[:56] + struct.pack("<Q", _kernels.xxh64(fixed[:56]))
    body = hjson + bytes(data_off - 64 - len(hjson))
    dst.write_bytes(fixed + body + raw[data_off:])
    return dst


def test_forged_quantization_entries_are_refused(tmp_path: Path) -> None:
    w = np.ones(32, np.float32)
    q, s = Q.quantize_int8(w, [(0, 2, 1, 16)])
    src = tmp_path / "t.pci"
    write_model(src, _header(), {"q": q, "s": s, "h": w.astype(np.float16)}, scales={"q": "s"})

    def drop(h):
        del next(t for t in h["tensors"] if t["name"] == "q")["quantization"]

    def point_at_int8(h):
        next(t for t in h["tensors"] if t["name"] == "q")["quantization"]["scale"] = "q"

    def point_at_float16(h):
        next(t for t in h["tensors"] if t["name"] == "q")["quantization"]["scale"] = "h"

    def missing(h):
        next(t for t in h["tensors"] if t["name"] == "q")["quantization"]["scale"] = "nope"

    for k, edit in enumerate([drop, point_at_int8, point_at_float16, missing]):
        with pytest.raises(ModelFileError, match="int8 tensor 'q'"):
            read_model(_rewrite_header(src, tmp_path / f"bad{k}.pci", edit))


def test_version_1_files_still_load_and_hold_float32_only(tmp_path: Path) -> None:
    """A version-1 file is this layout with float32 tensors and version 1 in the header."""
    v2 = Path(pyconvinfer.convert(LENET, tmp_path / "lenet.pci"))
    v1 = _rewrite_header(v2, tmp_path / "v1.pci", lambda h: None, version=1)
    model = pyconvinfer.load(v1)
    assert model.file.version == 1
    x = np.random.default_rng(5).standard_normal((2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), pyconvinfer.load(v2).predict(x))
    assert model.verify().passed

    def to_f16(h):
        h["tensors"][0]["dtype"] = "float16"

    with pytest.raises(ModelFileError, match="version-1 file"):
        read_model(_rewrite_header(v2, tmp_path / "v1f16.pci", to_f16, version=1))


def _int8_lenet(tmp_path: Path, edit) -> Path:
    """The bundled LeNet-5 at int8, rewritten through write_model after `edit(header, tensors, scales)`."""
    src = Path(pyconvinfer.convert(LENET, tmp_path / "q.pci", weights="int8"))
    mf = read_model(src)
    header = {k: v for k, v in mf.header.items() if k != "tensors"}
    tensors = {n: np.array(a) for n, a in mf.tensors.items()}
    scales = dict(mf.scales)
    edit(header, tensors, scales)
    out = tmp_path / "forged.pci"
    write_model(out, header, tensors, scales=scales)
    return out


def test_int8_scales_must_fit_the_layer(tmp_path: Path) -> None:
    x = np.zeros((1, 32, 32, 1), np.float32)

    def short_scale(header, tensors, scales):
        name = header["nodes"][0]["weights"]["kernel_scale"]
        tensors[name] = tensors[name][:-1]

    def other_scale(header, tensors, scales):
        node = header["nodes"][0]
        node["weights"]["kernel_scale"] = node["weights"]["bias"]

    def scale_on_float(header, tensors, scales):
        node = header["nodes"][0]
        kname = node["weights"]["kernel"]
        tensors[kname] = tensors[kname].astype(np.float32)
        del scales[kname]

    for edit, match in [(short_scale, "output channels"), (other_scale, "not the scale tensor"),
                        (scale_on_float, "int8 kernels only")]:
        model = pyconvinfer.load(_int8_lenet(tmp_path, edit))
        with pytest.raises(ModelFileError, match=match):
            model.predict(x)
