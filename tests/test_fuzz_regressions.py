"""What the fuzzers (tools/fuzz) found, each kept as a test: a hostile file gets a
pyconvinfer error that names the problem, never a bare Python exception, a
crash or a hang. .pci cases edit a real converted file's header (re-signed, so
they reach past the checksums); Keras cases build the file with h5py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
from test_format import _rewrite_header

import pyconvinfer
from pyconvinfer.errors import ConversionError, ModelFileError

LENET = Path(pyconvinfer.__file__).parent / "data" / "lenet5_digits.h5"
FIXTURES = Path(__file__).parent / "fixtures" / "keras"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return Path(pyconvinfer.convert(LENET, tmp_path_factory.mktemp("fuzzreg") / "lenet.pci"))


def _node(h: dict, op: str, k: int = 0) -> dict:
    return [n for n in h["nodes"] if n["op"] == op][k]


def _refused(path: Path, match: str) -> None:
    with pytest.raises(ModelFileError, match=match):
        with pyconvinfer.load(path) as model:
            model.predict(np.zeros((1, 32, 32, 1), np.float32))


PCI_CASES = {
    # KeyError 'name' from activations.normalize at the first predict
    "activation without a name": (lambda h: _node(h, "conv2d")["attrs"].update(activation={"alpha": 1}),
                                  "activation .* is not valid"),
    "activation of another type": (lambda h: _node(h, "conv2d")["attrs"].update(activation=7),
                                   "activation .* is not valid"),
    "unknown activation": (lambda h: _node(h, "dense")["attrs"].update(activation="relu7"),
                           "unknown activation 'relu7'"),
    "unknown op": (lambda h: _node(h, "dense").update(op="dense9"), "unknown op 'dense9'"),
    # OverflowError from int(float("inf")) in the tensor table (JSON 1e400 parses as inf)
    "infinite tensor dim": (lambda h: h["tensors"][0].update(shape=[float("inf")]), "tensor entry 0 is malformed"),
    "infinite tensor nbytes": (lambda h: h["tensors"][0].update(nbytes=float("inf")), "tensor entry 0 is malformed"),
    "float tensor offset": (lambda h: h["tensors"][1].update(offset=64.0), "tensor entry 1 is malformed"),
    # TypeError from dict(7) and from int([...]) at load
    "metadata not an object": (lambda h: h.update(metadata=7), "graph header is malformed"),
    "attrs not an object": (lambda h: h["nodes"][0].update(attrs=[["a", 1]]), "graph header is malformed"),
    "input shape of lists": (lambda h: h["inputs"][0].update(shape=[[32], 32, 1]), "input shape .* is not a list"),
    "input shape negative": (lambda h: h["inputs"][0].update(shape=[-32, 32, 1]), "input shape .* is not a list"),
    # the harness could not even build an input of 40 dimensions; one of size 0 was refused only at predict
    "input of 40 dimensions": (lambda h: h["inputs"][0].update(shape=[1] * 40), "input shape .* at most 8"),
    "input dimension 0": (lambda h: h["inputs"][0].update(shape=[32, 0, 1]), "input shape .* positive"),
    # ValueError from int(nan) of the summary's parameter count
    "params not a number": (lambda h: _node(h, "conv2d")["attrs"].update(params=float("nan")), "params nan is not"),
    "no outputs": (lambda h: h.update(outputs=[]), "1 inputs and 0 outputs"),
    # TypeError unpacking kernel_size in the conv's describe (summary, and predict's work estimate)
    "kernel size of one int": (lambda h: _node(h, "conv2d")["attrs"].update(kernel_size=5), "attributes are not valid"),
}


@pytest.mark.parametrize("case", sorted(PCI_CASES))
def test_fuzzed_pci_file_is_refused(case: str, model_file: Path, tmp_path: Path) -> None:
    edit, match = PCI_CASES[case]
    _refused(_rewrite_header(model_file, tmp_path / "f.pci", edit), match)


def _edited_config(fixture: str, tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    """A real full-model .h5 fixture with its model_config attribute edited."""
    path = tmp_path / "model.h5"
    shutil.copy(FIXTURES / fixture / "model.h5", path)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        edit(cfg)
        f.attrs["model_config"] = json.dumps(cfg)
    return path


def _layer(cfg: dict, cls: str, k: int = 0) -> dict:
    return [la for la in cfg["config"]["layers"] if la["class_name"] == cls][k]


KERAS_CASES = {
    # ValueError from np.asarray(["same"], float64) in the Normalization handler
    "normalization mean of text": ("keras3/normalization",
                                   lambda c: _layer(c, "Normalization", 2)["config"].update(mean=["same"] * 3),
                                   r"layer '.*' \(Normalization\): unexpected config content"),
    # ValueError from int("x") in the Keras 3 keras_history triple
    "keras_history of text": ("keras3/two_outputs",
                              lambda c: c["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"].update(
                                  keras_history=["input_layer", "h", 0]), "unexpected content in the Keras file"),
    # ValueError from int("nearest_mixed") in output_layers
    # a model of no layers at all converted (0 inputs, 0 outputs), then predict([]) had nothing to run
    "no inputs and no outputs": ("keras3/pooling",
                                 lambda c: c["config"].update(layers=[], input_layers=[], output_layers=[]),
                                 "the model has 0 inputs and 0 outputs"),
    # ZeroDivisionError from c % int(0.5) in the Conv2D handler
    "conv groups of one half": ("keras2/conv2d_basic", lambda c: _layer(c, "Conv2D")["config"].update(groups=0.5),
                                r"layer 'conv2d' \(Conv2D\): unexpected config content \(ZeroDivisionError"),
    # OverflowError from formatting a 10^308-fold upsampled activation arena's size as a float
    "upsampling by 1e308": ("keras2/upsampling_bilinear",
                            lambda c: _layer(c, "UpSampling2D")["config"].update(size=[2, 1e308]),
                            r"needs over 10\^12 GiB of activations"),
    "output_layers of text": ("keras2/two_outputs",
                              lambda c: c["config"].update(output_layers=[["cls", "nearest_mixed", 0]]),
                              "unexpected content in the Keras file"),
}


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_fuzzed_keras_file_is_refused(case: str, tmp_path: Path) -> None:
    fixture, edit, match = KERAS_CASES[case]
    src = _edited_config(fixture, tmp_path, edit)
    with pytest.raises(ConversionError, match=match):
        pyconvinfer.convert(src, tmp_path / "out.pci")
    assert not (tmp_path / "out.pci").exists()


def test_unwritten_huge_weight_is_refused_before_reading(tmp_path: Path) -> None:
    """A weight dataset declared with 2^40 elements and never written (HDF5 would
    fill it on read): refused from its stored size, nothing allocated. The fuzzer
    found this as an out-of-memory in a .keras file's model.weights.h5."""
    path = tmp_path / "model.h5"
    shutil.copy(FIXTURES / "keras2" / "conv2d_basic" / "model.h5", path)
    with h5py.File(path, "r+") as f:
        group = f["model_weights/conv2d/conv2d"]
        del group["bias:0"]
        group.create_dataset("bias:0", shape=(2 ** 40,), dtype="<f4", chunks=(1024,))
    with pytest.raises(ConversionError, match=r"needs 4398046511104 bytes but the file stores 0"):
        pyconvinfer.convert(path, tmp_path / "out.pci")


