"""pyconvinfer.dask on a real distributed.LocalCluster of 2 worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from user_models import conv_stack

import pyconvinfer

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
DATA = Path(pyconvinfer.__file__).parent / "data"


def _mappings_of(path: str) -> int:
    """How many times this process has the file mapped (run on each worker)."""
    import os

    with open("/proc/self/maps") as f:
        return len({line.split()[0] for line in f if line.rstrip().endswith(os.path.abspath(path))})


def test_local_threads_match_a_local_run(tmp_path: Path) -> None:
    import pyconvinfer.dask

    path = conv_stack(tmp_path / "m.pci", input_shape=(None, None, 3))
    x = np.random.default_rng(0).random((37, 12, 10, 3), np.float32)
    y = pyconvinfer.dask.predict(path, da.from_array(x, chunks=(8, 6, 10, 3)), num_threads=1)
    assert y.shape == (37, 5) and y.chunks[0] == (8, 8, 8, 8, 5)
    np.testing.assert_array_equal(y.compute(scheduler="threads"), pyconvinfer.load(path).predict(x))


def test_two_worker_processes_match_a_local_run(tmp_path: Path) -> None:
    import pyconvinfer.dask

    path = pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path / "lenet.pci")
    x = np.load(DATA / "digits_test_x.npy")
    want = pyconvinfer.load(path).predict(x)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        model = pyconvinfer.load(path, num_threads=1)
        y = pyconvinfer.dask.predict(model, da.from_array(x, chunks=50))
        got = y.compute()
        np.testing.assert_array_equal(got, want)
        assert (got.argmax(-1) == np.load(DATA / "digits_test_y.npy")).mean() > 0.95
        maps = client.run(_mappings_of, path)  # worker address -> mappings of the file
        assert len(maps) == 2 and all(n == 1 for n in maps.values()), maps
        ran = client.run(lambda: __import__("pyconvinfer").runtime._UNPICKLED.__len__())
        assert all(n == 1 for n in ran.values()), ran


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    import pyconvinfer.dask

    path = conv_stack(tmp_path / "m.pci", input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match=r"expected a Dask array of shape \(None, 16, 16, 3\)"):
        pyconvinfer.dask.predict(path, da.zeros((4, 8, 8, 3), chunks=2))
