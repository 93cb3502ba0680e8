"""Soak: memory, file descriptors and mappings stay flat over long runs.

  python tools/soak.py                       # 10,000 predictions, 1,000 load/close cycles, then 4 threads
  python tools/soak.py --predictions 1000 --cycles 100

Checks (the exit status is non-zero when one fails):
  predict  RSS after warm-up stays within --rss-mb (5 MB) over the predictions on one Model
  cycles   load / predict / close cycles leave no file descriptor, no file-backed mapping and no
           mapping of the model file behind (/proc/self/fd, /proc/self/maps), RSS within the same bound
  threads  the same two, with 4 threads predicting on one shared Model, then 4 threads
           each cycling load / predict / close
Linux only (/proc). The model is LeNet-5 (pyconvinfer/data), converted to a temporary file."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import pyconvinfer

LENET = Path(pyconvinfer.__file__).parent / "data" / "lenet5_digits.h5"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def mappings_of(path: str) -> int:
    real = os.path.realpath(path)
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if line.rstrip().endswith(real))


def map_count() -> int:
    """File-backed mappings of the process. Anonymous ones are left out: the allocator
    adds and drops those (a new thread's malloc arena, say) and RSS bounds their memory."""
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if len(parts := line.split(maxsplit=5)) == 6 and parts[5].startswith("/"))


@dataclass
class Result:
    name: str
    runs: int
    rss_start_mb: float    # after warm-up
    rss_max_mb: float
    rss_end_mb: float
    fds_before: int = 0
    fds_after: int = 0
    maps_before: int = 0   # file-backed mappings of the process
    maps_after: int = 0
    file_maps_after: int = 0  # mappings of the model file once every Model is closed

    @property
    def growth_mb(self) -> float:
        return max(self.rss_max_mb, self.rss_end_mb) - self.rss_start_mb


def _batch() -> np.ndarray:
    return np.random.default_rng(0).random((1, 32, 32, 1), dtype=np.float32)


def soak_predict(model_path: str, n: int, threads: int = 1, warmup: int = 200) -> Result:
    """n predictions on one Model, split over `threads` threads."""
    x = _batch()
    with pyconvinfer.load(model_path) as model:
        peak = 0.0
        lock = threading.Lock()

        def work(count: int) -> None:
            nonlocal peak
            for i in range(count):
                model.predict(x)
                if i % 100 == 0:
                    r = rss_mb()
                    with lock:
                        peak = max(peak, r)

        _run_threads(work, warmup * threads, threads)
        gc.collect()
        start = peak = rss_mb()
        _run_threads(work, n, threads)
        gc.collect()
        end = rss_mb()
    return Result(f"predict x{n} ({threads} thread{'s' if threads > 1 else ''})", n, start, max(peak, end), end)


def soak_cycles(model_path: str, n: int, threads: int = 1, warmup: int = 20) -> Result:
    """n load / predict / close cycles, split over `threads` threads."""
    x = _batch()

    def cycle() -> None:
        with pyconvinfer.load(model_path) as model:
            model.predict(x)

    peak = 0.0
    lock = threading.Lock()

    def work(count: int) -> None:
        nonlocal peak
        for i in range(count):
            cycle()
            if i % 20 == 0:
                r = rss_mb()
                with lock:
                    peak = max(peak, r)

    _run_threads(work, warmup * threads, threads)  # the same threads first: their stacks are not a leak
    gc.collect()
    fds, maps, start = fd_count(), map_count(), rss_mb()
    peak = start
    _run_threads(work, n, threads)
    gc.collect()
    end = rss_mb()
    return Result(f"load/predict/close x{n} ({threads} thread{'s' if threads > 1 else ''})", n, start,
                  max(peak, end), end, fds, fd_count(), maps, map_count(), mappings_of(model_path))


def _run_threads(work, n: int, threads: int) -> None:
    if threads == 1:
        work(n)
        return
    errors: list[BaseException] = []

    def guarded(count: int) -> None:
        try:
            work(count)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            errors.append(e)

    ts = [threading.Thread(target=guarded, args=(n // threads + (i < n % threads),)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def problems(r: Result, rss_limit_mb: float) -> list[str]:
    out = []
    if r.growth_mb > rss_limit_mb:
        out.append(f"{r.name}: RSS grew {r.growth_mb:.1f} MB after warm-up (limit {rss_limit_mb} MB)")
    if r.fds_after > r.fds_before:
        out.append(f"{r.name}: {r.fds_after - r.fds_before} file descriptors leaked")
    if r.maps_after > r.maps_before or r.file_maps_after:
        out.append(f"{r.name}: mappings {r.maps_before} -> {r.maps_after}, "
                   f"{r.file_maps_after} of the model file still mapped")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictions", type=int, default=10_000)
    ap.add_argument("--cycles", type=int, default=1_000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--rss-mb", type=float, default=5.0, help="allowed RSS growth after warm-up")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = pyconvinfer.convert(LENET, Path(tmp) / "lenet5.pci")
        results = [soak_predict(path, args.predictions), soak_cycles(path, args.cycles),
                   soak_predict(path, args.predictions, args.threads), soak_cycles(path, args.cycles, args.threads)]
    failed = [p for r in results for p in problems(r, args.rss_mb)]
    if args.json:
        print(json.dumps([dict(asdict(r), growth_mb=round(r.growth_mb, 2)) for r in results], indent=1))
    else:
        for r in results:
            print(f"{r.name:<42} RSS {r.rss_start_mb:7.1f} -> max {r.rss_max_mb:7.1f} MB (growth {r.growth_mb:4.1f})"
                  + (f"  fds {r.fds_before}->{r.fds_after}  maps {r.maps_before}->{r.maps_after}"
                     f"  model-file maps {r.file_maps_after}" if r.fds_before else ""))
    for p in failed:
        print("FAIL", p, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
