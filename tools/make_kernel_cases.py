"""Writes the kernel tests' cases as one binary file for tests/c/kernel_harness.c.

The C harness runs the kernels where Python cannot (aarch64 under qemu in
.ci/run): this script replays the pytest kernel tests (tests/test_kernels.py,
test_winograd.py, test_elementwise_ops.py, test_layout_ops.py) on the host with two hooks and writes what they did:
- every C step a test runs (the Plan.add calls of pyconvinfer.kernels): op,
  shape ints, input flags, inputs, packed weights, activation;
- every assertion on a step's result: the per-element [lo, hi] it accepts,
  computed with the tests' own tolerances (helpers.close_bounds /
  activated_bounds / elementwise_bounds, the Winograd bound of test_winograd.py, exact for
  bitwise / array_equal checks).
Steps that a test only runs at several thread counts (bitwise invariance)
are written without bounds. The assertions still run on the host, so a
failing host kernel stops the script. Duplicates (the same step on every
host ISA) are written once: the harness runs each case on every ISA of its
target at 1, 2 and 3 threads.

    python tools/make_kernel_cases.py OUT.bin [--quick-out QUICK.bin]

QUICK.bin leaves out the cases above QUICK_MAX_WORK multiply-adds per run
(about 50 of 3500, most of the arithmetic): the emulator runs it in about a
minute. Every op, shape class and activation stays, and so do cases large
enough to run on 2 and 3 threads.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import itertools
import math
import struct
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.append(str(ROOT))  # the in-place build when pyconvinfer is not installed

import helpers  # noqa: E402
import test_elementwise_ops as te  # noqa: E402
import test_kernels as tk  # noqa: E402
import test_layout_ops as tl  # noqa: E402
import test_winograd as tw  # noqa: E402

from pyconvinfer import _kernels, kernels  # noqa: E402

MAGIC = b"PCIKCAS2"
OP_NAMES = {v: k for k, v in _kernels.OP_IDS.items()}
# Cases above this many multiply-adds per run are left out of the quick set.
QUICK_MAX_WORK = 5e6


class Recorder:
    """Collects C steps and the bounds the tests' assertions put on their outputs."""

    def __init__(self) -> None:
        self.pending: dict[int, dict[str, Any]] = {}  # id(out) -> step (out kept alive in it)
        self.cases: dict[bytes, dict[str, Any]] = {}
        self.label = ""

    # -- hooks
    def add(self, op: int, inputs: list[np.ndarray], out: np.ndarray, *, weights=(), ints=(), in_flags=(), rows=0,
            count=0, algo=0, act_kind=0, act_params=(0.0, 0.0, 0.0), floats=(), scratch=None) -> None:
        """A copy of one step, as Plan.add receives it; `out` is the result array the
        tests' assertions see (a view of it: the base array is what they compare)."""
        base = out.base if out.base is not None else out
        self.pending[id(base)] = dict(
            op=OP_NAMES[op], ints=[int(i) for i in ints], in_flags=[int(f) for f in in_flags],
            floats=[float(f) for f in floats], inputs=[np.array(x, np.float32).ravel() for x in inputs],
            weights=[None if w is None else np.array(w, np.float32).ravel() for w in weights],
            kind=int(act_kind), params=tuple(float(p) for p in act_params), rows=int(rows), count=int(count),
            algo=int(algo), out=base, label=self.label)

    def bound(self, got: object, lo: np.ndarray, hi: np.ndarray) -> None:
        step = self.pending.get(id(got))
        if step is None:
            return
        lo = np.broadcast_to(np.asarray(lo, np.float64), step["out"].shape).ravel()
        hi = np.broadcast_to(np.asarray(hi, np.float64), step["out"].shape).ravel()
        y = step["out"].astype(np.float64).ravel()
        # The host result passed the assertion, so it must lie within the bounds written for it.
        ok = ((y >= lo) & (y <= hi)) | (np.isnan(lo) & np.isnan(y))
        if not ok.all():
            i = int(np.argmin(ok))
            raise AssertionError(f"{step['label']}: bounds disagree with the assertion at {i}: "
                                 f"{y[i]!r} not in [{lo[i]!r}, {hi[i]!r}]")
        key = self.key(step)
        if key not in self.cases or self.cases[key]["lo"] is None:
            self.cases[key] = dict(step, lo=lo, hi=hi)

    def flush(self) -> None:
        """Steps of the finished test without bounds: thread-invariance cases."""
        for step in self.pending.values():
            self.cases.setdefault(self.key(step), dict(step, lo=None, hi=None))
        self.pending.clear()

    @staticmethod
    def key(step: dict[str, Any]) -> bytes:
        h = hashlib.sha1(repr((step["op"], step["ints"], step["in_flags"], step["floats"], step["kind"],
                               step["params"], step["rows"], step["count"], step["algo"],
                               step["out"].shape)).encode())
        for a in (*step["inputs"], *step["weights"]):
            h.update(b"-" if a is None else a.tobytes())
        return h.digest()


