"""predict's fast path (a shape seen before, one input): the whole call is one
C call (_kernels.Runner) that converts the input into the arena, runs the plan
and copies the outputs with the GIL released once. These tests hold it to the
general path's results bit for bit, for every input dtype and memory layout,
several outputs, forgotten shapes, many threads and Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import child_env
from user_models import conv_stack

import pyconvinfer
from pyconvinfer import _kernels, runtime

DATA = Path(pyconvinfer.__file__).parent / "data"


@pytest.fixture(scope="module")
def lenet_path(tmp_path_factory) -> str:
    return pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path_factory.mktemp("m") / "lenet.pci")


def _unaligned(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of a whose data does not start on an element boundary."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    out = np.frombuffer(raw.data, a.dtype, a.size, offset=1).reshape(a.shape)
    out[...] = a
    return out


def _variants(rng: np.random.Generator, shape: tuple) -> dict[str, np.ndarray]:
    """Inputs in every dtype and layout a user may pass (values each dtype holds)."""
    f64 = rng.standard_normal(shape)  # more precision than float32: the cast rounds
    small = rng.integers(-128, 128, shape)
    v = {
        "float32": f64.astype(np.float32),
        "float64": f64,
        "float16": f64.astype(np.float16),
        "big-endian float32": f64.astype(">f4"),
        "big-endian float64": f64.astype(">f8"),
        "uint8": rng.integers(0, 256, shape).astype(np.uint8),
        "int8": small.astype(np.int8),
        "int16": (small * 200).astype(np.int16),
        "uint16": rng.integers(0, 1 << 16, shape).astype(np.uint16),
        "int32": rng.integers(-(1 << 31), 1 << 31, shape).astype(np.int32),  # beyond 2**24: rounded
        "uint32": rng.integers(0, 1 << 32, shape, dtype=np.uint64).astype(np.uint32),
        "int64": rng.integers(-(1 << 62), 1 << 62, shape),
        "uint64": rng.integers(0, np.iinfo(np.uint64).max, shape, dtype=np.uint64, endpoint=True),
        "longlong": small.astype(np.longlong),
        "bool": rng.random(shape) < 0.5,
        "Fortran order": np.asfortranarray(f64.astype(np.float32)),
        "strided": np.repeat(f64.astype(np.float32), 2, axis=-1)[..., ::2],
        "unaligned float32": _unaligned(f64.astype(np.float32)),
        "unaligned float64": _unaligned(f64),
    }
    v["read-only"] = v["float32"].copy()
    v["read-only"].flags.writeable = False
    return v


@pytest.mark.parametrize("batched", [False, True])
def test_every_input_dtype_and_layout_gives_the_float32_result(lenet_path, batched) -> None:
    model = pyconvinfer.load(lenet_path, num_threads=1)
    shape = (3, 32, 32, 1) if batched else (32, 32, 1)
    for name, x in _variants(np.random.default_rng(1), shape).items():
        want = model.predict(np.ascontiguousarray(x, dtype=np.float32))  # NumPy's cast
        assert want.shape == ((3, 10) if batched else (10,))
        for call in range(3):  # the first call plans the shape; later ones take the fast path
            got = model.predict(x)
            assert got.dtype == np.float32 and got.shape == want.shape, name
            np.testing.assert_array_equal(got, want, err_msg=f"{name}, call {call}")
    assert model._fast  # the fast path was used


def test_big_endian_input_is_not_read_as_native(lenet_path) -> None:
    # the fast path used to copy the bytes of a '>f4' array as they are
    model = pyconvinfer.load(lenet_path, num_threads=1)
    x = np.load(DATA / "digits_test_x.npy")[0]
    want = model.predict(x)
    swapped = x.astype(">f4")
    for _ in range(3):
        np.testing.assert_array_equal(model.predict(swapped), want)


def test_results_are_fresh_arrays_not_views_of_the_arena(lenet_path) -> None:
    model = pyconvinfer.load(lenet_path, num_threads=1)
    xs = np.load(DATA / "digits_test_x.npy")[:3]
    first = [model.predict(x) for x in xs]
    again = [model.predict(x) for x in xs]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)  # a later call did not overwrite an earlier result
        assert a.base is None and a.flags.writeable and a.flags.c_contiguous
    again[0][:] = -1  # writing a result changes nothing inside the model
    np.testing.assert_array_equal(model.predict(xs[0]), first[0])


def test_several_outputs_on_the_fast_path(tmp_path) -> None:
    path = conv_stack(tmp_path / "m.pci", layers=2, channels=8, classes=5, input_shape=(12, 10, 3),
                      extra_outputs=("pool", "conv0"))
    model = pyconvinfer.load(path, num_threads=1)
    rng = np.random.default_rng(2)
    one, batch = rng.random((12, 10, 3), dtype=np.float32), rng.random((2, 12, 10, 3), dtype=np.float32)
    want_one, want_batch = model.predict(one), model.predict(batch)
    assert [w.shape for w in want_one] == [(5,), (8,), (12, 10, 8)]
    assert [w.shape for w in want_batch] == [(2, 5), (2, 8), (2, 12, 10, 8)]
    for _ in range(2):
        for x, want in ((one, want_one), (batch, want_batch), (batch.astype(np.float64), want_batch)):
            got = model.predict(x)
            assert isinstance(got, list) and len(got) == 3
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
    assert model._fast


def test_runner_refuses_what_it_cannot_convert(lenet_path) -> None:
    model = pyconvinfer.load(lenet_path, num_threads=1)
    prep = model.prepared(np.zeros((1, 32, 32, 1), np.float32))
    runner = _kernels.Runner(prep.plan, prep.inputs[0], prep.outputs)
    prep.inputs[0][...] = 7
    for x in (np.zeros((1, 32, 32, 2), np.float32),  # the wrong size
              np.zeros((1, 32, 32, 1), np.float16),  # no C conversion
              np.zeros((1, 32, 32, 1), ">f4"),  # byte-swapped
              np.zeros((1, 32, 32, 1), np.complex64),
              np.zeros((1, 32, 32, 2), np.float32)[..., :1]):  # not contiguous
        assert runner(x, False, 1, model.isa) is None
    assert (prep.inputs[0] == 7).all()  # touched nothing
    out = runner(np.zeros((1, 32, 32, 1), np.float32), False, 1, model.isa)
    np.testing.assert_array_equal(out, model.predict(np.zeros((1, 32, 32, 1), np.float32)))
    with pytest.raises(ValueError, match="num_threads"):
        runner(np.zeros((1, 32, 32, 1), np.float32), False, 0, model.isa)
    with pytest.raises(ValueError, match="isa must be one of"):
        runner(np.zeros((1, 32, 32, 1), np.float32), False, 1, "nope")
    with pytest.raises(ValueError, match="input view"):
        _kernels.Runner(prep.plan, prep.inputs[0][:, ::2], prep.outputs)


def test_other_dtypes_still_get_the_general_error(lenet_path) -> None:
    model = pyconvinfer.load(lenet_path, num_threads=1)
    model.predict(np.zeros((32, 32, 1), np.float32))
    for x in (np.zeros((32, 32, 1), np.complex64), np.full((32, 32, 1), "a"), np.empty((32, 32, 1), object)):
        with pytest.raises(TypeError, match="input 'input': expected numbers, got dtype"):
            model.predict(x)


def test_forgotten_shapes_leave_the_fast_path(tmp_path) -> None:
    model = pyconvinfer.load(conv_stack(tmp_path / "open.pci"), num_threads=1)
    rng = np.random.default_rng(3)
    xs = [rng.random((6 + i, 7, 3), dtype=np.float32) for i in range(runtime.MAX_PLANS + 4)]
    want = [model.predict(x) for x in xs]
    for _ in range(2):
        for x, w in zip(xs, want):
            np.testing.assert_array_equal(model.predict(x), w)
            np.testing.assert_array_equal(model.predict(x), w)
            live = [id(free) for free in model._prepared.values()]
            assert len(live) <= runtime.MAX_PLANS
            assert all(id(free) in live for free, _ in model._fast.values())  # no plans kept past the bound


def test_per_shape_caches_stay_bounded(tmp_path) -> None:
    # a folder of images of many sizes on an open-size model: plans, fast-path
    # entries and the per-shape cost cache all stay bounded
    model = pyconvinfer.load(conv_stack(tmp_path / "open.pci", layers=1, channels=4), num_threads=1)
    rng = np.random.default_rng(5)
    for i in range(8 * runtime.MAX_PLANS + 5):
        model.predict(rng.random((4 + i % 50, 4 + i // 50, 3), dtype=np.float32))
    assert len(model._prepared) <= runtime.MAX_PLANS
    assert len(model._fast) <= 2 * runtime.MAX_PLANS  # (H, W, C) and (1, H, W, C) per shape at most
    assert len(model._macs) <= 8 * runtime.MAX_PLANS


def test_threads_with_mixed_dtypes_match_serial(lenet_path) -> None:
    model = pyconvinfer.load(lenet_path, num_threads=1)
    rng = np.random.default_rng(4)
    kinds = list(_variants(rng, (32, 32, 1)).values())
    want = [model.predict(np.ascontiguousarray(x, dtype=np.float32)) for x in kinds]
    errors: list[str] = []
    start = threading.Barrier(4)

    def work(k: int) -> None:
        start.wait()
        for rep in range(40):
            i = (k * 5 + rep) % len(kinds)
            if not np.array_equal(model.predict(kinds[i]), want[i]):
                errors.append(f"thread {k} input {i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert 1 <= len(model._prepared[(1, (32, 32, 1))]) <= 4  # at most one plan per concurrent caller


CTRL_C_FAST_CHILD = """
import sys, numpy as np, pyconvinfer
model = pyconvinfer.load(sys.argv[1], num_threads=1)
x = np.ones((64, 64, 3), np.float64)  # converted in C on the fast path
want = model.predict(x)  # plans the shape: the next call takes the fast path
print("running", flush=True)
try:
    model.predict(x)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
