"""Converter behaviour beyond the conformance fixtures: error paths, atomic
output, default names, built-in architectures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import pyconvinfer
from pyconvinfer.errors import ConversionError

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
UNSUPPORTED = Path(__file__).parent / "fixtures" / "keras_unsupported"
DATA = Path(pyconvinfer.__file__).parent / "data"


def _fixture(name: str, gen: str) -> Path:
    return FIXTURES / gen / name


def test_default_output_name_and_replacing(tmp_path: Path) -> None:
    src = tmp_path / "lenet.h5"
    shutil.copy(DATA / "lenet5_digits.h5", src)
    out = pyconvinfer.convert(src)
    assert out == str(tmp_path / "lenet.pci")
    first = Path(out).read_bytes()
    pyconvinfer.convert(src)  # a successful conversion replaces the file
    assert Path(out).read_bytes() == first


def test_weights_only_needs_an_architecture() -> None:
    with pytest.raises(ConversionError, match="--config"):
        pyconvinfer.convert(_fixture("conv2d_basic", "keras2") / "weights.h5", "/tmp/never.pci")
    assert not Path("/tmp/never.pci").exists()


def test_arch_lenet5_reads_weights_of_the_trained_model(tmp_path: Path) -> None:
    """--arch lenet5 is exactly the training script's topology: the full model's
    weights, saved weights-only by position, give the same outputs."""
    weights = tmp_path / "w.h5"
    with h5py.File(DATA / "lenet5_digits.h5") as src, h5py.File(weights, "w") as dst:
        mw = src["model_weights"]
        for k, v in mw.attrs.items():
            dst.attrs[k] = v
        for name in mw:
            mw.copy(name, dst)
    a = pyconvinfer.load(pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path / "a.pci"))
    b = pyconvinfer.load(pyconvinfer.convert(weights, tmp_path / "b.pci", arch="lenet5"))
    x = np.load(DATA / "digits_test_x.npy")[:20]
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def _edit_h5(src: Path, dst: Path, edit) -> Path:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def test_missing_weight_names_the_layer(tmp_path: Path) -> None:
    def edit(f):
        mw = f["model_weights"]
        name = [n for n in mw.attrs["layer_names"] if len(mw[n].attrs["weight_names"])][0]
        del mw[name][mw[name].attrs["weight_names"][0]]
    bad = _edit_h5(_fixture("conv2d_basic", "keras3") / "model.h5", tmp_path / "m.h5", edit)
    with pytest.raises(ConversionError, match="missing from the file"):
        pyconvinfer.convert(bad, tmp_path / "m.pci")
    assert not (tmp_path / "m.pci").exists()


def test_misshaped_weight_names_layer_and_shapes(tmp_path: Path) -> None:
    def edit(f):
        mw = f["model_weights"]
        name = [n for n in mw.attrs["layer_names"] if len(mw[n].attrs["weight_names"])][0]
        wname = mw[name].attrs["weight_names"][0]
        shape = mw[name][wname].shape
        del mw[name][wname]
        mw[name].create_dataset(wname, data=np.zeros(shape[:-1] + (shape[-1] + 1,), np.float32))
    bad = _edit_h5(_fixture("conv2d_basic", "keras3") / "model.h5", tmp_path / "s.h5", edit)
    with pytest.raises(ConversionError, match=r"has shape .* expected"):
        pyconvinfer.convert(bad, tmp_path / "s.pci")


def test_failed_conversion_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "model.pci"
    pyconvinfer.convert(DATA / "lenet5_digits.h5", out)
    good = out.read_bytes()
    with pytest.raises(ConversionError):
        pyconvinfer.convert(_fixture("conv2d_basic", "keras2") / "weights.h5", out)
    assert out.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pci"]


def test_not_a_keras_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.h5"
    p.write_text("hello")
    with pytest.raises(ConversionError, match="not a Keras file"):
        pyconvinfer.convert(p, tmp_path / "n.pci")


def test_keras0_file_is_rejected_clearly(tmp_path: Path) -> None:
    p = tmp_path / "old.h5"
    with h5py.File(p, "w") as f:
        f.attrs["nb_layers"] = 1
        f.create_group("layer_0").attrs["nb_params"] = 0
    with pytest.raises(ConversionError, match="Keras 0"):
        pyconvinfer.convert(p, tmp_path / "o.pci")


def test_architecture_and_weights_that_do_not_belong_together(tmp_path: Path) -> None:
    arch = _fixture("conv2d_basic", "keras2") / "arch.json"
    weights = _fixture("dense_basic", "keras2") / "weights.h5"
    with pytest.raises(ConversionError):
        pyconvinfer.convert(weights, tmp_path / "x.pci", config=str(arch))


def test_unknown_arch(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="unknown architecture"):
        pyconvinfer.convert(_fixture("conv2d_basic", "keras2") / "weights.h5", tmp_path / "x.pci", arch="resnet")


def _unsupported_cases() -> list[dict]:
    path = UNSUPPORTED / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else []


@pytest.mark.parametrize("case", _unsupported_cases(), ids=lambda c: f"{c['generation']}-{c['name']}-{c['file']}")
def test_unsupported_is_refused_before_writing(case: dict, tmp_path: Path) -> None:
    out = tmp_path / "u.pci"
    with pytest.raises(ConversionError) as info:
        pyconvinfer.convert(UNSUPPORTED / case["file"], out)
    for part in case["expect"]:
        assert part in str(info.value), f"{part!r} not in: {info.value}"
    assert "config lacks" not in str(info.value)  # only the real problems are listed
    assert not out.exists() and list(tmp_path.iterdir()) == []
