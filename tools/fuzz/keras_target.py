"""Fuzz target: the Keras readers (model_config JSON through topology and layer
handlers, HDF5 attributes and group structure as h5py hands them over, the
.keras zip and its members), then load and one predict of what converted.

An input is a JSON document (seeds: tools/fuzz/corpus/keras, made from the
fixtures by make_seeds.py):

  {"kind": "h5",      "h5": TREE}                         a full-model or weights .h5
  {"kind": "weights", "h5": TREE, "config": ARCH}          weights .h5 + --config ARCH.json
  {"kind": "keras",   "h5": TREE, "config": CFG, "metadata": META,
                      "members": [[name, "config" | "metadata" | "weights" | literal text], ...]}

TREE is an HDF5 file as a tree (tools/fuzz/h5tree.py): files are written with
h5py from it, so libhdf5 only ever reads well-formed files (a crash in libhdf5
could not be caught in-process) while our readers see every mutation of
attributes, groups, shapes and dtypes. The custom mutator changes the document
as a tree. Accepted: a PyconvinferError, or a conversion whose model loads and
predicts. Anything else propagates and libFuzzer reports it."""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import sys
import tempfile
import warnings
import zipfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5tree  # noqa: E402
from common import fuzz_main, instrumented  # noqa: E402

with instrumented():
    from pci_target import predict_once

    from pyconvinfer import convert, load
    from pyconvinfer.errors import PyconvinferError

_DIR = tempfile.mkdtemp(prefix="keras-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)


def materialize(doc: dict) -> tuple[str, str | None]:
    """Write the files an input stands for; returns (Keras file, --config file or None).
    Raises h5tree.TreeError when the document cannot be written (not a finding)."""
    if not isinstance(doc, dict) or doc.get("kind") not in ("h5", "weights", "keras"):
        raise h5tree.TreeError("not a harness document")
    kind = doc["kind"]
    h5 = h5tree.to_bytes(doc.get("h5", {}))
    cfg_path = None
    if kind == "keras":
        path = os.path.join(_DIR, "model.keras")
        members = doc.get("members", [])
        if not isinstance(members, list):
            raise h5tree.TreeError("members is not a list")
        contents = {"config": json.dumps(doc.get("config")), "metadata": json.dumps(doc.get("metadata")),
                    "weights": h5}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate member names are part of the game
            with zipfile.ZipFile(path, "w") as z:
                for m in members:
                    # a name zipfile can store: it cuts names at their first NUL, so one starting with NUL is empty
                    if not (isinstance(m, list) and len(m) == 2 and all(isinstance(x, str) for x in m)
                            and zipfile.ZipInfo(m[0]).filename):
                        raise h5tree.TreeError("a member is not [name, content] with a storable name")
                    z.writestr(m[0], contents.get(m[1], m[1]))
        return path, None
    path = os.path.join(_DIR, "model.h5")
    with open(path, "wb") as f:
        f.write(h5)
    if kind == "weights":
        cfg_path = os.path.join(_DIR, "arch.json")
        with open(cfg_path, "w") as f:
            json.dump(doc.get("config"), f)
    return path, cfg_path


def run_one(doc: dict) -> None:
    try:
        src, cfg = materialize(doc)
    except h5tree.TreeError:
        return
    out = os.path.join(_DIR, "model.pci")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            convert(src, out, config=cfg)
            with load(out, num_threads=1) as model:
                predict_once(model)
    except PyconvinferError:
        pass


def parse(data: bytes) -> dict | None:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris's name
    doc = parse(data)
    if doc is not None:
        run_one(doc)


def CustomMutator(data: bytes, max_size: int, seed: int) -> bytes:  # noqa: N802
    import atheris
    from mutate import mutate_tree

    doc = parse(data)
    if doc is None:
        return atheris.Mutate(data, max_size)
    rng = random.Random(seed)
    out = json.dumps(mutate_tree(doc, rng), separators=(",", ":")).encode()
    return out if len(out) <= max_size else data


def main() -> None:
    fuzz_main(TestOneInput, CustomMutator)


if __name__ == "__main__":
    main()
