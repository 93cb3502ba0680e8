"""The C kernel harness pipeline end to end, natively: tools/make_kernel_cases.py's
recorder and writer, tests/c/kernel_harness.c built with the system compiler, a pass
on good bounds and a failure on a case whose bounds exclude the result.
(tools/check_arm.sh runs the full case set natively and for aarch64 under qemu.)"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import activated_bounds, ref_conv2d, ref_dense, rng_for, uniform

from pyconvinfer import _kernels, kernels

ROOT = Path(__file__).resolve().parent.parent
CC = shutil.which("gcc") or shutil.which("cc")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if CC is None:
        pytest.skip("no C compiler")
    exe = tmp_path_factory.mktemp("harness") / "kernel_harness"
    srcs = [str(p) for p in sorted((ROOT / "src").glob("*.c")) if p.name != "_kernels.c"]
    cmd = [CC, "-O1", "-std=c11", "-fopenmp", "-Wall", "-Werror", "-Wno-unused-function", f"-I{ROOT / 'src'}",
           str(ROOT / "tests" / "c" / "kernel_harness.c"), *srcs, "-lm", "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True)
    return exe


def _generator():
    spec = importlib.util.spec_from_file_location("make_kernel_cases", ROOT / "tools" / "make_kernel_cases.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["make_kernel_cases"] = mod
    spec.loader.exec_module(mod)
    return mod


def _cases(tmp_path: Path, spoil: bool) -> Path:
    """Three recorded steps: a conv with a fused activation and a batched dense, both with
    their tests' bounds, and a max pool without (thread invariance only). `spoil` shifts the
    dense bounds off the true result (written directly: the recorder would refuse them)."""
    gen = _generator()
    rec = gen.Recorder()
    saved = kernels._kernels
    kernels._kernels = gen.recording_kernels(rec)
    try:
        rng = rng_for("harness-e2e")
        x, k, b = uniform(rng, (2, 7, 6, 5)), uniform(rng, (3, 3, 5, 20), 0.3), uniform(rng, (20,))
        got = kernels.conv2d(x, k, b, padding="same", activation="tanh")
        rec.bound(got, *activated_bounds(ref_conv2d(x, k, b, padding="same"), "tanh", reduction=45))
        xd, kd = uniform(rng, (3, 70)), uniform(rng, (70, 33), 0.2)
        got = kernels.dense(xd, kd)
        lo, hi = activated_bounds(ref_dense(xd, kd), None, reduction=70)
        if spoil:
            step = rec.pending[id(got)]
            rec.cases[rec.key(step)] = dict(step, lo=lo.ravel() + 1.0, hi=hi.ravel() + 1.0)
        else:
            rec.bound(got, lo, hi)
        kernels.max_pool2d(x, 2)
        rec.flush()
    finally:
        kernels._kernels = saved
    path = tmp_path / "cases.bin"
    gen.write(list(rec.cases.values()), path)
    return path


def test_harness_passes_good_cases(harness: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(harness), str(_cases(tmp_path, spoil=False)), "--default", _kernels.cpu_isa()],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "3 cases (2 against the tests' float64 bounds" in out.stdout and "0 failed" in out.stdout
    for isa in _kernels.available_isas():
        assert isa in out.stdout


def test_harness_fails_a_result_outside_its_bounds(harness: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(harness), str(_cases(tmp_path, spoil=True))], capture_output=True, text=True)
    assert out.returncode == 1
    assert "FAIL" in out.stderr and "[dense]" in out.stderr and "outside the tests' tolerance" in out.stderr


def test_harness_refuses_a_missing_path_and_a_bad_file(harness: Path, tmp_path: Path) -> None:
    cases = _cases(tmp_path, spoil=False)
    missing = next((i for i in _kernels.ISA_NAMES if i not in _kernels.available_isas()), None)
    if missing is not None:
        out = subprocess.run([str(harness), str(cases), "--require", missing], capture_output=True, text=True)
        assert out.returncode == 1 and "not available" in out.stderr
    cut = tmp_path / "cut.bin"
    cut.write_bytes(cases.read_bytes()[:-100])
    out = subprocess.run([str(harness), str(cut)], capture_output=True, text=True)
    assert out.returncode == 1 and "malformed case file" in out.stderr
