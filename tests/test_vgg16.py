"""VGG16 at full size (224x224, 138 M parameters) through every Keras file
kind: the full-model files and the weights-only files with --arch vgg16 (with
and without the top), against an independent float64 NumPy forward pass.

The weights are random and generated here; the files are written with the
exact group/dataset/attribute layout that real Keras wrote (committed under
tests/fixtures/vgg16/ by tools/capture_vgg16_layout.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_conformance import assert_matches_keras
from vgg16_files import random_vgg16_input, random_vgg16_weights, vgg16_reference_forward, write_vgg16_file

import pyconvinfer

pytestmark = pytest.mark.vgg16

KINDS = [  # (layout kind, convert options, include_top)
    ("keras3_full.h5", {}, True),
    ("keras3.keras", {}, True),
    ("keras2_full.h5", {}, True),
    ("applications_top.h5", {"arch": "vgg16"}, True),
    ("applications_notop.h5", {"arch": "vgg16"}, False),
    ("keras2_weights.h5", {"arch": "vgg16"}, True),
    ("keras3.weights.h5", {"arch": "vgg16"}, True),
]


@pytest.fixture(scope="module")
def weights() -> dict:
    return random_vgg16_weights(seed=0, include_top=True)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return random_vgg16_input(seed=1, batch=1)


@pytest.fixture(scope="module")
def reference(weights, image) -> dict[bool, np.ndarray]:
    return {True: vgg16_reference_forward(weights, image, include_top=True),
            False: vgg16_reference_forward(weights, image, include_top=False)}


@pytest.mark.parametrize("kind,options,top", KINDS, ids=[k for k, _, _ in KINDS])
def test_vgg16(kind: str, options: dict, top: bool, weights, image, reference, tmp_path: Path) -> None:
    w = weights if top else {k: v for k, v in weights.items() if k.startswith("block")}
    src = write_vgg16_file(kind, tmp_path, w)
    out = pyconvinfer.convert(src, tmp_path / "vgg16.pci", **options)
    src.unlink()  # keep the disk footprint to one 553 MB file at a time
    model = pyconvinfer.load(out)
    assert model.input_shape == (None, 224, 224, 3)
    got = model.predict(image)
    assert_matches_keras(got, reference[top].astype(np.float32), f"VGG16 {kind}")
    if top:
        assert got.shape == (1, 1000)
        assert model.layer_table()[-1]["name"].startswith("predictions")
    else:
        assert got.shape == (1, 7, 7, 512)
