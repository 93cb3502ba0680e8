"""The short soak (tools/soak.py has the long one: 10,000 predictions, 1,000 cycles):
memory stays flat over repeated predictions, and load / predict / close cycles
leave no file descriptor or mapping behind, on one thread and on four."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import pyconvinfer

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")

_spec = importlib.util.spec_from_file_location("soak", Path(__file__).parents[1] / "tools" / "soak.py")
soak = importlib.util.module_from_spec(_spec)
sys.modules["soak"] = soak  # dataclasses look their module up by name
_spec.loader.exec_module(soak)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    return pyconvinfer.convert(soak.LENET, tmp_path_factory.mktemp("soak") / "lenet5.pci")


@pytest.mark.parametrize("threads", [1, 4])
def test_predictions_keep_rss_flat(model_path: str, threads: int) -> None:
    r = soak.soak_predict(model_path, 1000, threads=threads)
    assert soak.problems(r, 5.0) == [], r


@pytest.mark.parametrize("threads", [1, 4])
def test_load_close_cycles_leak_no_fd_or_mapping(model_path: str, threads: int) -> None:
    r = soak.soak_cycles(model_path, 100, threads=threads)
    assert r.fds_after == r.fds_before and r.maps_after <= r.maps_before and r.file_maps_after == 0, r
    assert soak.problems(r, 5.0) == [], r


def test_the_checks_see_a_leak(model_path: str) -> None:
    """The detectors themselves: models kept open show up as descriptors-or-mappings and model-file maps."""
    before_maps, before_file = soak.map_count(), soak.mappings_of(model_path)
    kept = [pyconvinfer.load(model_path) for _ in range(3)]
    try:
        assert soak.mappings_of(model_path) >= before_file + 3
        assert soak.map_count() >= before_maps + 3
        leaked = soak.Result("x", 1, 10.0, 16.0, 16.0, 5, 6, 100, 100, 1)
        assert len(soak.problems(leaked, 5.0)) == 3
    finally:
        for m in kept:
            m.close()
    assert soak.mappings_of(model_path) == before_file