print("usable" if np.array_equal(model.predict(x), want) else "broken", flush=True)
"""


def test_ctrl_c_stops_the_fast_path_too(tmp_path) -> None:
    path = conv_stack(tmp_path / "deep.pci", layers=300, channels=64)  # about a second per 64x64 call
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_FAST_CHILD, path], stdout=subprocess.PIPE, text=True,
                            env=child_env(), cwd=tmp_path)
    assert proc.stdout.readline().strip() == "running"
    time.sleep(0.1)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    line = proc.stdout.readline().strip()
    elapsed = time.monotonic() - t0
    rest = proc.communicate(timeout=120)[0]
    assert line == "interrupted", line
    assert elapsed < 0.5, f"took {elapsed:.2f} s to stop"
    assert rest.strip() == "usable"


def test_concurrent_callers_share_num_threads(lenet_path) -> None:
    # num_threads=4 and two runs in progress: each later run gets 4 // 2 threads, so
    # callers split the cores instead of each starting 4 OpenMP threads
    model = pyconvinfer.load(lenet_path, num_threads=4)
    x = np.load(DATA / "digits_test_x.npy")[0]
    want = model.predict(x)
    want2 = model.predict(np.stack([x, x]))  # a second shape, so the two calls below use two plans
    seen: dict[str, int] = {}
    second_done = threading.Event()

    def spy(name: str, runner):  # records the thread count each call runs with
        def call(src, single, threads, isa, watch):
            seen[name] = threads
            if name == "first":
                assert second_done.wait(10)  # still running while the second call starts
            return runner(src, single, threads, isa, watch)
        return call

    (first,) = model._prepared[(1, (32, 32, 1))]
    (second,) = model._prepared[(2, (32, 32, 1))]
    first.runner, second.runner = spy("first", first.runner), spy("second", second.runner)
    results: list = []
    t = threading.Thread(target=lambda: results.append(model.predict(x)))
    t.start()
    while "first" not in seen:
        time.sleep(0.001)
    both = model.predict(np.stack([x, x]))
    second_done.set()
    t.join()
    assert seen == {"first": 4, "second": 2}
    assert not model._running  # every run is counted out
    np.testing.assert_array_equal(results[0], want)
    np.testing.assert_array_equal(both, want2)
    assert model.predict(x) is not None and seen["first"] == 4  # alone again: all 4