class _RecordingPlan:
    """pyconvinfer's Plan, with every add() reported to the recorder first."""

    recorder: Recorder

    def __init__(self, regions, writable) -> None:
        self._plan = _kernels.Plan(regions, writable)

    def add(self, op, inputs, out, **kw) -> None:
        self.recorder.add(op, inputs, out, **kw)
        self._plan.add(op, inputs, out, **kw)

    def run(self, *args) -> None:
        self._plan.run(*args)


# Test modules whose assertions are hooked (each imported the helpers by name).
HOOKED = (tk, te, tl)


def install(rec: Recorder) -> None:
    _RecordingPlan.recorder = rec
    proxy = types.ModuleType("_kernels_recording")
    proxy.__dict__.update({k: getattr(_kernels, k) for k in dir(_kernels) if not k.startswith("__")})
    proxy.Plan = _RecordingPlan  # type: ignore[attr-defined]
    kernels._kernels = proxy  # kernels._run builds its Plan through this name

    def assert_close(got, ref, *, reduction, scale=0.0, atol=None, err_msg=""):
        helpers.assert_close(got, ref, reduction=reduction, scale=scale, atol=atol, err_msg=err_msg)
        rec.bound(got, *helpers.close_bounds(ref, reduction=reduction, scale=scale, atol=atol))

    def assert_close_activated(got, pre, spec, *, reduction, scale=0.0, err_msg=""):
        helpers.assert_close_activated(got, pre, spec, reduction=reduction, scale=scale, err_msg=err_msg)
        rec.bound(got, *helpers.activated_bounds(pre, spec, reduction=reduction, scale=scale))

    def assert_close_elementwise(got, ref, x, err_msg=""):
        helpers.assert_close_elementwise(got, ref, x, err_msg=err_msg)
        rec.bound(got, *helpers.elementwise_bounds(ref, x))

    real_array_equal, real_allclose = np.testing.assert_array_equal, np.testing.assert_allclose

    def exact(real: Callable[..., None]) -> Callable[..., None]:
        def check(a, b, *args, **kw):
            real(a, b, *args, **kw)
            if id(b) not in rec.pending:  # a result vs a reference, not two results (threads)
                ref = np.asarray(b, np.float64)
                rec.bound(a, ref, ref)
        return check

    def assert_allclose(actual, desired, rtol=1e-7, atol=0.0, *args, **kw):
        real_allclose(actual, desired, rtol, atol, *args, **kw)
        ref = np.asarray(desired, np.float64)
        tol = atol + rtol * np.abs(ref)
        finite = np.isfinite(ref)
        rec.bound(actual, np.where(finite, ref - tol, ref), np.where(finite, ref + tol, ref))

    hooks = dict(assert_close=assert_close, assert_close_activated=assert_close_activated,
                 assert_close_elementwise=assert_close_elementwise,
                 assert_bitwise_equal=exact(helpers.assert_bitwise_equal))
    for mod in HOOKED:
        for name, hook in hooks.items():
            if hasattr(mod, name):
                setattr(mod, name, hook)
    np.testing.assert_array_equal = exact(real_array_equal)
    np.testing.assert_allclose = assert_allclose


def parameter_sets(fn: Callable[..., None]) -> list[dict[str, Any]]:
    """Every argument combination of a test's @pytest.mark.parametrize marks; none for a
    test marked skip / full_grid or taking anything else (a fixture such as tmp_path)."""
    axes = []
    for mark in getattr(fn, "pytestmark", []):
        if mark.name in ("skip", "skipif", "full_grid"):
            return []
        if mark.name != "parametrize":
            continue
        names = [n.strip() for n in mark.args[0].split(",")] if isinstance(mark.args[0], str) else list(mark.args[0])
        values = [getattr(v, "values", v) for v in mark.args[1]]
        axes.append([dict(zip(names, v if len(names) > 1 else (v,))) for v in values])
    sets = [{k: v for d in combo for k, v in d.items()} for combo in itertools.product(*axes)]
    params = set(inspect.signature(fn).parameters)
    return sets if all(set(d) == params for d in sets) else []


