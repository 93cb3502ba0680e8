"""What the fuzzers (tools/fuzz) found, each kept as a test: a hostile file gets a
pyconvinfer error that names the problem, never a bare Python exception, a
crash or a hang. .pci cases edit a real converted file's header (re-signed, so
they reach past the checksums); Keras cases build the file with h5py."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_format import _rewrite_header

import pyconvinfer
from pyconvinfer.errors import ConversionError, ModelFileError

LENET = Path(pyconvinfer.__file__).parent / "data" / "lenet5_digits.h5"
FIXTURES = Path(__file__).parent / "fixtures" / "keras"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return Path(pyconvinfer.convert(LENET, tmp_path_factory.mktemp("fuzzreg") / "lenet.pci"))


def _node(h: dict, op: str, k: int = 0) -> dict:
    return [n for n in h["nodes"] if n["op"] == op][k]


def _refused(path: Path, match: str) -> None:
    with pytest.raises(ModelFileError, match=match):
        with pyconvinfer.load(path) as model:
            model.predict(np.zeros((1, 32, 32, 1), np.float32))


PCI_CASES = {
    # KeyError 'name' from activations.normalize at the first predict
    "activation without a name": (lambda h: _node(h, "conv2d")["attrs"].update(activation={"alpha": 1}),
                                  "activation .* is not valid"),
    "activation of another type": (lambda h: _node(h, "conv2d")["attrs"].update(activation=7),
                                   "activation .* is not valid"),
    "unknown activation": (lambda h: _node(h, "dense")["attrs"].update(activation="relu7"),
                           "unknown activation 'relu7'"),
    "unknown op": (lambda h: _node(h, "dense").update(op="dense9"), "unknown op 'dense9'"),
    # OverflowError from int(float("inf")) in the tensor table (JSON 1e400 parses as inf)
    "infinite tensor dim": (lambda h: h["tensors"][0].update(shape=[float("inf")]), "tensor entry 0 is malformed"),
    "infinite tensor nbytes": (lambda h: h["tensors"][0].update(nbytes=float("inf")), "tensor entry 0 is malformed"),
    "float tensor offset": (lambda h: h["tensors"][1].update(offset=64.0), "tensor entry 1 is malformed"),
    # TypeError from dict(7) and from int([...]) at load
    "metadata not an object": (lambda h: h.update(metadata=7), "graph header is malformed"),
    "attrs not an object": (lambda h: h["nodes"][0].update(attrs=[["a", 1]]), "graph header is malformed"),
    "input shape of lists": (lambda h: h["inputs"][0].update(shape=[[32], 32, 1]), "input shape .* is not a list"),
    "input shape negative": (lambda h: h["inputs"][0].update(shape=[-32, 32, 1]), "input shape .* is not a list"),
}


@pytest.mark.parametrize("case", sorted(PCI_CASES))
def test_fuzzed_pci_file_is_refused(case: str, model_file: Path, tmp_path: Path) -> None:
    edit, match = PCI_CASES[case]
    _refused(_rewrite_header(model_file, tmp_path / "f.pci", edit), match)
