"""The .pci model file: write atomically, read with mmap, validate everything.

Layout (docs/FORMAT.md has it byte by byte):
  0   8  magic  b"\\x89PCI\\r\\n\\x1a\\n"
  8   4  u32 format version (2; version-1 files, float32 only, still load)
  12  4  u32 header length in bytes (UTF-8 JSON)
  16  8  u64 data offset (multiple of 64)
  24  8  u64 data length
  32  8  u64 XXH64 of the JSON header
  40  8  u64 payload hash of the data region (XXH64 per 1 MiB block, then of the block hashes)
  48  8  u64 total file length
  56  8  u64 XXH64 of bytes 0..55
  64     JSON header, zero padding to the data offset, then the tensors, each at
         a 64-byte aligned offset relative to the data offset, little-endian.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import _kernels
from .errors import ModelFileError
from .quantize import STORAGE

MAGIC = b"\x89PCI\r\n\x1a\n"
VERSION = 2
READABLE_VERSIONS = (1, 2)
ALIGN = 64
FIXED = struct.Struct("<8sIIQQQQQQ")
assert FIXED.size == 64
MAX_HEADER = 64 << 20
# Tensor dtypes and numpy's storage of them: bfloat16 has no numpy type and is kept
# as its 16 bits (uint16; quantize.py converts). Version 1 knew float32 only.
DTYPES = dict(STORAGE)
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class ModelFile:
    """A validated model file: its header and zero-copy views of its tensors."""

    path: str
    header: dict[str, Any]
    tensors: dict[str, np.ndarray]
    mapping: Any  # the mmap (or bytes) the tensors view
    file_size: int
    dtypes: dict[str, str] = field(default_factory=dict)  # tensor -> its dtype name (bfloat16 is stored as uint16)
    version: int = VERSION
    scales: dict[str, str] = field(default_factory=dict)  # int8 tensor -> the float32 tensor of its scales


def write_model(path: str | os.PathLike, header: dict[str, Any], tensors: dict[str, np.ndarray],
                progress: Callable[[int, int], None] | None = None,
                scales: dict[str, str] | None = None) -> int:
    """Write atomically: a temporary file in the destination directory, fsync,
    then rename over `path`. On any failure the temporary file is removed and
    an existing `path` is left untouched. Returns the file size.

    A tensor's dtype is its array's: float32, float16, int8, or uint16 for
    bfloat16 bits (quantize.py). scales: int8 tensor -> the float32 tensor of
    its per-channel scales, recorded in the table."""
    import tempfile  # here, not at the top: a device that only loads models does not pay for these imports
    from pathlib import Path

    path = Path(path)
    table, offset = [], 0
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        dtype = DTYPE_NAMES.get(arr.dtype, "float32")
        arr = np.ascontiguousarray(arr, dtype=DTYPES[dtype])  # float64 and friends become float32
        tensors[name] = arr
        entry = {"name": name, "dtype": dtype, "shape": list(arr.shape), "offset": offset, "nbytes": arr.nbytes}
        if dtype == "int8":
            if not scales or scales.get(name) not in tensors:
                raise ValueError(f"int8 tensor {name!r} needs its scale tensor")
            entry["quantization"] = {"scheme": "symmetric_per_channel", "scale": scales[name]}
        table.append(entry)
        offset = _align(offset + arr.nbytes)
    data_len = offset
    payload_bytes = sum(e["nbytes"] for e in table)  # progress counts these (the padding is not written)
    full = dict(header, tensors=table)
    hjson = json.dumps(full, separators=(",", ":"), sort_keys=False).encode()
    data_offset = _align(FIXED.size + len(hjson))
    total = data_offset + data_len

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as e:  # name the user's path, not the hidden temporary file
        raise _write_error(path, e) from None
    try:
        with os.fdopen(fd, "w+b") as f:
            f.truncate(total)
            f.seek(FIXED.size)
            f.write(hjson)
            done = 0
            for entry, arr in zip(table, tensors.values()):
                f.seek(data_offset + entry["offset"])
                raw = memoryview(arr).cast("B")  # contiguous (ascontiguousarray above)
                for start in range(0, len(raw), 16 << 20):  # 16 MiB writes: progress and Ctrl-C between them
                    f.write(raw[start:start + (16 << 20)])
                    done += len(raw[start:start + (16 << 20)])
                    if progress:
                        progress(done, payload_bytes)
            f.flush()
            with mmap.mmap(f.fileno(), total, access=mmap.ACCESS_READ) as mm:
                payload = _kernels.payload_hash(memoryview(mm)[data_offset:total], _kernels.default_threads())
            fixed = FIXED.pack(MAGIC, VERSION, len(hjson), data_offset, data_len, _kernels.xxh64(hjson),
                               payload, total, 0)
            fixed = fixed[:56] + struct.pack("<Q", _kernels.xxh64(fixed[:56]))
            f.seek(0)
            f.write(fixed)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a model file is an ordinary file
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.filename is not None:  # the temporary file's name means nothing to the user
            raise _write_error(path, e) from None
        raise
    return total


def _write_error(path: os.PathLike, e: OSError) -> OSError:
    err = OSError(f"cannot write {path}: {e.strerror or e}")
    err.errno = e.errno
    return err


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_int(v: Any) -> int:
    """A JSON integer, nothing else: 3.0, 1e400 (inf), true or "3" in a size or offset mean a forged file."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"not an integer: {v!r}")
    return v


