"""Writes the kernel tests' cases as one binary file for tests/c/kernel_harness.c.

The C harness runs the kernels where Python cannot (aarch64 under qemu in
.ci/run): this script replays the pytest kernel tests (tests/test_kernels.py,
test_winograd.py, and all of WHOLE_MODULES that exist) on the host with two hooks and writes what they did:
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

import importlib  # noqa: E402

import helpers  # noqa: E402
import test_kernels as tk  # noqa: E402
import test_winograd as tw  # noqa: E402

from pyconvinfer import _kernels, kernels  # noqa: E402

MAGIC = b"PCIKCAS2"
OP_NAMES = {v: k for k, v in _kernels.OP_IDS.items()}
# The C ops tests/c/kernel_harness.c maps to the C API; steps of other ops are counted, not written.
HARNESS_OPS = {"conv2d", "conv2d_transpose", "pool2d", "global_pool", "dense", "activation", "scale_shift", "pad2d",
               "resize2d", "binary", "concat", "glu", "layer_norm", "transpose", "slice"}
# Kernel test modules replayed whole (every parametrization of every test but the full
# grids), when present; test_kernels.py always, test_winograd.py by winograd_cases().
WHOLE_MODULES = ("test_elementwise_ops", "test_layout_ops", "test_activations", "test_depthwise", "test_isa_paths",
                 "test_int8_compute")
# Cases above this many multiply-adds per run are left out of the quick set.
QUICK_MAX_WORK = 5e6


class Recorder:
    """Collects C steps and the bounds the tests' assertions put on their outputs."""

    def __init__(self) -> None:
        self.pending: dict[int, dict[str, Any]] = {}  # id(out) -> step (out kept alive in it)
        self.cases: dict[bytes, dict[str, Any]] = {}
        self.label = ""
        self.other_ops: dict[str, int] = {}

    # -- hooks
    def add(self, op: int, inputs: list[np.ndarray], out: np.ndarray, *, weights=(), ints=(), in_flags=(), rows=0,
            count=0, algo=0, act_kind=0, act_params=(0.0, 0.0, 0.0), floats=(), scratch=None,
            weight_dtypes=None) -> None:
        """A copy of one step, as Plan.add receives it; `out` is the result array the
        tests' assertions see (a view of it: the base array is what they compare).
        The harness reads float32 weights, and the int8 kernel of a conv2d or dense step computing
        in int8 (conv2d's 18th int, dense's 4th; its values are exact as floats): other
        reduced-precision steps are no case, nor Winograd steps that compute U at run time
        (conv2d's 17th int)."""
        int8 = ((OP_NAMES[op] == "conv2d" and len(ints) > 17 and ints[17])
                or (OP_NAMES[op] == "dense" and len(ints) > 3 and ints[3]))  # int8 compute: the kernel as exact floats
        if (any(weight_dtypes or ()) and not int8) or (OP_NAMES[op] == "conv2d" and len(ints) > 16 and ints[16]):
            return
        if OP_NAMES[op] not in HARNESS_OPS:
            self.other_ops[OP_NAMES[op]] = self.other_ops.get(OP_NAMES[op], 0) + 1
            return
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


def recording_kernels(rec: Recorder) -> types.ModuleType:
    """pyconvinfer._kernels with a Plan whose add() reports every step to `rec` first;
    set it as pyconvinfer.kernels._kernels (kernels._run builds its Plan through it)."""

    class RecordingPlan:
        def __init__(self, regions, writable) -> None:
            self._plan = _kernels.Plan(regions, writable)

        def add(self, op, inputs, out, **kw) -> None:
            self._plan.add(op, inputs, out, **kw)  # a step the C validator refuses is not a case
            rec.add(op, inputs, out, **kw)

        def run(self, *args, **kw) -> None:
            self._plan.run(*args, **kw)

    proxy = types.ModuleType("_kernels_recording")
    proxy.__dict__.update({k: getattr(_kernels, k) for k in dir(_kernels) if not k.startswith("__")})
    proxy.Plan = RecordingPlan  # type: ignore[attr-defined]
    return proxy


# Modules whose numpy assert_allclose / assert_array_equal calls compare a result with an
# independent (float64 or exact) reference; elsewhere (test_activations.py compares fused
# with unfused results of the host's own path) those calls give no bounds.
REFERENCE_MODULES = {"test_kernels", "test_layout_ops", "test_elementwise_ops", "test_isa_paths", "test_int8_compute"}
WHOLE = [importlib.import_module(m) for m in WHOLE_MODULES if (ROOT / "tests" / f"{m}.py").exists()]
# Test modules whose assertions are hooked (each imported the helpers by name).
HOOKED = (tk, *WHOLE)


def install(rec: Recorder) -> None:
    kernels._kernels = recording_kernels(rec)

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

    def independent_reference(b: object) -> bool:
        """A numpy assertion's second argument is taken as a reference only in modules whose
        numpy checks compare against independent float64 references (REFERENCE_MODULES),
        and never when it is another result (thread-count comparisons)."""
        caller = sys._getframe(2).f_globals.get("__name__", "")
        return caller in REFERENCE_MODULES and id(b) not in rec.pending

    def exact(real: Callable[..., None], numpy_check: bool) -> Callable[..., None]:
        def check(a, b, *args, **kw):
            real(a, b, *args, **kw)
            if (independent_reference(b) if numpy_check else id(b) not in rec.pending):
                ref = np.asarray(b, np.float64)
                rec.bound(a, ref, ref)
        return check

    def assert_allclose(actual, desired, rtol=1e-7, atol=0.0, *args, **kw):
        real_allclose(actual, desired, rtol, atol, *args, **kw)
        if not independent_reference(desired):
            return
        ref = np.asarray(desired, np.float64)
        tol = atol + rtol * np.abs(ref)
        finite = np.isfinite(ref)
        rec.bound(actual, np.where(finite, ref - tol, ref), np.where(finite, ref + tol, ref))

    def assert_within(got, ref, tol, err_msg=""):
        helpers.assert_within(got, ref, tol, err_msg=err_msg)
        rec.bound(got, np.asarray(ref, np.float64) - tol, np.asarray(ref, np.float64) + tol)

    hooks = dict(assert_close=assert_close, assert_close_activated=assert_close_activated, assert_within=assert_within,
                 assert_close_elementwise=assert_close_elementwise,
                 assert_bitwise_equal=exact(helpers.assert_bitwise_equal, False))
    for mod in HOOKED:
        for name, hook in hooks.items():
            if hasattr(mod, name):
                setattr(mod, name, hook)
    np.testing.assert_array_equal = exact(real_array_equal, True)
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

    winograd_cases(rec)  # its bound is checked inline: replayed with its reference hooked
    for mod in (tk, *WHOLE):  # every test of these modules, with every parametrization
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
    if rec.other_ops:
        print("make_kernel_cases: steps of ops the harness does not run, not written:",
              ", ".join(f"{k} {v}" for k, v in sorted(rec.other_ops.items())))
    if args.quick_out:
        quick = [c for c in cases if work(c) <= QUICK_MAX_WORK]
        write(quick, args.quick_out)
        print("make_kernel_cases:", summary(quick, args.quick_out))


if __name__ == "__main__":
    main()
