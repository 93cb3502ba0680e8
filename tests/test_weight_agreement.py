"""Weights and architecture must agree, or the converter says so and writes
nothing (real Keras files from tools/make_weight_mismatch_fixtures.py)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import pyconvinfer
from pyconvinfer.errors import ConversionError, ConversionWarning

FIX = Path(__file__).parent / "fixtures" / "weight_mismatch"


def _refuses(tmp_path: Path, src: Path, config: Path | None, match: str) -> None:
    out = tmp_path / "m.pci"
    with pytest.raises(ConversionError, match=match):
        pyconvinfer.convert(src, out, config=None if config is None else str(config))
    assert not out.exists()


def test_weights_the_architecture_never_reads(tmp_path: Path) -> None:
    """The issue's silently wrong model: Conv weights + a pooling-only architecture."""
    _refuses(tmp_path, FIX / "keras3_conv.weights.h5", FIX / "keras3_pool_only.json",
             r"weights for layers the architecture does not have \(conv2d\)")


def test_layer_of_the_architecture_without_weights(tmp_path: Path) -> None:
    _refuses(tmp_path, FIX / "keras3_conv.weights.h5", FIX / "keras3_conv_plus_dense.json", r"'extra' \(Dense\)")


def test_shape_mismatch_names_the_layer(tmp_path: Path) -> None:
    _refuses(tmp_path, FIX / "keras3_conv.weights.h5", FIX / "keras3_conv8.json", r"'conv'.*shape \(3, 3, 3, 4\)")


def test_renamed_layers_match_by_position_with_a_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = pyconvinfer.convert(FIX / "keras2_weights.h5", tmp_path / "r.pci",
                                  config=str(FIX / "keras2_renamed.json"))
    msgs = [str(w.message) for w in seen if issubclass(w.category, ConversionWarning)]
    assert msgs and "conv_a -> conv_b" in msgs[0] and "dense_a -> dense_b" in msgs[0]
    y = pyconvinfer.load(out).predict(np.load(FIX / "keras2_input.npy"))
    np.testing.assert_allclose(y, np.load(FIX / "keras2_output.npy"), rtol=1e-4, atol=1e-5)


def test_full_model_with_weights_its_config_lacks(tmp_path: Path) -> None:
    src = tmp_path / "extra.h5"
    shutil.copy(FIX / "keras2_full.h5", src)
    with h5py.File(src, "r+") as f:
        mw = f["model_weights"]
        g = mw.create_group("ghost")
        g.create_dataset("ghost/kernel:0", data=np.zeros((3, 3), np.float32))
        g.attrs["weight_names"] = [b"ghost/kernel:0"]
        names = [n if isinstance(n, bytes) else str(n).encode() for n in mw.attrs["layer_names"]]
        mw.attrs["layer_names"] = np.array(names + [b"ghost"], dtype="S")
    _refuses(tmp_path, src, None, r"model config does not have \(ghost\)")


def test_cli_prints_the_renamed_pairs(tmp_path: Path, capsys) -> None:
    from pyconvinfer.cli import main

    assert main(["convert", str(FIX / "keras2_weights.h5"), "--config", str(FIX / "keras2_renamed.json"),
                 "-o", str(tmp_path / "c.pci")]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "conv_a -> conv_b" in err
