"""Two builds of pyconvinfer side by side on one model: whole-run and per-layer medians,
each build in its own processes, the builds alternating (ABBA...) so that a host that
drifts between minutes slows both alike. For a kernel change: build the change in a
second checkout (`git worktree add /tmp/new && cd /tmp/new && python setup.py build_ext
--inplace`), then

    python tools/bench_ab.py model.pci --a . --b /tmp/new --isa avx2 --threads 1 --rounds 10

--a / --b: directories that hold an importable (built) `pyconvinfer` package; each
child runs with that directory first on PYTHONPATH. Per round and build, one process
times every step of the plan in plan order (`Model.prepared(x).plan.run_one`, the
inputs copied in afresh each pass, as `pyconvinfer bench --per-layer` does) and then
whole runs (`plan.run`). The table lists the layers whose medians differ most, and
b / a as the median of the per-round ratios. These machines are shared: read the layer
you changed, and trust a whole-model ratio only when it exceeds the spread of the
layers you did not change.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path


def _child(path: str, isa: str | None, threads: int, batch: int, passes: int) -> dict:
    import numpy as np

    import pyconvinfer
    from pyconvinfer.bench import _step_times, median_time  # the timing `bench --per-layer` does

    model = pyconvinfer.load(path, num_threads=threads, isa=isa)
    shape = model.input_shape[1:]
    if any(d is None for d in shape):
        raise SystemExit(f"{path}: input of unknown size {shape}; give a model with a fixed input shape")
    x = np.random.default_rng(0).standard_normal((batch, *shape), dtype=np.float32)
    prep = model.prepared(x)
    steps = _step_times(model, prep, [x], passes)
    whole = median_time(lambda: prep.plan.run(model.num_threads, model.isa), passes)
    names = [model.graph.nodes[i].name for i in prep.step_nodes]
    return {"whole": whole, "isa": model.isa, "file": pyconvinfer.__file__, "layers": dict(zip(names, steps))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a .pci file with a fixed input shape (one input)")
    p.add_argument("--a", help="directory of build A (the baseline)")
    p.add_argument("--b", help="directory of build B (the change)")
    p.add_argument("--isa", default=None, help="kernel path to force (default: the best of this CPU)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--rounds", type=int, default=10, help="processes per build (alternating)")
    p.add_argument("--passes", type=int, default=40, help="timed passes per process")
    p.add_argument("--top", type=int, default=10, help="layers to list")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(_child(a.model, a.isa, a.threads, a.batch, a.passes)))
        return
    if not (a.a and a.b):
        p.error("--a and --b (two build directories) are required")
    builds = {"a": str(Path(a.a).resolve()), "b": str(Path(a.b).resolve())}
    runs: dict[str, list[dict]] = {"a": [], "b": []}
    child = [sys.executable, str(Path(__file__).resolve()), str(Path(a.model).resolve()), "--child",
             "--threads", str(a.threads), "--batch", str(a.batch), "--passes", str(a.passes)]
    if a.isa:
        child += ["--isa", a.isa]
    for r in range(a.rounds):
        order = ("a", "b") if r % 2 == 0 else ("b", "a")
        for key in order:
            env = dict(os.environ, PYTHONPATH=builds[key] + os.pathsep + os.environ.get("PYTHONPATH", ""))
            done = subprocess.run(child, env=env, capture_output=True, text=True, cwd="/")
            if done.returncode != 0:
                raise SystemExit(f"build {key} ({builds[key]}) failed:\n{done.stderr.strip()}")
            runs[key].append(json.loads(done.stdout))
    for key in builds:
        files = {run["file"] for run in runs[key]}
        if not all(f.startswith(builds[key]) for f in files):
            raise SystemExit(f"build {key}: imported {files}, not the package in {builds[key]} (is it built?)")
    isa = runs["a"][0]["isa"]
    ratio = statistics.median(b["whole"] / x["whole"] for x, b in zip(runs["a"], runs["b"]))
    wa, wb = (statistics.median(run["whole"] for run in runs[k]) for k in ("a", "b"))
    print(f"{a.model}: ISA {isa}, {a.threads} thread(s), batch {a.batch}, {a.rounds} rounds x {a.passes} passes")
    print(f"whole run: a {wa * 1e3:.3f} ms, b {wb * 1e3:.3f} ms, b / a {ratio:.3f} (median of per-round ratios)")
    rows = []
    for name in runs["a"][0]["layers"]:
        la = [run["layers"][name] for run in runs["a"]]
        lb = [run["layers"][name] for run in runs["b"]]
        ma, mb = statistics.median(la), statistics.median(lb)
        rows.append((abs(mb - ma), name, ma, mb, statistics.median(y / x for x, y in zip(la, lb))))
    print(f"{'layer':<44}{'a ms':>9}{'b ms':>9}{'b / a':>8}")
    for _, name, ma, mb, r in sorted(rows, reverse=True)[:a.top]:
        print(f"{name[:43]:<44}{ma * 1e3:>9.3f}{mb * 1e3:>9.3f}{r:>8.3f}")
    print(f"{'sum of layers':<44}{sum(x[2] for x in rows) * 1e3:>9.3f}{sum(x[3] for x in rows) * 1e3:>9.3f}")


if __name__ == "__main__":
    main()
