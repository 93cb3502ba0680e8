"""Images per second through pyconvinfer.dask on a distributed.LocalCluster of
1 and then 2 worker processes (one thread each, the model loaded with
num_threads=1 in every worker), against one local predict() of the same array.

    python tools/bench_dask.py                    # bundled LeNet-5, 45,000 digits, chunks of 1,000
    python tools/bench_dask.py --copies 20 --chunk 500 --runs 3

Needs the [dask] extra. The data set is the bundled held-out digits repeated
--copies times. Each figure is the median of --runs computes after one warm-up
compute (which starts the workers' mappings and plans). On a shared machine
the figures move with the load: compare them within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from importlib import resources

import numpy as np

import pyconvinfer
import pyconvinfer.dask


def _median_rate(fn, n: int, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def main() -> None:
    import dask.array as da
    import distributed

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--copies", type=int, default=100, help="copies of the 450 held-out digits")
    p.add_argument("--chunk", type=int, default=1000, help="images per Dask block")
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    warnings.filterwarnings("ignore", message="Sending large graph")  # the data set, sent once by persist()
    data = resources.files("pyconvinfer") / "data"
    with tempfile.TemporaryDirectory() as tmp:
        with resources.as_file(data / "lenet5_digits.h5") as h5:
            path = pyconvinfer.convert(h5, os.path.join(tmp, "lenet.pci"))
        with resources.as_file(data / "digits_test_x.npy") as fx:
            x = np.concatenate([np.load(fx)] * a.copies)
        n = len(x)
        local = pyconvinfer.load(path, num_threads=1)
        print(f"{n} images 32x32x1, blocks of {a.chunk}, LeNet-5, num_threads=1 per process; "
              f"{len(os.sched_getaffinity(0))} cores available (shared machine)")
        rate = _median_rate(lambda: local.predict(x), n, a.runs)
        print(f"local predict, 1 process:   {rate:12,.0f} images/s")
        want = local.predict(x)
        for workers in (1, 2):
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None)
            with cluster, distributed.Client(cluster):
                model = pyconvinfer.load(path, num_threads=1)
                xd = da.from_array(x, chunks=a.chunk).persist()  # the data on the workers: time the model, not the send
                y = pyconvinfer.dask.predict(model, xd)
                rate = _median_rate(lambda y=y: y.compute(), n, a.runs)
                assert np.array_equal(y.compute(), want), "the cluster's result differs from the local run"
                print(f"dask, {workers} worker process(es): {rate:12,.0f} images/s")


if __name__ == "__main__":
    main()
