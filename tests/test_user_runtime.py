"""The user's runtime path: streaming, empty batches, close(), pickling,
several threads on one Model, OMP_NUM_THREADS and Ctrl-C."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from user_models import conv_stack

import pyconvinfer
from pyconvinfer import _kernels
from pyconvinfer.errors import ModelFileError

DATA = Path(pyconvinfer.__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lenet_path(tmp_path_factory) -> str:
    return pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path_factory.mktemp("m") / "lenet.pci")


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return np.load(DATA / "digits_test_x.npy")


def _mapped(path: str) -> bool:
    with open("/proc/self/maps") as f:
        return any(line.rstrip().endswith(os.path.abspath(path)) for line in f)


def test_streaming_matches_one_batch_and_reports_progress(lenet_path, digits) -> None:
    model = pyconvinfer.load(lenet_path)
    whole = model.predict(digits)
    seen: list[tuple[int, int]] = []
    parts = model.predict(digits, batch_size=64, progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_array_equal(parts, whole)
    n = len(digits)
    assert seen == [(min(i, n), n) for i in range(64, n + 64, 64)]
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(digits, batch_size=0)


def test_streaming_reads_a_memory_mapped_npy_slice_by_slice(lenet_path, digits, tmp_path) -> None:
    np.save(tmp_path / "d.npy", digits.astype(np.float64))  # converted to float32 one slice at a time
    x = np.load(tmp_path / "d.npy", mmap_mode="r")
    model = pyconvinfer.load(lenet_path)
    np.testing.assert_array_equal(model.predict(x, batch_size=100), model.predict(digits))


def test_default_slices_keep_the_largest_layer_bounded(tmp_path, monkeypatch) -> None:
    from pyconvinfer import runtime

    model = pyconvinfer.load(conv_stack(tmp_path / "s.pci", layers=2, channels=8))
    x = np.random.default_rng(1).random((12, 16, 16, 3), np.float32)
    whole = model.predict(x)
    per_sample = model._plan_macs(((16, 16, 3),))  # conv1: 16*16*8*8*9
    assert per_sample == 16 * 16 * 8 * 8 * 9
    monkeypatch.setattr(runtime, "SLICE_MACS", 5 * per_sample)
    seen: list[int] = []
    np.testing.assert_array_equal(model.predict(x, progress=lambda d, t: seen.append(d)), whole)
    assert seen == [5, 10, 12]


def test_empty_batch_gives_empty_outputs_like_keras(lenet_path, tmp_path) -> None:
    model = pyconvinfer.load(lenet_path)
    y = model.predict(np.zeros((0, 32, 32, 1), np.float32))
    assert y.shape == (0, 10) and y.dtype == np.float32
    free = pyconvinfer.load(conv_stack(tmp_path / "u.pci"))  # unknown height and width
    assert free.predict(np.zeros((0, 7, 9, 3), np.float32)).shape == (0, 5)
    with pytest.raises(ValueError, match="expected shape"):
        model.predict(np.zeros((0, 28, 28, 1), np.float32))


def test_close_and_with_release_the_mapping(lenet_path, digits) -> None:
    with pyconvinfer.load(lenet_path) as model:
        model.predict(digits[:3])
        model.predict(digits[0])
        assert _mapped(lenet_path)
    assert model.closed and not _mapped(lenet_path)
    with pytest.raises(ValueError, match="closed"):
        model.predict(digits[0])
    assert "closed" in repr(model)
    model.close()  # twice is fine


def test_pickle_maps_the_file_again_without_hashing_the_payload(lenet_path, digits, monkeypatch) -> None:
    model = pyconvinfer.load(lenet_path, num_threads=1)
    want = model.predict(digits[:5])
    blob = pickle.dumps(model)
    assert len(blob) < 1000  # the path and a checksum, not the weights

    def no_hash(*a, **k):
        raise AssertionError("the payload was hashed again")

    monkeypatch.setattr(_kernels, "payload_hash", no_hash)
    from pyconvinfer import runtime

    runtime._UNPICKLED.clear()
    copy = pickle.loads(blob)
    assert copy is not model and copy.num_threads == 1
    np.testing.assert_array_equal(copy.predict(digits[:5]), want)
    assert pickle.loads(blob) is copy  # the same process maps the file once


def test_unpickling_a_different_file_is_refused(lenet_path, tmp_path) -> None:
    import shutil

    from pyconvinfer import runtime

    path = tmp_path / "m.pci"
    shutil.copy(lenet_path, path)
    blob = pickle.dumps(pyconvinfer.load(path))
    conv_stack(path)  # another model at the same path
    runtime._UNPICKLED.clear()
    with pytest.raises(ModelFileError, match="not the file the model was pickled from"):
        pickle.loads(blob)
    path.unlink()
    with pytest.raises(ModelFileError, match="cannot open"):
        pickle.loads(blob)


def test_threads_share_one_model_each_on_its_own_arena(lenet_path, digits) -> None:
    model = pyconvinfer.load(lenet_path, num_threads=1)
    xs = [np.ascontiguousarray(v) for v in digits[:40]]
    want = [model.predict(v) for v in xs]
    errors: list[str] = []
    start = threading.Barrier(4)

    def work(k: int) -> None:
        start.wait()
        for rep in range(30):
            i = (k * 7 + rep) % len(xs)
            if not np.array_equal(model.predict(xs[i]), want[i]):
                errors.append(f"thread {k} sample {i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    pool = model._prepared[(1, (32, 32, 1))]
    assert 1 <= len(pool) <= 4  # at most one arena per concurrent caller


def test_omp_num_threads_sets_the_default(lenet_path) -> None:
    code = f"import pyconvinfer; print(pyconvinfer.load({lenet_path!r}).num_threads)"
    env = dict(os.environ, OMP_NUM_THREADS="3", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"
    env["OMP_NUM_THREADS"] = "2,1"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"


CTRL_C_CHILD = """
import sys, time, numpy as np, pyconvinfer
model = pyconvinfer.load(sys.argv[1], num_threads=1)
small = np.ones((1, 8, 8, 3), np.float32)
want = model.predict(small)
x = np.ones((4, 48, 48, 3), np.float32)
print("running", flush=True)
try:
    model.predict(x)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
