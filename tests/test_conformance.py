"""Keras conformance: every committed fixture (real files written by Keras 3
and tf.keras, tools/make_keras_fixtures.py) in every format is converted and
run, and must reproduce Keras's stored outputs; the coverage matrix must have
no hole."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conformance_matrix import FORMATS, GENERATIONS, NOT_APPLICABLE, REQUIRED_CELLS
from conftest import CONFORMANCE_ERRORS

import pyconvinfer

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CASES = [(e, fmt) for e in MANIFEST for fmt in FORMATS[e["generation"]]]

# The Keras comparison tolerance (written once): max |error| <= 1e-4 * max(1, max |y|).
RTOL = 1e-4


def keras_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| relative to max(1, max |want|)."""
    return float(np.max(np.abs(got.astype(np.float64) - want)) / max(1.0, float(np.max(np.abs(want)))))


def assert_matches_keras(got: np.ndarray, want: np.ndarray, what: str) -> float:
    assert got.shape == want.shape, f"{what}: shape {got.shape}, Keras {want.shape}"
    err = keras_error(got, want)
    assert err <= RTOL, f"{what}: max error {err:.3g} > {RTOL} (relative to max(1, max|y|))"
    if want.ndim >= 2 and want.shape[-1] > 1:
        # equal argmax wherever Keras's top two are further apart than the tolerance
        top2 = np.sort(want.reshape(-1, want.shape[-1]), axis=-1)[:, -2:]
        clear = (top2[:, 1] - top2[:, 0]) > RTOL * max(1.0, float(np.max(np.abs(want))))
        ga = got.reshape(-1, got.shape[-1]).argmax(-1)
        wa = want.reshape(-1, want.shape[-1]).argmax(-1)
        assert np.array_equal(ga[clear], wa[clear]), f"{what}: argmax differs from Keras"
    return err


def _convert(entry: dict, fmt: str, tmp_path: Path) -> Path:
    d = FIXTURES / entry["dir"]
    spec = entry["formats"][fmt]
    out = tmp_path / f"{entry['name']}.pci"
    if fmt == "json+weights":
        arch, weights = spec
        pyconvinfer.convert(d / weights, out, config=str(d / arch))
    else:
        pyconvinfer.convert(d / spec, out)
    return out


@pytest.mark.parametrize("entry,fmt", CASES, ids=[f"{e['generation']}-{e['name']}-{f}" for e, f in CASES])
def test_fixture_matches_keras(entry: dict, fmt: str, tmp_path: Path) -> None:
    path = _convert(entry, fmt, tmp_path)
    d = FIXTURES / entry["dir"]
    worst = 0.0
    results = {}
    for threads in (1, 2):
        model = pyconvinfer.load(path, num_threads=threads)
        for set_index, (ins, outs) in enumerate(zip(entry["inputs"], entry["outputs"])):
            xs = [np.load(d / f) for f in ins]
            got = model.predict(xs if len(xs) > 1 else xs[0])
            got = got if isinstance(got, list) else [got]
            assert len(got) == len(outs), f"{len(got)} outputs, Keras has {len(outs)}"
            for k, (g, f) in enumerate(zip(got, outs)):
                worst = max(worst, assert_matches_keras(g, np.load(d / f), f"set {set_index} output {k}"))
                key = (set_index, k)
                if key in results:  # thread-count invariance: bit-identical
                    assert np.array_equal(results[key], g), "1 and 2 threads differ"
                results[key] = g
    CONFORMANCE_ERRORS[f"{entry['generation']}/{entry['name']} [{fmt}]"] = worst


@pytest.mark.parametrize("entry", MANIFEST, ids=[f"{e['generation']}-{e['name']}" for e in MANIFEST])
def test_fixture_matches_keras_with_winograd_everywhere(entry: dict, tmp_path: Path) -> None:
    """Winograd F(4x4, 3x3) forced on every eligible layer stays within the Keras tolerance."""
    d = FIXTURES / entry["dir"]
    path = pyconvinfer.convert(d / entry["formats"]["h5"], tmp_path / "w.pci", winograd="winograd4")
    model = pyconvinfer.load(path)
    for ins, outs in zip(entry["inputs"], entry["outputs"]):
        xs = [np.load(d / f) for f in ins]
        got = model.predict(xs if len(xs) > 1 else xs[0])
        for k, (g, f) in enumerate(zip(got if isinstance(got, list) else [got], outs)):
            assert_matches_keras(g, np.load(d / f), f"output {k}")


def test_matrix_has_no_hole() -> None:
    """Every layer x option cell has a fixture in each Keras generation, and
    every fixture exists in every file format of its generation."""
    missing = []
    for gen in GENERATIONS:
        covered = {c for e in MANIFEST if e["generation"] == gen for c in e["covers"]}
        for cell in REQUIRED_CELLS:
            if cell not in covered and f"{gen}/{cell}" not in NOT_APPLICABLE:
                missing.append(f"{gen}/{cell}")
    for e in MANIFEST:
        for fmt in FORMATS[e["generation"]]:
            spec = e["formats"].get(fmt)
            files = [spec] if isinstance(spec, str) else (spec or [])
            if not files or not all((FIXTURES / e["dir"] / f).exists() for f in files):
                missing.append(f"{e['generation']}/{e['name']} has no {fmt} file")
    assert not missing, "coverage holes:\n" + "\n".join(missing)