def _fail(path: str, what: str) -> ModelFileError:
    return ModelFileError(f"{path}: {what}")


def read_model(path: str | os.PathLike, verify: bool = True, num_threads: int = 1) -> ModelFile:
    """Open, validate and memory-map a model file. Raises ModelFileError."""
    spath = str(path)
    try:
        f = open(spath, "rb")
    except OSError as e:
        raise ModelFileError(f"cannot open model file {spath}: {e.strerror}") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(FIXED.size)
        if len(head) < 8 or head[:8] != MAGIC:
            hint = ""
            if head[:4] == b"\x89HDF" or head[:2] == b"PK":
                hint = " (this looks like a Keras file: convert it first with `pyconvinfer convert`)"
            raise _fail(spath, f"not a pyconvinfer model file (bad magic){hint}")
        if len(head) < FIXED.size:
            raise _fail(spath, f"truncated: {size} bytes, the fixed header alone is {FIXED.size}")
        magic, version, hlen, data_off, data_len, hhash, phash, total, fhash = FIXED.unpack(head)
        if version not in READABLE_VERSIONS:
            raise _fail(spath, f"format version {version} is not supported (this pyconvinfer reads "
                               f"versions {', '.join(map(str, READABLE_VERSIONS))}); reconvert the Keras file "
                               "with this version")
        if _kernels.xxh64(head[:56]) != fhash:
            raise _fail(spath, "corrupt fixed header (checksum mismatch)")
        if total != size:
            raise _fail(spath, f"truncated or padded: header says {total} bytes, file has {size}")
        if not (hlen <= MAX_HEADER and data_off % ALIGN == 0 and FIXED.size + hlen <= data_off
                and data_off + data_len == total):
            raise _fail(spath, "inconsistent header lengths/offsets")
        hjson = f.read(hlen)
        if len(hjson) != hlen or _kernels.xxh64(hjson) != hhash:
            raise _fail(spath, "corrupt header (checksum mismatch)")
        try:
            header = json.loads(hjson.decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _fail(spath, f"header is not valid JSON: {e}") from None
        if not isinstance(header, dict) or not isinstance(header.get("tensors"), list):
            raise _fail(spath, "header has no tensor table")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    if hasattr(mm, "madvise") and hasattr(mmap, "MADV_WILLNEED"):
        mm.madvise(mmap.MADV_WILLNEED)
    if verify and _kernels.payload_hash(memoryview(mm)[data_off:total], num_threads) != phash:
        raise _fail(spath, "corrupt tensor data (payload checksum mismatch): copy or convert the file again")
    tensors: dict[str, np.ndarray] = {}
    spans: list[tuple[int, int, str]] = []
    known = DTYPES if version >= 2 else {"float32": DTYPES["float32"]}
    quantized: dict[str, Any] = {}
    for i, t in enumerate(header["tensors"]):
        try:
            name, dtype, shape = t["name"], known[t["dtype"]], tuple(_json_int(d) for d in t["shape"])
            off, nbytes = _json_int(t["offset"]), _json_int(t["nbytes"])
        except (KeyError, TypeError, ValueError):
            msg = (f"tensor entry {i} is malformed (need name, dtype ({', '.join(known)} in a version-{version} "
                   "file), shape, offset, nbytes)")
            raise _fail(spath, msg) from None
        if t["dtype"] == "int8":
            quantized[name] = t.get("quantization")
        if not isinstance(name, str) or len(shape) > 8 or any(d < 0 for d in shape):
            raise _fail(spath, f"tensor entry {i}: bad name or shape {list(shape)}")
        count = 1
        for d in shape:  # Python ints: a shape like [2**32, 2**32] must not wrap around
            count *= d
        if count * dtype.itemsize != nbytes:
            raise _fail(spath, f"tensor {name!r}: shape {list(shape)} does not match its {nbytes} bytes")
        if off < 0 or off % ALIGN or off + nbytes > data_len:
            raise _fail(spath, f"tensor {name!r}: bytes {off}..{off + nbytes} lie outside the data region "
                               f"of {data_len} bytes (or are not 64-byte aligned)")
        if name in tensors:
            raise _fail(spath, f"duplicate tensor name {name!r}")
        spans.append((off, off + nbytes, name))
        arr = np.frombuffer(mm, dtype=dtype, count=count, offset=data_off + off).reshape(shape)
        tensors[name] = arr
    for name, q in quantized.items():  # the scales an int8 tensor names: present, float32
        scale = q.get("scale") if isinstance(q, dict) else None
        if (not isinstance(q, dict) or q.get("scheme") != "symmetric_per_channel" or not isinstance(scale, str)
                or scale not in tensors or tensors[scale].dtype != DTYPES["float32"]):
            raise _fail(spath, f"int8 tensor {name!r}: its quantization entry must be "
                               f'{{"scheme": "symmetric_per_channel", "scale": <a float32 tensor>}}, got {q!r}')
    spans.sort()
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1 and a1 > a0 and b1 > b0:  # empty tensors overlap nothing
            raise _fail(spath, f"tensors {an!r} and {bn!r} overlap (bytes {a0}..{a1} and {b0}..{b1})")
    dtypes = {t["name"]: t["dtype"] for t in header["tensors"]}
    scales = {name: q["scale"] for name, q in quantized.items()}
    return ModelFile(spath, header, tensors, mm, size, dtypes, version, scales)
