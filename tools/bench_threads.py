"""Several Python threads on one Model: the bundled LeNet-5 loaded with
num_threads=1, 4 threads x 100 batch-1 calls against the same 400 calls made
serially. Target (issue 11): threaded time <= 0.8x serial on a 2-core machine.

    python tools/bench_threads.py                 # 3 runs, medians
    python tools/bench_threads.py --runs 5 --threads 4 --calls 100
    python tools/bench_threads.py --pin            # callers pinned to cores, round robin
    python tools/bench_threads.py --separate       # each thread its own Model: what sharing one costs
    python tools/bench_threads.py --baseline       # also a bare GIL-releasing C call of the same length

--baseline times, in the same runs, the same loops over a stdlib C call that releases
the GIL for as long as one predict takes (hashlib.sha256 over a buffer sized to match,
calibrated first): the ratio CPython and this machine's scheduler allow any extension
with calls this short, Model or not.

Each run times the serial loop and the threaded loop back to back, --inner
times (after a warm-up that fills the plan pool), and keeps the median of each;
the ratio is per run, then the median over runs. On a shared machine, read the
ratio, not the absolute times, and check "cores used while threaded": the
process's CPU time over the threaded loop's wall time. Well below the core
count, other load kept this process off the cores and the ratio says little.

"threads per core" tells where the kernel ran the threads (each thread's most
frequent CPU, sampled every 25 calls): with 100 calls per thread a run is ~6 ms,
shorter than the kernel's load balancing, so a 3:1 split (ratio >= 0.75) or all
four on one core (>= 1.0) lasts the whole run (docs/THREADS.md). --pin pins
thread k to the k-th usable core, as a caller can with os.sched_setaffinity in
each of its threads.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import hashlib
import os
import statistics
import tempfile
import threading
import time
from importlib import resources

import numpy as np

import pyconvinfer


def _cpu_reader():
    """sched_getcpu() where the C library has it (glibc, musl), else None."""
    try:
        fn = ctypes.CDLL(None).sched_getcpu
    except (AttributeError, OSError):
        return None
    fn.restype = ctypes.c_int
    return fn


GETCPU = _cpu_reader()


class _GilFreeCall:
    """A stand-in with predict(x): hashlib.sha256 over `size` bytes, which CPython's hashlib
    runs with the GIL released (buffers of 2 KiB and more): the same GIL pattern as a Model's
    call, one release and one re-acquisition, with no Model code."""

    def __init__(self, size: int) -> None:
        self.buf = bytes(size)

    def predict(self, x: object) -> bytes:
        return hashlib.sha256(self.buf).digest()

    @classmethod
    def lasting(cls, seconds: float) -> _GilFreeCall:
        """One whose call takes about `seconds` on this machine (median of a few timings)."""
        probe = cls(1 << 16)
        per_byte = statistics.median(_serial(probe, [None], 200) / 200 for _ in range(5)) / len(probe.buf)
        return cls(max(4096, int(seconds / per_byte)))


def _serial(model: pyconvinfer.Model, xs: list[np.ndarray], n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        model.predict(xs[i % len(xs)])
    return time.perf_counter() - t0


def _threaded(models: list[pyconvinfer.Model], xs: list[np.ndarray], threads: int, calls: int,
              cpu: list[float] | None = None, placement: list[str] | None = None, pin: bool = False) -> float:
    """Wall time of the threaded calls (thread k calls models[k % len(models)]); appends the
    process's CPU time over them to cpu, and the threads' split over CPUs (e.g. "2:2") to
    placement. pin: thread k runs on the k-th usable CPU only (round robin; Linux applies it
    per thread)."""
    start = threading.Barrier(threads + 1)
    seen: list[list[int]] = [[] for _ in range(threads)]
    getcpu = GETCPU if placement is not None else None
    cpus = sorted(os.sched_getaffinity(0))

    def work(k: int) -> None:
        model = models[k % len(models)]
        if pin:
            os.sched_setaffinity(0, {cpus[k % len(cpus)]})
        start.wait()
        for i in range(calls):
            model.predict(xs[(k * calls + i) % len(xs)])
            if getcpu is not None and i % 25 == 24:
                seen[k].append(getcpu())

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    c0, t0 = time.process_time(), time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(time.process_time() - c0)
    if getcpu is not None and all(seen):
        per_cpu = collections.Counter(collections.Counter(c).most_common(1)[0][0] for c in seen)
        placement.append(":".join(str(n) for n in sorted(per_cpu.values(), reverse=True)))
    return wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--calls", type=int, default=100, help="calls per thread")
    p.add_argument("--inner", type=int, default=15, help="serial/threaded pairs per run (medians)")
    p.add_argument("--model", help="a .pci file (default: the bundled LeNet-5, converted here)")
    p.add_argument("--pin", action="store_true", help="pin each calling thread to one core, round robin")
    p.add_argument("--separate", action="store_true",
                   help="each thread calls its own Model (the same file loaded once per thread): nothing shared")
    p.add_argument("--baseline", action="store_true",
                   help="also time a GIL-releasing stdlib call as long as one predict (hashlib.sha256), same runs")
    a = p.parse_args()
    data = resources.files("pyconvinfer") / "data"
    with tempfile.TemporaryDirectory() as tmp:
        path = a.model
        if path is None:
            with resources.as_file(data / "lenet5_digits.h5") as h5:
                path = pyconvinfer.convert(h5, os.path.join(tmp, "lenet.pci"))
        with resources.as_file(data / "digits_test_x.npy") as fx:
            xs = [np.ascontiguousarray(v) for v in np.load(fx)[:100]]
        model = pyconvinfer.load(path, num_threads=1)
        models = [pyconvinfer.load(path, num_threads=1) for _ in range(a.threads)] if a.separate else [model]
        if model.input_shape[1:] != xs[0].shape:
            rng = np.random.default_rng(0)
            xs = [rng.random(model.input_shape[1:], dtype=np.float32) for _ in range(16)]
        n = a.threads * a.calls
        _threaded(models, xs, a.threads, a.calls)  # warm-up: one plan per concurrent caller
        _serial(model, xs, n)
        stand_in = None
        if a.baseline:  # as long as one predict: the median of a few serial loops' per-call time
            stand_in = _GilFreeCall.lasting(statistics.median(_serial(model, xs, n) for _ in range(5)) / n)
        ratios, serials, threadeds, bests, cores, base_ratios = [], [], [], [], [], []
        for run in range(a.runs):
            cpu: list[float] = []
            splits: list[str] = []
            pairs = [(_serial(model, xs, n), _threaded(models, xs, a.threads, a.calls, cpu, splits, a.pin))
                     for _ in range(a.inner)]
            # cores this process got while threaded: near 1 on a 2-core machine means other load took the other
            cores.append(statistics.median(c / p[1] for c, p in zip(cpu, pairs)))
            s = statistics.median(p[0] for p in pairs)
            t = statistics.median(p[1] for p in pairs)
            bests.append(min(p[1] for p in pairs) / min(p[0] for p in pairs))  # least disturbed by other load
            serials.append(s)
            threadeds.append(t)
            ratios.append(t / s)
            print(f"run {run + 1}: serial {n} calls {s * 1e3:.1f} ms ({s / n * 1e6:.1f} us per call), {a.threads} "
                  f"threads x {a.calls} calls {t * 1e3:.1f} ms, ratio {t / s:.2f}, cores used while threaded "
                  f"{cores[-1]:.2f}" + (f", threads per core {dict(collections.Counter(splits).most_common())}"
                                        if splits else ""))
            if stand_in is not None:
                base = [(_serial(stand_in, xs, n), _threaded([stand_in], xs, a.threads, a.calls, pin=a.pin))
                        for _ in range(a.inner)]
                bs, bt = (statistics.median(q[i] for q in base) for i in (0, 1))
                base_ratios.append(bt / bs)
                print(f"       baseline (hashlib.sha256 over {len(stand_in.buf) // 1024} KiB, GIL released): "
                      f"{bs / n * 1e6:.1f} us per call, ratio {bt / bs:.2f}")
        arenas = sum(len(m._prepared[(1,) + (tuple(xs[0].shape),)]) for m in models)  # the threads' models
        print(f"median: serial {statistics.median(serials) * 1e3:.1f} ms, threaded "
              f"{statistics.median(threadeds) * 1e3:.1f} ms, ratio {statistics.median(ratios):.2f} "
              f"(target <= 0.80); fastest threaded / fastest serial: {statistics.median(bests):.2f}; "
              f"plans in the pool: {arenas}; cores available: {len(os.sched_getaffinity(0))}, used while threaded: "
              f"{statistics.median(cores):.2f}; "
              f"load average {os.getloadavg()[0]:.1f}")
        if base_ratios:
            print(f"baseline: a bare GIL-releasing call of the same length, same loops and runs: ratio "
                  f"{statistics.median(base_ratios):.2f} (median over runs)")


if __name__ == "__main__":
    main()
