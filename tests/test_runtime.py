"""The runtime: predict's input conventions, shapes, thread safety, memory."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import pyconvinfer

DATA = Path(pyconvinfer.__file__).parent / "data"
FIXTURES = Path(__file__).parent / "fixtures" / "keras"


@pytest.fixture(scope="module")
def lenet(tmp_path_factory) -> pyconvinfer.Model:
    path = pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path_factory.mktemp("rt") / "lenet.pci")
    return pyconvinfer.load(path)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.load(DATA / "digits_test_x.npy"), np.load(DATA / "digits_test_y.npy"),
            np.load(DATA / "digits_test_keras_probs.npy"))


def test_lenet_matches_keras_and_recorded_accuracy(lenet, digits) -> None:
    x, y, keras_probs = digits
    probs = lenet.predict(x)
    assert np.max(np.abs(probs - keras_probs)) <= 1e-4
    meta = json.loads((DATA / "lenet5_digits.json").read_text())
    assert int((probs.argmax(1) == y).sum()) == meta["keras_correct"]


def test_single_sample_and_dtypes(lenet, digits) -> None:
    x = digits[0][:3]
    batch = lenet.predict(x)
    one = lenet.predict(x[1])
    assert one.shape == (10,)
    np.testing.assert_allclose(one, batch[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lenet.predict(x.astype(np.float64)), batch, rtol=0, atol=0)
    assert lenet.predict(x.tolist()).shape == (3, 10)


def test_warm_shape_takes_any_layout_and_dtype(lenet, digits) -> None:
    """After a float32 call has planned a shape, the fast path (input copied in C) must
    still accept other layouts and number dtypes of that shape, and refuse the rest."""
    x = np.ascontiguousarray(digits[0][:4], dtype=np.float32)
    first = lenet.predict(x)
    again = lenet.predict(x)  # the fast path
    np.testing.assert_array_equal(first, again)
    wide = np.zeros((4, 32, 64, 1), np.float32)
    wide[:, :, ::2] = x
    strided = wide[:, :, ::2]  # same shape, not contiguous
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(lenet.predict(strided), first)
    np.testing.assert_array_equal(lenet.predict(np.asfortranarray(x)), first)
    np.testing.assert_array_equal(lenet.predict(x.astype(np.float64)), first)
    ints = np.rint(x * 16).astype(np.int16)
    np.testing.assert_array_equal(lenet.predict(ints), lenet.predict(ints.astype(np.float32)))
    np.testing.assert_allclose(lenet.predict(x[0]), first[0], rtol=1e-5, atol=1e-6)  # batch 1: GEMV order
    with pytest.raises(TypeError, match="numbers"):
        lenet.predict(x.astype(np.complex64))
    with pytest.raises(TypeError, match="numbers"):
        lenet.predict(np.full(x.shape, "a"))


def test_wrong_shape_names_the_expected_one(lenet) -> None:
    with pytest.raises(ValueError, match=r"expected shape \(None, 32, 32, 1\)"):
        lenet.predict(np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match="expected shape"):
        lenet.predict(np.zeros((32, 32), np.float32))
    with pytest.raises(TypeError, match="numbers"):
        lenet.predict(np.array([["a"]]))


def test_description(lenet) -> None:
    assert lenet.input_shape == (None, 32, 32, 1)
    assert lenet.output_shape == (None, 10)
    lines: list[str] = []
    assert lenet.summary(print_fn=lines.append) is None
    text = "\n".join(lines)
    for name in ("conv1", "pool2", "fc1", "predictions", "Total params: 61,706"):
        assert name in text


def _entry(name: str, gen: str = "keras3") -> dict:
    return next(e for e in json.loads((FIXTURES / "manifest.json").read_text())
                if e["name"] == name and e["generation"] == gen)


def test_several_inputs_by_list_and_by_name(tmp_path: Path) -> None:
    e = _entry("merge_multi_input")
    d = FIXTURES / e["dir"]
    model = pyconvinfer.load(pyconvinfer.convert(d / e["formats"]["h5"], tmp_path / "m.pci"))
    xs = [np.load(d / f) for f in e["inputs"][0]]
    by_list = model.predict(xs)
    by_name = model.predict(dict(zip(model.input_names, xs)))
    for a, b in zip(by_list, by_name):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="inputs"):
        model.predict(xs[0])
    with pytest.raises(ValueError, match="missing"):
        model.predict({model.input_names[0]: xs[0]})


def test_unknown_height_width_takes_each_call_shape(tmp_path: Path) -> None:
    e = _entry("unknown_hw")
    d = FIXTURES / e["dir"]
    model = pyconvinfer.load(pyconvinfer.convert(d / e["formats"]["keras"], tmp_path / "u.pci"))
    assert model.input_shape[1:3] == (None, None)
    for ins, outs in zip(e["inputs"], e["outputs"]):
        got = model.predict(np.load(d / ins[0]))
        got = got[0] if isinstance(got, list) else got
        want = np.load(d / outs[0])
        assert np.max(np.abs(got - want)) <= 1e-4 * max(1.0, np.abs(want).max())


def test_concurrent_predicts_are_correct(lenet, digits) -> None:
    x = digits[0]
    want = lenet.predict(x[:50])
    errors = []

    def work(offset: int) -> None:
        for i in range(20):
            k = (offset + i) % 50
            got = lenet.predict(x[k])
            if not np.array_equal(got, want[k]) and np.max(np.abs(got - want[k])) > 1e-6:
                errors.append(k)

    threads = [threading.Thread(target=work, args=(t * 7,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_warm_predict_allocates_no_layer_buffers(lenet, digits) -> None:
    x = digits[0][:8]
    lenet.predict(x)
    tracemalloc.start()
    try:
        lenet.predict(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    activations = lenet.arena_bytes(8)
    # Only the returned (8, 10) array and Python bookkeeping: far below one layer's activations.
    assert peak < activations / 4, (peak, activations)


def test_thread_counts_give_identical_results(tmp_path: Path, digits) -> None:
    path = pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path / "l.pci")
    x = digits[0]
    outs = [pyconvinfer.load(path, num_threads=n).predict(x) for n in (1, 2, 3)]
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


def test_import_and_predict_do_not_import_h5py(tmp_path: Path) -> None:
    path = pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path / "l.pci")
    code = (
        "import sys, numpy as np, pyconvinfer\n"
        f"m = pyconvinfer.load({str(path)!r})\n"
        "m.predict(np.zeros((32, 32, 1), np.float32))\n"
        "assert 'h5py' not in sys.modules, 'h5py was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)  # not the source tree


def test_bad_num_threads() -> None:
    with pytest.raises(ValueError, match="num_threads"):
        pyconvinfer.load(DATA / "x.pci", num_threads=0)
    with pytest.raises(TypeError, match="num_threads"):
        pyconvinfer.load(DATA / "x.pci", num_threads=1.5)


def test_build_info() -> None:
    info = pyconvinfer.build_info()
    assert info["openmp"] == pyconvinfer.openmp_enabled()
    assert info["kernel_isa"] == info["cpu_isa"] and info["kernel_isa"] in info["available_isas"]
    assert "-O3" in info.get("compile_flags", ["-O3"])
    assert not any(f in ("-ffast-math", "-Ofast") for f in info.get("compile_flags", []))


def test_model_isa_names_the_path_that_runs(tmp_path: Path) -> None:
    """Default: the fastest path, as build_info reports it; a forced path runs as asked
    (same results within the kernel tolerance); a path the CPU lacks is an error."""
    path = pyconvinfer.convert(DATA / "lenet5_digits.h5", tmp_path / "lenet.pci")
    x = np.load(DATA / "digits_test_x.npy")[:3]
    default = pyconvinfer.load(path)
    assert default.isa == pyconvinfer.build_info()["kernel_isa"]
    ref = default.predict(x)
    available = pyconvinfer.build_info()["available_isas"]
    for isa in available:
        model = pyconvinfer.load(path, isa=isa)
        assert model.isa == isa
        np.testing.assert_allclose(model.predict(x), ref, rtol=1e-4, atol=1e-6)
    for isa in {"generic", "avx2", "avx512", "neon"} - set(available):
        with pytest.raises(ValueError, match=f"isa '{isa}' is not available"):
            pyconvinfer.load(path, isa=isa)


def test_plans_for_many_input_sizes_are_bounded(tmp_path: Path) -> None:
    from pyconvinfer.runtime import MAX_PLANS

    e = _entry("unknown_hw")
    d = FIXTURES / e["dir"]
    model = pyconvinfer.load(pyconvinfer.convert(d / e["formats"]["h5"], tmp_path / "u.pci"))
    c = model.input_shape[-1]
    for size in range(8, 8 + 2 * MAX_PLANS):
        model.predict(np.zeros((1, size, size, c), np.float32))
    assert len(model._prepared) <= MAX_PLANS


def test_input_too_small_for_open_height_width_says_it_does_not_fit(tmp_path) -> None:
    import json

    fixtures = Path(__file__).parent / "fixtures" / "keras"
    entry = next(e for e in json.loads((fixtures / "manifest.json").read_text())
                 if e["name"] == "unknown_hw" and e["generation"] == "keras3")
    model = pyconvinfer.load(pyconvinfer.convert(fixtures / entry["dir"] / entry["formats"]["keras"],
                                                 tmp_path / "u.pci"))
    with pytest.raises(ValueError, match=r"do not fit the model: node .*larger than the padded input"):
        model.predict(np.zeros((1, 1, 1, model.input_shape[-1]), np.float32))


def test_scratch_in_the_arena_overlaps_nothing_live(lenet) -> None:
    """Scratch (Winograd's V and M) is placed in the arena beside its node's inputs and
    output, and may reuse what dead tensors left, never a live one's bytes."""
    from pyconvinfer.ops import infer_shapes
    from pyconvinfer.runtime import _plan_arena

    g = lenet.graph
    shapes = infer_shapes(g, {i["name"]: tuple(i["shape"]) for i in g.inputs})
    scratch = {idx: 5000 + 64 * idx for idx in range(len(g.nodes))}
    offsets, total, at = _plan_arena(g, shapes, 3, scratch=scratch)
    assert set(at) == set(scratch)
    plain_total = _plan_arena(g, shapes, 3)[1]
    assert plain_total <= total
    for idx, node in enumerate(g.nodes):
        lo, hi = at[idx], at[idx] + scratch[idx]
        assert 0 <= lo and hi <= total and lo % 64 == 0
        for t in [*node.inputs, node.output]:
            if t in offsets:
                off, size = offsets[t]
                assert hi <= off or off + size <= lo, f"node {idx}: scratch overlaps {t!r}"
