"""`pyconvinfer bench`: latency of a converted model, and per layer (time,
MACs, GFLOP/s, algorithm). A quick look, not a peer comparison: that is
tools/bench_peers.py, which runs every runtime in its own process."""

from __future__ import annotations

import time

import numpy as np

from .runtime import load
from .units import format_time


def median_time(fn, repeat: int, warmup: int = 3) -> float:
    """Median wall time of fn() over `repeat` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _inputs(model, batch: int, input_shape: tuple | None = None) -> list[np.ndarray]:
    """Random inputs; input_shape (one-input models) sets the unknown sizes."""
    rng = np.random.default_rng(0)
    arrays = []
    for name, s in zip(model.input_names, model.input_shapes):
        dims = list(s[1:])
        if input_shape is not None:
            if len(model.input_names) > 1:
                raise ValueError("--input-shape is for one-input models")
            if len(input_shape) != len(dims) or any(d is not None and d != g for d, g in zip(dims, input_shape)):
                raise ValueError(f"--input-shape {input_shape} does not fit the model's input {s}")
            dims = list(input_shape)
        if any(d is None for d in dims):
            raise ValueError(f"input {name!r} has unknown sizes {s}: give --input-shape "
                             f"{','.join(str(d) if d is not None else 'HW'[min(i, 1)] for i, d in enumerate(dims))}")
        arrays.append(rng.standard_normal([batch] + dims, dtype=np.float32))
    return arrays


def _step_times(model, prep, xs: list[np.ndarray], repeat: int, warmup: int = 1) -> list[float]:
    """Median time of each step of the plan, timed as whole passes in plan order from the
    inputs copied in afresh: the arena reuses a finished tensor's memory, so a step timed
    alone after a full run would read what later layers left there (a uint8 tensor read
    as float32 is denormals: VGG16 int8's first layer timed 24 ms instead of 3.4 ms that way on
    an Intel Xeon, avx2 path)."""
    times: list[list[float]] = [[] for _ in prep.step_nodes]
    for r in range(warmup + repeat):
        for dst, a in zip(prep.inputs, xs):
            np.copyto(dst, a, casting="unsafe")
        for step in range(len(prep.step_nodes)):
            t0 = time.perf_counter()
            prep.plan.run_one(step, model.num_threads, model.isa)
            if r >= warmup:
                times[step].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def bench_model(path: str, batch: int = 1, threads: int | None = None, repeat: int = 20,
                per_layer: bool = False, input_shape: tuple | None = None, isa: str | None = None,
                int8_compute: bool | None = None) -> str:
    if batch < 1 or repeat < 1:
        raise ValueError("--batch and --repeat must be >= 1")
    model = load(path, num_threads=threads, isa=isa, int8_compute=int8_compute)
    xs = _inputs(model, batch, input_shape)
    x = xs if len(xs) > 1 else xs[0]
    # The batch as asked, in one run. Plain predict(x) where it would not slice the batch anyway: that
    # call takes predict's fast path, as a user's does (batch_size= takes the general one: LeNet-5
    # batch 1 timed 28 us that way against 14 us, Intel Xeon, avx512 path).
    one_run = model._auto_slice(tuple(a.shape[1:] for a in xs)) >= batch
    total = median_time((lambda: model.predict(x)) if one_run else (lambda: model.predict(x, batch_size=batch)),
                        repeat)
    shape = "x".join(str(d) for d in xs[0].shape[1:])
    lines = [f"{path}: input {shape}, batch {batch}, {model.num_threads} thread(s), ISA {model.isa}: "
             f"median {format_time(total)} over {repeat} runs ({format_time(total / batch)} per sample)"]
    if per_layer:
        prep = model.prepared(x)
        shapes = {n: tuple(v.shape[1:]) for n, v in zip(model.input_names, prep.inputs)}
        table = model.layer_table(shapes)
        lines.append(f"{'layer':<36}{'op':<18}{'algorithm':<28}{'ms':>9}{'MMAC':>10}{'GFLOP/s':>9}")
        times = _step_times(model, prep, xs, max(3, repeat // 2))
        summed = 0.0
        for step, node_index in enumerate(prep.step_nodes):
            node = model.graph.nodes[node_index]
            t = times[step]
            summed += t
            macs = (table[node_index]["macs"] or 0) * batch
            gflops = 2 * macs / t / 1e9 if macs else 0.0
            algo = prep.plan.algorithm(step, model.isa)  # the C dispatch's own decision
            lines.append(f"{node.name[:35]:<36}{node.op:<18}{algo[:27]:<28}{t * 1e3:>9.3f}"
                         f"{macs / 1e6:>10.1f}{gflops:>9.1f}")
        lines.append(f"sum of layers: {format_time(summed)}")
    return "\n".join(lines)