print("usable" if np.array_equal(model.predict(small), want) else "broken", flush=True)
"""


def test_ctrl_c_stops_a_long_predict_within_half_a_second(tmp_path) -> None:
    # 300 short layers (a few ms each): the stop comes at the next layer boundary
    path = conv_stack(tmp_path / "deep.pci", layers=300, channels=64)  # seconds per predict here
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD, path], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "running"
    time.sleep(0.4)  # well inside the first layers
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    line = proc.stdout.readline().strip()
    elapsed = time.monotonic() - t0
    rest = proc.communicate(timeout=60)[0]
    assert line == "interrupted", line
    assert elapsed < 0.5, f"took {elapsed:.2f} s to stop"
    assert rest.strip() == "usable" and proc.returncode == 0


def test_a_short_call_is_not_queued_behind_a_long_one(tmp_path) -> None:
    model = pyconvinfer.load(conv_stack(tmp_path / "deep.pci", layers=60, channels=64), num_threads=1)
    small = np.ones((1, 8, 8, 3), np.float32)
    want = model.predict(small)
    big = np.ones((2, 96, 96, 3), np.float32)
    model.predict(big[:1])  # plan the model's shapes before timing
    done: dict[str, float] = {}

    def long_call() -> None:
        model.predict(big)
        done["long"] = time.monotonic()

    t = threading.Thread(target=long_call)
    t.start()
    time.sleep(0.2)
    for _ in range(5):
        np.testing.assert_array_equal(model.predict(small), want)
    done["short"] = time.monotonic()
    t.join()
    assert done["short"] < done["long"], "the short calls waited for the long one"