def winograd_cases(rec: Recorder) -> None:
    """test_winograd.py checks its bound inline: take its reference by wrapping ref_conv2d."""
    refs: list[np.ndarray] = []
    real_ref = tw.ref_conv2d

    def ref_conv2d(*args, **kw):
        refs.append(real_ref(*args, **kw))
        return refs[-1]

    tw.ref_conv2d = ref_conv2d
    try:
        for m in (2, 4):
            for case in tw.CASES:
                rec.label = f"winograd{m} {case}"
                refs.clear()
                tw.test_winograd_against_float64(m, case, tw.ISAS[0])
                c = case[3]
                tol = tw.WINOGRAD_TOL[m] * math.sqrt(c) * np.max(np.abs(refs[-1]))
                for out_id in list(rec.pending):
                    rec.bound(rec.pending[out_id]["out"], refs[-1] - tol, refs[-1] + tol)
                rec.flush()
            rec.label = f"winograd{m} relu6 threads"
            refs.clear()
            tw.test_winograd_fused_activation_and_thread_invariance(m)
            ref = helpers.ref_activation(refs[-1], "relu6")
            tol = tw.WINOGRAD_TOL[m] * math.sqrt(32) * max(1.0, float(np.max(np.abs(ref))))
            for out_id in list(rec.pending):
                rec.bound(rec.pending[out_id]["out"], ref - tol, ref + tol)
            rec.flush()
    finally:
        tw.ref_conv2d = real_ref


def replay(rec: Recorder) -> None:
    def each(label: str, fn: Callable[..., None], *args: Any) -> None:
        rec.label = label
        try:
            fn(*args)
        except pytest.skip.Exception:  # the test skips this parametrization: nothing to write
            rec.pending.clear()
        rec.flush()

    isa = tk.ISAS[0]
    for case in tk.CONV_SAMPLE + tk.CONV_SPECIAL + tk.THIN_CASES:
        each(f"conv2d {case}", tk.check_conv2d, case)
    for dm in (1, 2, 3):
        for padding in ("valid", "same"):
            each(f"depthwise dm={dm} {padding}", tk.test_depthwise_conv2d_keras_layout, dm, padding)
    for case in tk.TCONV_CASES + tk.TCONV_SPECIAL:
        each(f"conv2d_transpose {case}", tk.check_conv2d_transpose, case)
    for case in tk.POOL_CASES:
        each(f"pool {case}", tk.check_pool, case)
    for kind in ("avg", "max"):
        for shape in [(1, 1, 1, 1), (3, 5, 4, 17), (2, 7, 7, 64)]:
            each(f"global {kind} {shape}", tk.test_global_pool, kind, shape)
    for case in tk.DENSE_SAMPLE:
        each(f"dense {case}", tk.check_dense, case)
    for lead in [(1,), (9,)]:
        each(f"dense large k {lead}", tk.test_dense_large_k, lead)
    for name in tk.ELEMENTWISE_SPECS:
        for shape in [(6000,), (3, 2000), (2, 3, 5, 200)]:
            each(f"activation {name} {shape}", tk.test_activation_elementwise, name, shape)
    for shape in [(1, 1), (4, 5), (3, 1000), (2, 3, 7), (17,)]:
        each(f"softmax {shape}", tk.test_softmax_matches_reference, shape)
    for padding in [((1, 1), (1, 1)), ((0, 2), (3, 0)), ((2, 0), (0, 0)), 2]:
        each(f"zero_pad2d {padding}", tk.test_zero_pad2d, padding)
    for size in [1, 2, (2, 3), (3, 1)]:
        each(f"upsample {size}", tk.test_upsample_nearest2d, size)
    for count in [1, 2, 3, 5]:
        for act in ["linear", "relu", "sigmoid"]:
            each(f"add {count} {act}", tk.test_add, count, act)
    for widths in [[1], [3, 16], [17, 1, 64], [5] * 9]:
        for lead in [(4,), (2, 3, 5)]:
            each(f"concat {widths} {lead}", tk.test_concat, widths, lead)
    for act in ["linear", "relu6", "softmax", "elu0.7"]:
        for shape in [(7,), (3, 17), (2, 4, 5, 64)]:
            each(f"scale_shift {act} {shape}", tk.test_scale_shift, act, shape)
    each("threads conv2d", tk.test_threads_conv2d, isa)
    each("threads depthwise", tk.test_threads_depthwise)
    for batch in (1, 8):
        each(f"threads dense {batch}", tk.test_threads_dense, isa, batch)
    each("threads conv2d_transpose", tk.test_threads_conv2d_transpose, isa)
    each("threads pool and element-wise", tk.test_threads_pool_and_elementwise)
    winograd_cases(rec)
    for mod in (te, tl):  # every test of these modules, with every parametrization
        for name, fn in vars(mod).items():
            if name.startswith("test_") and callable(fn):
                for kw in parameter_sets(fn):
                    each(f"{mod.__name__}::{name} {kw}", lambda f=fn, k=kw: f(**k))