def test_layer_name_with_nul_is_refused(tmp_path: Path) -> None:
    """A layer name starting with a NUL byte (HDF5 sees '') made h5py raise RuntimeError on the lookup."""
    path = tmp_path / "model.h5"
    shutil.copy(FIXTURES / "keras2" / "conv2d_basic" / "model.h5", path)
    with h5py.File(path, "r+") as f:
        g = f["model_weights"]
        g.attrs["layer_names"] = np.array([*g.attrs["layer_names"], b"\x00conv"], dtype="S")
    with pytest.raises(ConversionError, match=r"layer '\\x00conv' is listed in the file but has no weight group"):
        pyconvinfer.convert(path, tmp_path / "out.pci")


def test_weight_of_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    shutil.copy(FIXTURES / "keras2" / "conv2d_basic" / "model.h5", path)
    with h5py.File(path, "r+") as f:
        group = f["model_weights/conv2d/conv2d"]
        n = group["bias:0"].shape
        del group["bias:0"]
        group.create_dataset("bias:0", data=np.full(n, b"ab"))
    with pytest.raises(ConversionError, match=r"weight 'conv2d/bias:0' has dtype \|S2, expected floating-point"):
        pyconvinfer.convert(path, tmp_path / "out.pci")


@pytest.mark.parametrize("harness", ["pci", "keras"])
def test_seed_corpus_runs_clean_through_the_harness(harness: str) -> None:
    """The harnesses themselves (without atheris): every committed seed is read,
    converted where it is Keras, loaded and predicted, with no finding; and most
    seeds get all the way (a harness that refuses everything would test nothing)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "tools" / "fuzz"))
    try:
        target = __import__(f"{harness}_target")
    finally:
        sys.path.pop(0)
    seeds = sorted((Path(__file__).parents[1] / "tools" / "fuzz" / "corpus" / harness).iterdir())
    assert len(seeds) >= 20
    loaded = 0
    real_load = target.load

    def counting_load(*args, **kwargs):
        nonlocal loaded
        model = real_load(*args, **kwargs)
        loaded += 1  # only a file that loads counts
        return model

    target.load = counting_load
    try:
        for seed in seeds[::3] if harness == "keras" else seeds:
            target.TestOneInput(seed.read_bytes())
    finally:
        target.load = real_load
    assert loaded >= 0.9 * len(seeds[::3] if harness == "keras" else seeds)


def test_transpose_output_padding_of_one_value_is_refused(tmp_path: Path) -> None:
    """IndexError from output_padding [1] (two expected) in the shape rule at load."""
    src = pyconvinfer.convert(FIXTURES / "keras3" / "conv2d_transpose_basic" / "model.h5", tmp_path / "t.pci")

    def edit(h: dict) -> None:
        _node(h, "conv2d_transpose")["attrs"]["output_padding"] = [1]
    with pytest.raises(ModelFileError, match="conv2d_transpose.*malformed attributes.*IndexError"):
        pyconvinfer.load(_rewrite_header(Path(src), tmp_path / "f.pci", edit))


def test_transpose_output_padding_of_a_float_is_refused(tmp_path: Path) -> None:
    """TypeError from np.zeros(float) at predict: output_padding 1.0 made an output width of 7.0."""
    src = pyconvinfer.convert(FIXTURES / "keras3" / "conv2d_transpose_basic" / "model.h5", tmp_path / "t.pci")

    def edit(h: dict) -> None:
        _node(h, "conv2d_transpose")["attrs"]["output_padding"] = [1.0, 1.0]
    with pytest.raises(ModelFileError, match=r"conv2d_transpose.*malformed attributes \(output shape"):
        pyconvinfer.load(_rewrite_header(Path(src), tmp_path / "f.pci", edit))


def test_sizes_do_not_overflow_int64() -> None:
    """OverflowError from np.prod(..., int64) in MAC counts and the activation arena plan:
    a forged shape must reach the size checks as the number it is."""
    from pyconvinfer.ops.base import prod

    assert prod([2 ** 40, 2 ** 40, 3]) == 3 * 2 ** 80
    with pytest.raises(TypeError):
        prod([None, 4])  # an open dimension stays "size unknown"


def test_huge_declared_input_is_refused_before_test_vectors(tmp_path: Path) -> None:
    """MemoryError: test vectors of 12 TiB were allocated for a config claiming a 2^32-row input."""
    src = _edited_config("keras3/pooling", tmp_path, lambda c: _layer(c, "InputLayer")["config"].update(
        batch_shape=[None, 2 ** 32 + 1, 64, 3]))
    with pytest.raises(ConversionError, match="too large for test vectors"):
        pyconvinfer.convert(src, tmp_path / "out.pci")


@pytest.mark.parametrize("dim", [float("inf"), 8.0, -3, 0, True, "8"])
def test_input_dimension_that_is_not_a_positive_integer_is_refused(dim, tmp_path: Path) -> None:
    """OverflowError: a config's batch_input_shape [null, 6, 8, Infinity] reached the test vectors'
    int(); the fuzzer found it in a Keras 2 .h5. Every input dimension is checked where it is read."""
    src = _edited_config("keras3/pooling", tmp_path, lambda c: _layer(c, "InputLayer")["config"].update(
        batch_shape=[None, 8, 8, dim]))
    with pytest.raises(ConversionError, match=r"input .*: input shape .* is not a list of at most 8 positive"):
        pyconvinfer.convert(src, tmp_path / "out.pci")
    assert not (tmp_path / "out.pci").exists()


def test_transpose_stride_of_2_to_63_packs_at_once() -> None:
    """A hang (the converter's packing looped over all 2^63 stride phases). Phases past
    the kernel have no taps, so any stride >= the kernel packs as the kernel size does."""
    import threading

    from pyconvinfer.packing import pack_conv2d_transpose

    k = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(pack_conv2d_transpose(k, (2 ** 63, 2 ** 21))),
                              daemon=True)  # a hang fails the test instead of blocking the run
    worker.start()
    worker.join(timeout=30)
    assert result, "packing a 2^63 stride did not finish in 30 s"
    assert np.array_equal(result[0], pack_conv2d_transpose(k, (2, 3)))
