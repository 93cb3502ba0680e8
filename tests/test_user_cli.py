"""The rough edges a newcomer hit (issue 11), each pinned by a test."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from user_models import conv_stack

import pyconvinfer
from pyconvinfer.cli import _progress_printer, main
from pyconvinfer.format import write_model
from pyconvinfer.units import format_bytes, format_time

DATA = Path(pyconvinfer.__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent
SIZE_UNITS = re.compile(r"\d\s*(kB|KB|MB|GB)\b")


def test_progress_reaches_its_total_and_ends_its_line(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    tensors = {"a": np.ones(10, np.float32), "b": np.ones(17, np.float32)}  # both padded to 64 bytes
    write_model(tmp_path / "m.pci", {"nodes": []}, tensors, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (27 * 4, 27 * 4)
    stream = io.StringIO()
    report = _progress_printer(stream)
    total = 100 << 20
    report(total // 2, total)
    report(total, total)
    assert stream.getvalue().endswith(f"{format_bytes(total)} / {format_bytes(total)}\n")


def test_py_typed_is_shipped() -> None:
    assert (Path(pyconvinfer.__file__).parent / "py.typed").is_file()


def test_output_path_errors_name_the_users_path(tmp_path: Path, capsys) -> None:
    out = tmp_path / "nodir" / "x.pci"
    assert main(["convert", str(DATA / "lenet5_digits.h5"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {out}: No such file or directory" in err and ".tmp" not in err
    assert not any(tmp_path.rglob("*.tmp"))


def test_summary_prints_once_returns_none_and_is_documented(tmp_path: Path, capsys) -> None:
    model = pyconvinfer.load(pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path / "l.pci"))
    assert model.summary() is None
    out = capsys.readouterr().out
    assert out.count("Total params: 61,706") == 1
    assert model.summary.__doc__ and "print_fn" in model.summary.__doc__


def test_debug_after_the_subcommand_and_version(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "pyconvinfer.cli", "info", str(tmp_path / "m.pci"), "--debug"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "Traceback" in r.stderr
    r = subprocess.run([sys.executable, "-m", "pyconvinfer.cli", "--version"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == f"pyconvinfer {pyconvinfer.__version__}"


def test_bench_needs_an_input_shape_for_unknown_sizes(tmp_path: Path, capsys) -> None:
    path = conv_stack(tmp_path / "u.pci")
    assert main(["bench", path, "--repeat", "1"]) == 1
    assert "give --input-shape H,W,3" in capsys.readouterr().err  # no silent 224x224
    assert main(["bench", path, "--repeat", "1", "--input-shape", "40,48,3", "--per-layer"]) == 0
    out = capsys.readouterr().out
    assert "input 40x48x3" in out and "conv0" in out
    assert main(["bench", path, "--repeat", "1", "--input-shape", "40,48,4"]) == 1
    assert "does not fit" in capsys.readouterr().err


def test_times_and_sizes_print_in_human_units(tmp_path: Path, capsys) -> None:
    assert [format_time(t) for t in (2.8639, 0.2863915, 3.2e-5, 5e-8)] == ["2.86 s", "286.4 ms", "32.0 us", "50 ns"]
    assert [format_bytes(n) for n in (12, 1536, 5 << 20, 3 << 30)] == ["12 B", "1.5 KiB", "5.0 MiB", "3.0 GiB"]
    out = tmp_path / "l.pci"
    assert main(["convert", str(DATA / "lenet5_digits.h5"), "-o", str(out)]) == 0
    assert main(["info", str(out)]) == 0
    assert main(["bench", str(out), "--repeat", "2"]) == 0
    assert main(["demo", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "KiB" in text and not SIZE_UNITS.search(text), text
    for number, unit in re.findall(r"(\d+(?:\.\d+)?) (ns|us|ms)\b", text):
        assert float(number) < 1000, f"{number} {unit}"


def test_ctrl_c_in_the_cli_exits_130_promptly(tmp_path: Path) -> None:
    path = conv_stack(tmp_path / "deep.pci", layers=300, channels=64)  # short layers, seconds in all
    np.save(tmp_path / "x.npy", np.ones((8, 48, 48, 3), np.float32))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "pyconvinfer.cli", "run", path, str(tmp_path / "x.npy"),
                             "--threads", "1"], stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(1.5)  # imports, load, and well into the first slice
    assert proc.poll() is None, "finished before it could be interrupted"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=30)[1]
    elapsed = time.monotonic() - t0
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert elapsed < 0.5, f"took {elapsed:.2f} s"


@pytest.mark.parametrize("argv", [["run"], ["bench"], ["info"]])
def test_usage_errors_still_exit_2(argv) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


def test_big_dense_kernels_pack_panel_by_panel_to_the_same_layout(monkeypatch) -> None:
    from pyconvinfer import packing

    kernel = np.random.default_rng(0).standard_normal((70, 37)).astype(np.float32)  # 3 panels, the last ragged
    whole = packing.pack_dense(kernel)
    monkeypatch.setattr(packing, "BIG_DENSE_BYTES", 1024)
    np.testing.assert_array_equal(packing.pack_dense(kernel), whole)
    np.testing.assert_array_equal(whole, packing.pack_conv2d(kernel.reshape(1, 1, 70, 37)))


def test_an_interrupted_progress_line_is_ended(monkeypatch, capsys) -> None:
    import pyconvinfer.keras.convert as kconvert

    def convert(*a, progress=None, **k):
        progress(40 << 20, 100 << 20)
        raise KeyboardInterrupt

    monkeypatch.setattr(kconvert, "convert", convert)
    assert main(["convert", "x.h5"]) == 130
    err = capsys.readouterr().err
    assert err.endswith("MiB\npyconvinfer convert: interrupted\n"), repr(err)
