"""The command line: exit codes 0 / 1 / 2 and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyconvinfer
from pyconvinfer.cli import main

DATA = Path(pyconvinfer.__file__).parent / "data"


def test_convert_info_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "lenet.pci"
    assert main(["convert", str(DATA / "lenet5_digits.h5"), "-o", str(out)]) == 0
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "MACs per sample: 416,520" in text and "conv1" in text
    x = tmp_path / "x.npy"
    np.save(x, np.load(DATA / "digits_test_x.npy")[:2])
    y = tmp_path / "y.npy"
    assert main(["run", str(out), str(x), "-o", str(y)]) == 0
    text = capsys.readouterr().out
    assert "sample 0 " in text and np.load(y).shape == (2, 10)
    assert main(["bench", str(out), "--repeat", "2", "--per-layer"]) == 0
    text = capsys.readouterr().out
    assert "conv1" in text and f"ISA {pyconvinfer.build_info()['kernel_isa']}:" in text


def test_per_layer_times_steps_on_the_inputs_their_layers_read(tmp_path: Path) -> None:
    """Each step is timed in plan order from the inputs copied in afresh, so it computes on
    what its predecessors wrote, not on what a previous full run left in the reused arena."""
    from pyconvinfer.bench import _step_times
    out = tmp_path / "lenet.pci"
    pyconvinfer.convert(DATA / "lenet5_digits.h5", out)
    x = np.load(DATA / "digits_test_x.npy")[:1].astype(np.float32)
    with pyconvinfer.load(out, num_threads=1) as m:
        want = m.predict(x)
        prep = m.prepared(x)
        for dst in prep.inputs:
            dst[...] = np.nan  # whatever a run left there is overwritten
        times = _step_times(m, prep, [x], repeat=2)
        assert len(times) == len(prep.step_nodes) and all(t > 0 for t in times)
        np.testing.assert_array_equal(prep.outputs[0], want)


def test_bench_times_predict_as_a_user_calls_it(tmp_path: Path, monkeypatch) -> None:
    """A batch that predict would not slice is timed as predict(x), the fast path a user's call takes."""
    from pyconvinfer import bench, runtime
    out = tmp_path / "lenet.pci"
    pyconvinfer.convert(DATA / "lenet5_digits.h5", out)
    calls: list[dict] = []
    real = runtime.Model.predict

    def spy(self, x, **kw):
        calls.append(kw)
        return real(self, x, **kw)

    monkeypatch.setattr(runtime.Model, "predict", spy)
    bench.bench_model(str(out), batch=4, repeat=2)
    assert calls and all(kw == {} for kw in calls), calls
    calls.clear()
    monkeypatch.setattr(runtime.Model, "_auto_slice", lambda self, shapes: 2)  # would slice: asked in one run
    bench.bench_model(str(out), batch=4, repeat=2)
    assert calls and all(kw == {"batch_size": 4} for kw in calls), calls


def test_errors_are_one_line_with_exit_1(tmp_path: Path, capsys) -> None:
    assert main(["info", str(tmp_path / "missing.pci")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyconvinfer info: error:") and "\n" not in err
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"nope")
    assert main(["convert", str(bad)]) == 1
    assert "not a Keras file" in capsys.readouterr().err


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as e:
        main(["convert"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["convert", "x.h5", "--arch", "resnet"])
    assert e.value.code == 2


def test_debug_shows_traceback(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pyconvinfer.cli", "--debug", "info", str(tmp_path / "m.pci")],
                       capture_output=True, text=True, cwd=tmp_path)  # import the installed package
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_demo_matches_keras(capsys) -> None:
    assert main(["demo", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "matches Keras" in out and "us per image" in out
