"""Fuzz target: the .pci reader, Model load and one predict.

An input is a real converted file taken apart, so that mutations reach past the
checksums (a mutated byte would otherwise only ever test "checksum mismatch"):

  byte 0       mode: 0 rebuild a consistent file around the header and payload
                     1 the same, then set one fixed-header field (byte 1 picks it,
                       bytes 2..9 are the value) and fix up the fixed header's checksum
                     2 the same as 0, then truncate at (bytes 2..9) % length
                     3 the header and payload bytes taken as the whole file, as is
  bytes 10..13 u32 length of the header JSON
  then         the header JSON, then the tensor payload

The custom mutator mutates the header JSON as a tree (tools/fuzz/mutate.py),
the payload and the fixed-header fields as bytes, or the whole input as bytes.
What is accepted: a PyconvinferError (the library refusing the file), or a
predict that returns. Anything else propagates and libFuzzer reports it."""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import warnings

import numpy as np

# Keep the kernels on one thread: the fuzzer wants executions, not speed per run.
os.environ.setdefault("OMP_NUM_THREADS", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import fuzz_main, instrumented  # noqa: E402

with instrumented():
    from pyconvinfer import _kernels, load
    from pyconvinfer.errors import PyconvinferError
    from pyconvinfer.format import ALIGN, FIXED, MAGIC, VERSION
    from pyconvinfer.ops import infer_shapes

PREFIX = struct.Struct("<BBQI")  # mode, field, value, header length
FIELDS = ("version", "hlen", "data_off", "data_len", "hhash", "phash", "total")
MAX_ELEMENTS = 4_000_000  # predict only models whose activations fit in a few tens of MB (the harness's bound)
_DIR = tempfile.mkdtemp(prefix="pci-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_PATH = os.path.join(_DIR, "input.pci")


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def split(file_bytes: bytes) -> bytes:
    """A real .pci file -> a fuzz input (mode 0): its header JSON and payload."""
    _, _, hlen, data_off, data_len, *_ = FIXED.unpack(file_bytes[:64])
    header = file_bytes[64:64 + hlen]
    return PREFIX.pack(0, 0, 0, len(header)) + header + file_bytes[data_off:data_off + data_len]


def decode(data: bytes) -> tuple[int, int, int, bytes, bytes]:
    if len(data) < PREFIX.size:
        data = data + bytes(PREFIX.size - len(data))
    mode, field, value, hlen = PREFIX.unpack(data[:PREFIX.size])
    rest = data[PREFIX.size:]
    return mode % 4, field, value, rest[:hlen], rest[hlen:]


def encode(mode: int, field: int, value: int, header: bytes, payload: bytes) -> bytes:
    return PREFIX.pack(mode, field, value, len(header)) + header + payload


def build(data: bytes) -> bytes:
    """The file bytes an input stands for."""
    mode, field, value, header, payload = decode(data)
    if mode == 3:
        return header + payload
    data_off = _align(FIXED.size + len(header))
    total = data_off + len(payload)
    values = {"version": VERSION, "hlen": len(header), "data_off": data_off, "data_len": len(payload),
              "hhash": _kernels.xxh64(header), "phash": _kernels.payload_hash(payload, 1), "total": total}
    if mode == 1:
        values[FIELDS[field % len(FIELDS)]] = value & 0xFFFFFFFF if FIELDS[field % len(FIELDS)] in (
            "version", "hlen") else value
    fixed = FIXED.pack(MAGIC, *(values[k] for k in FIELDS), 0)[:56]
    fixed += struct.pack("<Q", _kernels.xxh64(fixed))
    out = fixed + header + bytes(data_off - FIXED.size - len(header)) + payload
    if mode == 2:
        out = out[:value % (len(out) + 1)]
    return out


def _inputs(model) -> list[np.ndarray] | None:
    """Zero inputs of the model's shapes (open dims = 8), or None when the
    model is too large to run here (bounded memory is the harness's own rule)."""
    shapes = [tuple(8 if d is None else int(d) for d in s[1:]) for s in model.input_shapes]
    if any(len(s) > 8 for s in shapes):  # the loader refuses these; numpy could not build them anyway
        return None
    try:
        inferred = infer_shapes(model.graph, dict(zip(model.input_names, shapes)))
        elements = sum(int(np.prod(s, dtype=object)) for s in inferred.values())
    except Exception:  # noqa: BLE001 - predict itself must answer this one; do not skip it
        return [np.zeros((1, *s), np.float32) for s in shapes] if all(
            int(np.prod(s, dtype=object)) < MAX_ELEMENTS for s in shapes) else None
    if elements > MAX_ELEMENTS:
        return None
    return [np.zeros((1, *s), np.float32) for s in shapes]


def predict_once(model) -> None:
    """One predict on zeros. Where the model leaves height or width open, the harness
    picks 8: a model may rightly refuse that size (a ValueError naming the node that
    cannot take it). The runtime's own answer to an input it cannot run ("input
    shape(s) ... do not fit the model: ... needs N GiB of activations") is a
    deliberate, named refusal too, not a finding."""
    x = _inputs(model)
    if not x:
        return
    try:
        model.predict(x if len(x) > 1 else x[0])
    except MemoryError:
        # The harness caps its address space at 2 GiB (common.limit_memory): a model whose
        # activations need more cannot run here. Reading and loading stay under the cap.
        return
    except ValueError as e:
        guessed = any(d is None for s in model.input_shapes for d in s[1:])
        msg = str(e)
        if isinstance(e, PyconvinferError) or not (msg.startswith("input shape")
                                                   or (guessed and msg.startswith("node "))):
            raise


def run_one(file_bytes: bytes) -> None:
    with open(_PATH, "wb") as f:
        f.write(file_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with load(_PATH, num_threads=1) as model:
                predict_once(model)
    except PyconvinferError:
        pass


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris's name
    run_one(build(data))


def CustomMutator(data: bytes, max_size: int, seed: int) -> bytes:  # noqa: N802
    import atheris
    from mutate import mutate_tree

    rng = random.Random(seed)
    mode, field, value, header, payload = decode(data)
    r = rng.random()
    if r < 0.55:
        try:
            tree = json.loads(header)
        except (ValueError, UnicodeDecodeError):
            tree = None
        if tree is not None:
            header = json.dumps(mutate_tree(tree, rng), separators=(",", ":")).encode()
        else:
            header = atheris.Mutate(header, max(len(header) * 2, 64))
    elif r < 0.7:
        payload = atheris.Mutate(payload, max(len(payload) + 64, 64))
    elif r < 0.85:
        mode, field = rng.randrange(4), rng.randrange(len(FIELDS))
        value = rng.choice([0, 1, 63, 64, 2**31, 2**32, 2**63, 2**64 - 1, len(header), len(payload),
                            rng.getrandbits(64)])
    else:
        return atheris.Mutate(data, max_size)
    out = encode(mode, field, value, header, payload)
    return out if len(out) <= max_size else out[:max_size]


def main() -> None:
    fuzz_main(TestOneInput, CustomMutator)


if __name__ == "__main__":
    main()