def work(case: dict[str, Any]) -> float:
    """Rough multiply-adds of one run (for the quick set)."""
    out = case["out"].size
    ints = case["ints"]
    if case["op"] == "conv2d":
        return out * ints[7] * ints[8] * ints[3] / ints[15]
    if case["op"] == "conv2d_transpose":
        return out * ints[3] * math.ceil(ints[7] / ints[9]) * math.ceil(ints[8] / ints[10])
    if case["op"] == "dense":
        return out * ints[1]
    return float(sum(a.size for a in case["inputs"]))


def write(cases: list[dict[str, Any]], path: Path) -> None:
    def arr(a: np.ndarray | None) -> bytes:
        if a is None:
            return struct.pack("<q", -1)
        return struct.pack("<q", a.size) + np.ascontiguousarray(a, "<f4").tobytes()

    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(cases)))
        for c in cases:
            label = c["label"].encode()[:200]
            op = c["op"].encode()
            f.write(struct.pack("<I", len(label)) + label + struct.pack("<I", len(op)) + op)
            for ints in (c["ints"], c["in_flags"]):
                f.write(struct.pack("<I", len(ints)) + struct.pack(f"<{len(ints)}i", *ints))
            f.write(struct.pack("<I", len(c["floats"])) + struct.pack(f"<{len(c['floats'])}f", *c["floats"]))
            f.write(struct.pack("<i3f", c["kind"], *c["params"]))
            f.write(struct.pack("<iqq", c["algo"], c["rows"], c["count"]))
            f.write(struct.pack("<I", len(c["inputs"])))
            for a in c["inputs"]:
                f.write(arr(a))
            f.write(struct.pack("<I", len(c["weights"])))
            for a in c["weights"]:
                f.write(arr(a))
            f.write(struct.pack("<qi", c["out"].size, c["lo"] is not None))
            if c["lo"] is not None:
                f.write(np.ascontiguousarray(c["lo"], "<f8").tobytes() + np.ascontiguousarray(c["hi"], "<f8").tobytes())


def summary(cases: list[dict[str, Any]], path: Path) -> str:
    by_op: dict[str, int] = {}
    for c in cases:
        by_op[c["op"]] = by_op.get(c["op"], 0) + 1
    bounded = sum(c["lo"] is not None for c in cases)
    return (f"{len(cases)} cases ({bounded} with bounds, {len(cases) - bounded} thread-invariance only) -> {path} "
            f"({path.stat().st_size / 1e6:.0f} MB): " + ", ".join(f"{k} {v}" for k, v in sorted(by_op.items())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--quick-out", type=Path, help=f"also write the cases of at most {QUICK_MAX_WORK:.0e} MACs here")
    args = ap.parse_args()
    rec = Recorder()
    install(rec)
    with np.errstate(all="ignore"):
        replay(rec)
    cases = list(rec.cases.values())
    write(cases, args.out)
    print("make_kernel_cases:", summary(cases, args.out))
    if args.quick_out:
        quick = [c for c in cases if work(c) <= QUICK_MAX_WORK]
        write(quick, args.quick_out)
        print("make_kernel_cases:", summary(quick, args.quick_out))


if __name__ == "__main__":
    main()
