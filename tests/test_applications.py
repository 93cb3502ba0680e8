"""keras.applications CNNs end to end: every file kind of both Keras generations,
converted and run, against the outputs Keras computed for the same weights.

Models (96x96x3, batch 2, logits): MobileNetV3Small, EfficientNetB0, Xception,
NASNetMobile, ConvNeXtTiny, MobileNetV2. Kinds: Keras 3 ``.h5``, ``.keras``,
``.weights.h5`` + ``to_json()`` config; tf.keras full ``.h5`` and weights-only ``.h5``
+ config. The files are rebuilt here from committed layouts with seeded weights
(``applications_files.py``; ``tools/capture_applications.py`` recorded the layouts and
Keras's outputs, and checked that Keras reading each rebuilt file gives them).
Tolerance: 1e-4 x max(1, max|y|), as for every Keras comparison (test_conformance).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from applications_files import KINDS, MODELS, expected_output, generation, model_input, write_app_file
from test_conformance import assert_matches_keras

import pyconvinfer

pytestmark = pytest.mark.applications

CASES = [(m, k) for m in MODELS for k in KINDS]
#: Seeded weights of the model being tested, shared by its file kinds (the cases run model
#: by model): drawing ConvNeXtTiny's 28.6 M weights once instead of five times.
_WEIGHTS: dict[str, dict] = {}


def _cache(model: str) -> dict:
    if model not in _WEIGHTS:
        _WEIGHTS.clear()  # one model's weights in memory at a time
        _WEIGHTS[model] = {}
    return _WEIGHTS[model]


def _convert(model: str, kind: str, tmp_path: Path) -> Path:
    src, config = write_app_file(MODELS[model], kind, tmp_path, cache=_cache(model))
    out = pyconvinfer.convert(src, tmp_path / f"{model}.pci", config=None if config is None else str(config))
    src.unlink()  # the big file is not needed once converted
    return Path(out)


@pytest.mark.parametrize("model,kind", CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_application(model: str, kind: str, tmp_path: Path) -> None:
    spec = MODELS[model]
    want = expected_output(spec, generation(kind))
    net = pyconvinfer.load(_convert(model, kind, tmp_path))
    assert net.input_shape == (None, spec.size, spec.size, 3)
    got = net.predict(model_input(spec))
    assert got.dtype == np.float32
    assert_matches_keras(got, want, f"{model} {kind}")


def test_cli_weights_and_config(tmp_path: Path) -> None:
    """`pyconvinfer convert --config` then `pyconvinfer run` on a weights-only file."""
    spec = MODELS["MobileNetV2"]
    src, config = write_app_file(spec, "keras2_weights.h5", tmp_path)
    assert config is not None
    out, x, y = tmp_path / "m.pci", tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, model_input(spec))
    cli = [sys.executable, "-m", "pyconvinfer.cli"]
    env = dict(os.environ, PYTHONPATH=str(Path(pyconvinfer.__file__).resolve().parents[1]))  # this checkout
    steps = (["convert", str(src), "--config", str(config), "-o", str(out)], ["run", str(out), str(x), "-o", str(y)])
    for args in steps:
        done = subprocess.run(cli + args, capture_output=True, text=True, timeout=120, env=env)  # noqa: S603
        assert done.returncode == 0, f"pyconvinfer {args[0]}: {done.stderr}"
    assert_matches_keras(np.load(y), expected_output(spec, "keras2"), "MobileNetV2 via the CLI")


def test_fixtures_are_informative() -> None:
    """Stored outputs: the model's shape, finite, spread out, and different for the two images
    (a degenerate output would let a wrong conversion pass the tolerance)."""
    for spec in MODELS.values():
        for gen in ("keras3", "keras2"):
            out = expected_output(spec, gen)
            assert out.shape == (2, 1000) and out.dtype == np.float32, (spec.name, gen)
            assert np.all(np.isfinite(out)) and out.std() > 0.1, (spec.name, gen)
            assert np.abs(out[0] - out[1]).max() > 0.01 * np.abs(out).max(), (spec.name, gen)
