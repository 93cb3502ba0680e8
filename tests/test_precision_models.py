"""Stored weight precision end to end: trained models keep their accuracy, the stored
vectors verify, and a model computes exactly what float32 kernels compute on its
widened weights, on every ISA path and thread count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import child_env

import pyconvinfer
from pyconvinfer import kernels
from pyconvinfer import quantize as Q
from pyconvinfer.errors import ConversionError
from pyconvinfer.format import read_model, write_model
from pyconvinfer.ops import REGISTRY
from pyconvinfer.verify import THRESHOLDS

DATA = Path(pyconvinfer.__file__).parent / "data"
FIX = Path(__file__).parent / "fixtures" / "precision"
# the bundled LeNet-5 and a deeper CNN (BN, depthwise, 1x1, Winograd-sized 3x3, dense:
# tools/train_digits_cnn.py), both trained on scikit-learn's digits; same held-out set
MODELS = {"lenet5": (DATA / "lenet5_digits.h5", DATA / "digits_test_keras_probs.npy"),
          "digits_cnn": (FIX / "digits_cnn.keras", FIX / "digits_cnn_keras_probs.npy")}
X = np.load(DATA / "digits_test_x.npy")
Y = np.load(DATA / "digits_test_y.npy")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[tuple[str, str], Path]:
    out = {}
    tmp = tmp_path_factory.mktemp("precision")
    for name, (src, _) in MODELS.items():
        for dtype in Q.WEIGHT_DTYPES:
            out[name, dtype] = Path(pyconvinfer.convert(src, tmp / f"{name}-{dtype}.pci", weights=dtype))
    return out


def _accuracy(probs: np.ndarray) -> float:
    return float(np.mean(probs.argmax(axis=1) == Y))


@pytest.mark.parametrize("name", MODELS)
def test_accuracy_at_every_precision(files, name: str) -> None:
    keras_probs = np.load(MODELS[name][1])
    probs = {d: pyconvinfer.load(files[name, d]).predict(X) for d in Q.WEIGHT_DTYPES}
    assert np.abs(probs["float32"] - keras_probs).max() <= 1e-4
    base = _accuracy(probs["float32"])
    assert base == _accuracy(keras_probs) and base >= 0.97
    for d in ("float16", "bfloat16"):  # no argmax changes on the held-out digits
        np.testing.assert_array_equal(probs[d].argmax(axis=1), probs["float32"].argmax(axis=1))
    assert _accuracy(probs["int8"]) >= base - 0.005
    for d in ("float16", "bfloat16", "int8"):  # each is really stored in its precision
        assert not np.array_equal(probs[d], probs["float32"]), d


@pytest.mark.parametrize("dtype", Q.WEIGHT_DTYPES)
@pytest.mark.parametrize("name", MODELS)
def test_stored_vectors_verify(files, name: str, dtype: str) -> None:
    model = pyconvinfer.load(files[name, dtype])
    spec = model.file.header["verify"]
    assert spec["weights_dtype"] == dtype and spec["threshold"] == THRESHOLDS[dtype]
    result = model.verify()
    assert result.passed, result.lines()
    kernels_stored = {model.file.dtypes[n.weights["kernel"]] for n in model.graph.nodes if "kernel" in n.weights}
    assert kernels_stored == {dtype}
    other = {model.file.dtypes[w] for n in model.graph.nodes for r, w in n.weights.items() if r != "kernel"}
    assert other <= {"float32"}


def _float32_twin(src: Path, dst: Path) -> Path:
    """The same graph with every stored kernel replaced by dequantize(stored) in float32."""
    mf = read_model(src)
    header = {k: v for k, v in mf.header.items() if k != "tensors"}
    tensors = {n: np.array(a) for n, a in mf.tensors.items()}
    drop = set()
    for node in header["nodes"]:
        kname = node["weights"].get("kernel")
        if kname is None or mf.dtypes[kname] == "float32":
            continue
        segs = REGISTRY[node["op"]].channels(node["attrs"], tensors[kname].size)
        scale_name = node["weights"].pop("kernel_scale", None)
        scale = tensors[scale_name] if scale_name else None
        tensors[kname] = Q.dequantize(mf.tensors[kname], mf.dtypes[kname], scale, segs)
        drop.add(scale_name)
    for n in drop - {None}:
        del tensors[n]
    write_model(dst, header, tensors)
    return dst


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("isa", kernels.available_isas())
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int8"])
def test_computes_what_float32_computes_on_the_widened_weights(files, tmp_path, dtype, isa, threads) -> None:
    x = np.concatenate([X[:3], np.random.default_rng(0).standard_normal((2, 32, 32, 1)).astype(np.float32)])
    for name in MODELS:
        twin = _float32_twin(files[name, dtype], tmp_path / f"{name}-twin.pci")
        got = pyconvinfer.load(files[name, dtype], isa=isa, num_threads=threads, int8_compute=False).predict(x)
        want = pyconvinfer.load(twin, isa=isa, num_threads=threads).predict(x)
        np.testing.assert_array_equal(got, want, err_msg=f"{name} {dtype} {isa} {threads} threads")


def test_files_shrink(files) -> None:
    def weight_bytes(path: Path) -> int:
        mf = read_model(path)
        return sum(a.nbytes for n, a in mf.tensors.items() if not n.startswith("__verify__/"))

    base = weight_bytes(files["digits_cnn", "float32"])
    assert weight_bytes(files["digits_cnn", "float16"]) <= 0.52 * base
    assert weight_bytes(files["digits_cnn", "bfloat16"]) <= 0.52 * base
    assert weight_bytes(files["digits_cnn", "int8"]) <= 0.30 * base


def test_unknown_precision_is_refused(tmp_path) -> None:
    with pytest.raises(ConversionError, match="float16"):
        pyconvinfer.convert(MODELS["lenet5"][0], tmp_path / "x.pci", weights="int4")
    assert not list(tmp_path.iterdir())


def test_cli_convert_info_verify(tmp_path) -> None:
    out = tmp_path / "m.pci"
    run = [sys.executable, "-m", "pyconvinfer.cli"]
    p = subprocess.run(run + ["convert", str(MODELS["digits_cnn"][0]), "-o", str(out), "--weights", "int8"],
                       capture_output=True, text=True, env=child_env(), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "max error of the int8 weights against the float32 model" in p.stdout
    info = subprocess.run(run + ["info", str(out)], capture_output=True, text=True, env=child_env(), cwd=tmp_path)
    assert info.returncode == 0 and "int8" in info.stdout
    v = subprocess.run(run + ["verify", str(out)], capture_output=True, text=True, env=child_env(), cwd=tmp_path)
    assert v.returncode == 0 and "PASS" in v.stdout, v.stdout + v.stderr
    bad = subprocess.run(run + ["convert", str(MODELS["lenet5"][0]), "-o", str(tmp_path / "b.pci"), "--weights",
                                "int4"], capture_output=True, text=True, env=child_env(), cwd=tmp_path)
    assert bad.returncode == 2 and "int4" in bad.stderr


def test_winograd_weights_policy(files) -> None:
    """float32 files keep U in the file (fastest); reduced precisions keep F(2x2) layers' 3x3 kernels
    (float16 U at run time), and F(4x4) ones' too (float32 U) except float16 files (float16 U in the file)."""
    def policy(dtype: str) -> dict:
        m = pyconvinfer.load(files["digits_cnn", dtype])
        return {n.name: (n.attrs.get("algorithm"), n.attrs.get("winograd_weights", "file"))
                for n in m.graph.nodes if n.op == "conv2d" and n.attrs.get("algorithm", "direct") != "direct"}

    assert policy("float32") and all(w == "file" for _, w in policy("float32").values())
    for d in ("float16", "bfloat16", "int8"):
        assert {k: a for k, (a, _) in policy(d).items()} == {k: a for k, (a, _) in policy("float32").items()}
        f4 = "file" if d == "float16" else "runtime_float32"
        assert all(w == ("runtime_float16" if a == "winograd2" else f4) for a, w in policy(d).values())
