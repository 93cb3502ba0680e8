"""Self-verifying files: convert stores test vectors, `verify` reruns them on
this machine and fails loudly when the results differ."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_format import _rewrite_header

import pyconvinfer
from pyconvinfer.cli import main
from pyconvinfer.format import read_model

DATA = Path(pyconvinfer.__file__).parent / "data"
LENET = DATA / "lenet5_digits.h5"
FIXTURES = Path(__file__).parent / "fixtures" / "keras"


def test_convert_stores_vectors_and_verify_passes(tmp_path: Path, capsys) -> None:
    out = pyconvinfer.convert(LENET, tmp_path / "l.pci")
    header = read_model(out).header
    assert header["verify"]["source"] == "converter"
    with pyconvinfer.load(out) as m:
        result = m.verify(print_fn=None)
        assert result.passed and result.errors == [0.0]
        x = np.array(m.file.tensors[header["verify"]["inputs"][0]])
        assert x.shape == (2, 32, 32, 1)
    assert main(["verify", str(out)]) == 0
    text = capsys.readouterr().out
    assert "predictions: max error" in text and text.strip().endswith("conversion-time vectors")


def test_verify_fails_when_results_differ(tmp_path: Path, capsys) -> None:
    """A file whose stored outputs disagree with what this machine computes (as when a
    kernel misbehaves on the target) fails verify with exit 1."""
    out = pyconvinfer.convert(LENET, tmp_path / "l.pci")
    mf = read_model(out)
    name = mf.header["verify"]["outputs"][0]
    bad = np.array(mf.tensors[name])
    bad[0, 0] += 0.5
    header = dict(mf.header)
    tensors = {t["name"]: np.array(mf.tensors[t["name"]]) for t in header.pop("tensors")}
    tensors[name] = bad
    from pyconvinfer.format import write_model

    write_model(tmp_path / "bad.pci", header, tensors)
    assert main(["verify", str(tmp_path / "bad.pci")]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_reference_outputs_from_keras(tmp_path: Path, capsys) -> None:
    """--reference: the user's own Keras input/output pair (the bundled digits and Keras's probabilities)."""
    x, y = DATA / "digits_test_x.npy", DATA / "digits_test_keras_probs.npy"
    assert main(["convert", str(LENET), "-o", str(tmp_path / "r.pci"), "--reference", str(x), str(y)]) == 0
    assert "max error against the reference" in capsys.readouterr().out
    header = read_model(tmp_path / "r.pci").header
    assert header["verify"]["source"] == "reference"
    assert main(["verify", str(tmp_path / "r.pci")]) == 0


def test_unknown_height_width_gets_64x64_or_verify_shape(tmp_path: Path) -> None:
    entry = next(e for e in json.loads((FIXTURES / "manifest.json").read_text())
                 if e["name"] == "unknown_hw" and e["generation"] == "keras3")
    src = FIXTURES / entry["dir"] / entry["formats"]["keras"]
    out = pyconvinfer.convert(src, tmp_path / "u.pci")
    xs = read_model(out).header["verify"]["inputs"]
    assert read_model(out).tensors[xs[0]].shape[1:3] == (64, 64)
    out2 = pyconvinfer.convert(src, tmp_path / "u2.pci", verify_shape=(40, 24, read_model(out).tensors[xs[0]].shape[3]))
    assert read_model(out2).tensors[xs[0]].shape[1:3] == (40, 24)
    assert pyconvinfer.load(out2).verify(print_fn=None).passed


def test_several_inputs_and_outputs(tmp_path: Path) -> None:
    entry = next(e for e in json.loads((FIXTURES / "manifest.json").read_text())
                 if e["name"] == "two_outputs" and e["generation"] == "keras3")
    out = pyconvinfer.convert(FIXTURES / entry["dir"] / entry["formats"]["h5"], tmp_path / "t.pci")
    result = pyconvinfer.load(out).verify(print_fn=None)
    assert result.passed and len(result.errors) == 2


def test_file_without_vectors_says_so(tmp_path: Path) -> None:
    out = pyconvinfer.convert(LENET, tmp_path / "n.pci", verify=False)
    with pytest.raises(ValueError, match="no test vectors"):
        pyconvinfer.load(out).verify(print_fn=None)
    assert main(["verify", str(out)]) == 1


def test_malformed_vectors_are_an_error(tmp_path: Path) -> None:
    out = pyconvinfer.convert(LENET, tmp_path / "l.pci")

    def edit(h):
        h["verify"]["outputs"] = ["nowhere"]
    with pytest.raises(ValueError, match="malformed test vectors"):
        pyconvinfer.load(_rewrite_header(out, tmp_path / "m.pci", edit)).verify(print_fn=None)
