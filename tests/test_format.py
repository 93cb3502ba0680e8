"""The .pci model file: round trip, atomic writes, and every rejection path."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

import pyconvinfer
from pyconvinfer import _kernels
from pyconvinfer.errors import ModelFileError
from pyconvinfer.format import FIXED, MAGIC, _umask, read_model, write_model

LENET = Path(pyconvinfer.__file__).parent / "data" / "lenet5_digits.h5"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return Path(pyconvinfer.convert(LENET, tmp_path_factory.mktemp("fmt") / "lenet.pci"))


def _corrupt(src: Path, dst: Path, offset: int, data: bytes) -> Path:
    raw = bytearray(src.read_bytes())
    raw[offset:offset + len(data)] = data
    dst.write_bytes(bytes(raw))
    return dst


def test_round_trip_and_alignment(tmp_path: Path) -> None:
    tensors = {"a": np.arange(5, dtype=np.float32), "b": np.ones((3, 7), np.float32) * 2}
    path = tmp_path / "t.pci"
    size = write_model(path, {"inputs": [], "outputs": [], "nodes": []}, dict(tensors))
    assert size == path.stat().st_size
    mf = read_model(path)
    for name, arr in tensors.items():
        np.testing.assert_array_equal(mf.tensors[name], arr)
        assert mf.tensors[name].ctypes.data % 64 == 0
    assert path.read_bytes()[:8] == MAGIC
    assert path.stat().st_mode & 0o444 == 0o444 & ~_umask()  # readable as an ordinary file


def test_weights_are_views_of_the_mapping(model_file: Path) -> None:
    model = pyconvinfer.load(model_file)
    for arr in model.file.tensors.values():
        assert not arr.flags.owndata and not arr.flags.writeable
    mm = np.frombuffer(model.file.mapping, dtype=np.uint8)
    lo, hi = mm.ctypes.data, mm.ctypes.data + mm.size
    for arr in model.file.tensors.values():
        assert lo <= arr.ctypes.data and arr.ctypes.data + arr.nbytes <= hi


def test_bad_magic(tmp_path: Path) -> None:
    p = tmp_path / "x.pci"
    p.write_bytes(b"hello world, not a model" * 4)
    with pytest.raises(ModelFileError, match="bad magic"):
        pyconvinfer.load(p)


def test_keras_file_gets_a_hint() -> None:
    with pytest.raises(ModelFileError, match="convert it first"):
        pyconvinfer.load(LENET)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot open"):
        pyconvinfer.load(tmp_path / "nope.pci")


def test_unknown_version(model_file: Path, tmp_path: Path) -> None:
    bad = _corrupt(model_file, tmp_path / "v.pci", 8, struct.pack("<I", 99))
    with pytest.raises(ModelFileError, match="version 99"):
        pyconvinfer.load(bad)


def test_truncated(model_file: Path, tmp_path: Path) -> None:
    raw = model_file.read_bytes()
    for cut in (10, 100, len(raw) // 2, len(raw) - 1):
        p = tmp_path / f"t{cut}.pci"
        p.write_bytes(raw[:cut])
        with pytest.raises(ModelFileError):
            pyconvinfer.load(p)


def test_bad_payload_checksum(model_file: Path, tmp_path: Path) -> None:
    raw = model_file.read_bytes()
    data_offset = FIXED.unpack(raw[:64])[3]
    bad = _corrupt(model_file, tmp_path / "c.pci", data_offset + 100, b"\x01\x02\x03\x04")
    with pytest.raises(ModelFileError, match="payload checksum"):
        pyconvinfer.load(bad)


def test_bad_header_checksum(model_file: Path, tmp_path: Path) -> None:
    bad = _corrupt(model_file, tmp_path / "h.pci", 70, b"X")
    with pytest.raises(ModelFileError, match="header"):
        pyconvinfer.load(bad)


def _rewrite_header(src: Path, dst: Path, edit) -> Path:
    """Re-sign a file after editing its JSON header (to reach the checks behind the checksums)."""
    mf = read_model(src)
    header = dict(mf.header)
    tensors = {t["name"]: np.array(mf.tensors[t["name"]]) for t in header.pop("tensors")}
    write_model(dst, header, tensors)
    raw = bytearray(dst.read_bytes())
    magic, ver, hlen, doff, dlen, hh, ph, total, fh = FIXED.unpack(raw[:64])
    import json

    h = json.loads(raw[64:64 + hlen])
    edit(h)
    hj = json.dumps(h, separators=(",", ":")).encode()
    new_doff = (64 + len(hj) + 63) // 64 * 64
    body = hj + b"\0" * (new_doff - 64 - len(hj)) + bytes(raw[doff:])
    fixed = FIXED.pack(magic, ver, len(hj), new_doff, dlen, _kernels.xxh64(hj), ph, 64 + len(body), 0)
    dst.write_bytes(fixed[:56] + struct.pack("<Q", _kernels.xxh64(fixed[:56])) + body)
    return dst


def test_offset_outside_file(model_file: Path, tmp_path: Path) -> None:
    def edit(h):
        h["tensors"][0]["offset"] = 1 << 40
    with pytest.raises(ModelFileError, match="outside the data region"):
        pyconvinfer.load(_rewrite_header(model_file, tmp_path / "o.pci", edit))


def test_shape_not_matching_bytes(model_file: Path, tmp_path: Path) -> None:
    def edit(h):
        h["tensors"][0]["shape"] = [10 ** 9]
    with pytest.raises(ModelFileError, match="does not match"):
        pyconvinfer.load(_rewrite_header(model_file, tmp_path / "s.pci", edit))


def test_weight_too_small_for_layer_is_caught_before_running(model_file: Path, tmp_path: Path) -> None:
    """A graph whose last dense layer claims more units than its packed weights hold:
    the C validation refuses the step instead of reading past the weights."""
    def edit(h):
        last = [n for n in h["nodes"] if n["op"] == "dense"][-1]  # feeds nothing: shapes stay consistent
        last["attrs"]["units"] = 4096
    model = pyconvinfer.load(_rewrite_header(model_file, tmp_path / "w.pci", edit))
    with pytest.raises(ModelFileError, match="outside"):
        model.predict(np.zeros((32, 32, 1), np.float32))


def test_graph_reading_undefined_tensor(model_file: Path, tmp_path: Path) -> None:
    def edit(h):
        h["nodes"][0]["inputs"] = ["nowhere"]
    with pytest.raises(ModelFileError, match="nowhere"):
        pyconvinfer.load(_rewrite_header(model_file, tmp_path / "g.pci", edit))


def test_unknown_op(model_file: Path, tmp_path: Path) -> None:
    def edit(h):
        h["nodes"][0]["op"] = "conv3d"
    with pytest.raises(ModelFileError, match="unknown op"):
        pyconvinfer.load(_rewrite_header(model_file, tmp_path / "u.pci", edit))


def test_write_is_atomic(tmp_path: Path) -> None:
    """A failing write leaves neither a partial file nor a damaged old one."""
    path = tmp_path / "m.pci"
    write_model(path, {"inputs": [], "outputs": [], "nodes": []}, {"a": np.ones(4, np.float32)})
    before = path.read_bytes()

    class Boom(Exception):
        pass

    def progress(done: int, total: int) -> None:
        raise Boom()

    with pytest.raises(Boom):
        write_model(path, {"inputs": [], "outputs": [], "nodes": []}, {"a": np.zeros(4, np.float32)}, progress)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pci"]


def test_payload_hash_is_thread_independent() -> None:
    data = np.random.default_rng(0).integers(0, 255, 5 * (1 << 20) + 123, dtype=np.uint8).tobytes()
    assert _kernels.payload_hash(data, 1) == _kernels.payload_hash(data, 2)
    assert _kernels.xxh64(b"") == 0xEF46DB3751D8E999  # XXH64 reference value for the empty input
    assert _kernels.xxh64(b"abc") == 0x44BC2CF5AD770999  # XXH64 reference value of "abc"
